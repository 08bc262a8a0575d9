"""`harness train --backend peft`: TRL SFTTrainer + PEFT on a tiny model built here, on CPU."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainers import data
from trainers import sft
from trainers import vllm_rules
from trainers.errors import TrainingError
from trainers.backends import peft as peft_backend
from trainers.config import TrainConfig
from trainers.sft import trainer as sft_trainer

from harness.loop.data import examples_from_run, export_run

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
N_TRAIN = 24


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A run directory over roo-starter's first cases (two thirds failed) and a tiny model whose
    tokenizer was trained on those conversations."""
    from harness.log.rundir import RunDir, make_manifest
    from harness.suite import load_suite
    from trainers import scratch
    tmp = tmp_path_factory.mktemp("peft")
    s = load_suite("roo-starter")
    train = s.split("train")[:N_TRAIN]
    test = s.split("test")[:4]
    texts = scratch.corpus_texts(data.examples_from_cases(train, None, "compact"))
    scratch.build_tiny_model(tmp / "model", texts, preset="test", seed=0)
    scratch.build_tiny_model(tmp / "model-tiny", texts, preset="tiny", seed=0)
    rd = RunDir(tmp / "run")
    rd.write_manifest(make_manifest(suite=s, model="m", system_prompt={"style": "compact"}))
    rows = [{"id": c.id, "sample": 0, "status": "ok", "passed": i % 3 == 0, "violations": [], "calls": [],
             "response": {"role": "assistant", "content": "x"}} for i, c in enumerate(train + test)]
    rd.extend(rows)
    rd.close()
    return tmp


def _train(cfg):
    """The peft backend with the harness's run reader (trainers read no run directory themselves)."""
    return peft_backend.train(cfg, export_run)


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=kw.pop("timeout", 240), env=SUBPROCESS_ENV, **kw)


def test_lora_few_steps_outputs_and_log(setup, tmp_path):
    out = tmp_path / "a1"
    res = _train(TrainConfig(
        base_model=str(setup / "model"), out=str(out), run=str(setup / "run"), max_steps=3, batch_size=4,
        lr=1e-3, progress=False))
    assert res.steps == 3 and res.adapter_problems == []
    for f in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "training.json",
              "trainer_log.jsonl"):
        assert (out / f).is_file(), f
    acfg = json.loads((out / "adapter_config.json").read_text())
    assert acfg["r"] == 16 and acfg["r"] in vllm_rules.VLLM_LORA_RANKS
    assert not acfg.get("modules_to_save") and not acfg.get("use_dora") and acfg["bias"] == "none"
    assert acfg["task_type"] == "CAUSAL_LM"
    from transformers import AutoTokenizer
    assert AutoTokenizer.from_pretrained(str(out)).chat_template == \
        AutoTokenizer.from_pretrained(str(setup / "model")).chat_template        # the base's template, as is
    info = json.loads((out / "training.json").read_text())
    assert info["base_model"] == str((setup / "model").resolve())
    assert len(info["data_sha256"]) == 64 and info["seed"] == 0 and info["resumed_from"] is None
    assert info["hyperparameters"]["r"] == 16 and info["hyperparameters"]["max_steps"] == 3
    assert info["versions"]["trl"] and info["versions"]["peft"] and info["vllm_compatible"] is True
    assert info["data"]["examples"] == res.examples > 0 and info["target_tokens"] > 0
    log = sft.read_trainer_log(out)
    assert [r["step"] for r in log] == [1, 2, 3]
    for r in log:
        assert set(sft.LOG_FIELDS) <= set(r)
        assert r["loss"] > 0 and r["lr"] >= 0 and r["epoch"] > 0 and r["elapsed_s"] >= 0
    assert max(r["lr"] for r in log) > 0 and log[-1]["elapsed_s"] >= log[0]["elapsed_s"]
    assert log[-1]["tokens_per_s"] > 0
    assert vllm_rules.check_adapter(out, max_lora_rank=256) == []

    # --init-adapter: continue that adapter (its rank and targets), weights move on
    out2 = tmp_path / "a2"
    res2 = _train(TrainConfig(
        base_model=str(setup / "model"), out=str(out2), run=str(setup / "run"), max_steps=2, batch_size=4,
        lr=1e-2, init_adapter=str(out), progress=False))
    info2 = json.loads((out2 / "training.json").read_text())
    assert info2["hyperparameters"]["init_adapter"] == str(out.resolve())
    from safetensors.torch import load_file
    w1, w2 = load_file(str(out / "adapter_model.safetensors")), load_file(str(out2 / "adapter_model.safetensors"))
    assert set(w1) == set(w2) and any(not (w1[k] == w2[k]).all() for k in w1)
    assert res2.adapter_problems == []
    with pytest.raises(TrainingError, match="differs from the adapter"):
        _train(TrainConfig(base_model=str(setup / "model"), out=str(tmp_path / "a3"),
                                                    run=str(setup / "run"), max_steps=1, init_adapter=str(out),
                                                    lora_r=8, progress=False))


def test_mask_check_fails_loudly(setup, tmp_path):
    import shutil
    bad = tmp_path / "nomarkers"
    shutil.copytree(setup / "model", bad)
    tpl = (bad / "chat_template.jinja").read_text()
    (bad / "chat_template.jinja").write_text(tpl.replace("{% generation %}", "").replace("{% endgeneration %}", ""))
    p = _cli("train", "--from-run", str(setup / "run"), "--base-model", str(bad), "--out", str(tmp_path / "o"),
             "--max-steps", "1")
    assert p.returncode == 2, p.stderr
    assert "generation" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o" / "adapter_model.safetensors").exists()

    # markers present, but a target outside them: an empty mask is refused, not trained on
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(setup / "model"))
    tok.chat_template = tok.chat_template.replace(
        "{% if m.role == 'assistant' %}", "{% if m.role == 'assistant' and not loop.last %}")
    ex = data.examples_from_cases(__import__("harness.suite", fromlist=["x"]).load_suite("roo-starter")
                                  .split("train")[:2], None, "compact")
    with pytest.raises(TrainingError, match="empty loss mask"):
        sft.encode_examples(tok, ex)
    # the real template: loss exactly on the reference and its end-of-turn token
    tok = AutoTokenizer.from_pretrained(str(setup / "model"))
    ids, labels = sft.target_tokens(tok, ex[0])
    target = tok.decode([t for t, lab in zip(ids, labels) if lab != sft.IGNORE_INDEX])
    assert target == ex[0]["messages"][-1]["content"] + "<|im_end|>"


def test_full_fine_tuning_writes_a_model(setup, tmp_path):
    out = tmp_path / "full"
    sft = tmp_path / "sft.jsonl"
    data.write_jsonl(examples_from_run(setup / "run"), sft)
    res = _train(TrainConfig(base_model=str(setup / "model"), out=str(out), data=str(sft),
                                                      method="full", max_steps=2, batch_size=4, progress=False))
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert not (out / "adapter_config.json").exists()
    info = json.loads((out / "training.json").read_text())
    assert info["kind"] == "full-model" and info["data"]["data"] == str(sft.resolve()) and res.steps == 2
    from transformers import AutoModelForCausalLM
    AutoModelForCausalLM.from_pretrained(str(out))


def test_kill_during_training_then_resume(setup, tmp_path):
    """--max-steps 8 --save-steps 2; kill -9 once the first checkpoint is complete; --resume finishes with
    the same data order, says so, and trainer_log.jsonl reaches step 8 without a duplicate step."""
    out = tmp_path / "r"
    args = ["train", "--from-run", str(setup / "run"), "--base-model", str(setup / "model-tiny"), "--backend", "peft",
            "--out", str(out), "--max-steps", "8", "--save-steps", "2", "--batch-size", "8", "--threads", "1", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=SUBPROCESS_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    try:
        while time.time() < deadline:
            if (out / "checkpoint-2" / "trainer_state.json").is_file() or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "adapter_model.safetensors").exists()          # killed before the end
    assert sft.checkpoints(out)
    killed_at = max(n for n, _ in sft.checkpoints(out))
    assert killed_at < 8

    p = _cli(*args, "--resume")
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"resumed from checkpoint-{killed_at}" in p.stdout
    steps = [r["step"] for r in sft.read_trainer_log(out)]
    assert steps == list(range(1, 9))                                  # continued, no duplicate
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == 8 and info["resumed_from"] == f"checkpoint-{killed_at}"
    assert len(sft.checkpoints(out)) <= 3                    # the last 3 are kept
    chk = _cli("adapters", "check", str(out)) if _has_adapters_cli() else None
    if chk is not None:
        assert chk.returncode == 0, chk.stdout + chk.stderr
    assert vllm_rules.check_adapter(out, max_lora_rank=256) == []

    # a resume with other settings is refused, naming what differs
    p = _cli(*[a if a != "8" else "9" for a in args], "--resume")
    assert p.returncode == 2 and "max_steps" in p.stderr


def test_resume_reproduces_the_uninterrupted_run(setup, tmp_path):
    """Resuming from a checkpoint gives the weights of a run that was never interrupted (same data order,
    optimizer and scheduler state)."""
    base = dict(base_model=str(setup / "model"), run=str(setup / "run"), max_steps=4, batch_size=4, lr=1e-2,
                save_steps=2, progress=False)
    whole = _train(TrainConfig(out=str(tmp_path / "whole"), **base))
    part = tmp_path / "part"
    _train(TrainConfig(out=str(part), **base))
    import shutil
    shutil.rmtree(part / "checkpoint-4")          # as if killed after checkpoint-2
    (part / "adapter_model.safetensors").unlink()
    again = _train(TrainConfig(out=str(part), resume=True, **base))
    assert again.resumed_from == "checkpoint-2" and whole.steps == again.steps == 4
    from safetensors.torch import load_file
    a = load_file(str(tmp_path / "whole" / "adapter_model.safetensors"))
    b = load_file(str(part / "adapter_model.safetensors"))
    for k in a:
        assert (a[k] - b[k]).abs().max().item() < 1e-5, k
    la, lb = sft.read_trainer_log(tmp_path / "whole"), sft.read_trainer_log(part)
    assert [r["step"] for r in lb] == [1, 2, 3, 4]
    assert [r["loss"] for r in la] == pytest.approx([r["loss"] for r in lb], abs=1e-4)


def _has_adapters_cli() -> bool:
    try:
        import harness.cli.adapters  # noqa: F401
        return True
    except ImportError:
        return False


def test_bad_options_are_user_errors(setup, tmp_path):
    p = _cli("train", "--from-run", str(setup / "run"), "--base-model", str(tmp_path / "none"), "--out",
             str(tmp_path / "o"), "--max-steps", "1")
    assert p.returncode == 2 and "not a model directory" in p.stderr
    p = _cli("train", "--from-run", str(setup / "run"), "--base-model", str(setup / "model"), "--out",
             str(tmp_path / "o"), "--lora-r", "12")
    assert p.returncode == 2 and "vLLM" in p.stderr
    p = _cli("train", "--from-run", str(setup / "run"), "--base-model", str(setup / "model"), "--out",
             str(tmp_path / "o2"), "--resume")
    assert p.returncode == 2 and "no checkpoint" in p.stderr


def test_prefix_sharing_loss_equals_trl_loss(setup):
    """The prefix-sharing SFTTrainer computes TRL's loss (and gradients) on the same collated batch."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer
    cfg = TrainConfig(base_model=str(setup / "model"), out=str(setup / "eq"), run=str(setup / "run"),
                                   max_steps=1, batch_size=6, progress=False, overwrite=True).resolved()
    tok = AutoTokenizer.from_pretrained(cfg.base_model)
    examples, _ = sft_trainer.load_examples(cfg, tok, export_run)
    model = AutoModelForCausalLM.from_pretrained(cfg.base_model)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model, _ = peft_backend.build_peft_model(model, cfg)
    with torch.no_grad():                         # a non-zero LoRA B, so the adapter takes part
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    cls = sft_trainer.make_trainer_class(True)
    trainer = cls(model=model, args=sft_trainer.sft_config(cfg, len(examples)),
                  train_dataset=sft_trainer.to_dataset(examples), processing_class=tok)
    batch = next(iter(trainer.get_train_dataloader()))
    model.train()
    before = cls.prefix_steps
    a = trainer.compute_loss(model, dict(batch))
    assert cls.prefix_steps == before + 1           # the shortcut was taken
    a.backward()
    ga = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    b = SFTTrainer.compute_loss(trainer, model, dict(batch))
    b.backward()
    gb = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert abs(a.item() - b.item()) < 1e-5
    assert set(ga) == set(gb) and ga
    for n in ga:
        assert torch.allclose(ga[n], gb[n], atol=1e-5, rtol=1e-3), n


def test_grpo_reward_is_the_protocol_verdict_with_partial_credit():
    import protocols
    from harness.suite import load_suite
    from harness.loop.reward import partial_reward
    case = [c for c in load_suite("roo-starter").split("train") if c.expect.calls[0].name == "list_files"][0]
    proto = protocols.get("roo-xml")
    path = case.reference["content"].split("<path>")[1].split("</path>")[0]
    assert partial_reward(case, proto, case.reference) == 1.0
    wrong_args = {"role": "assistant", "content": "<list_files>\n<path>zzz/none</path>\n</list_files>"}
    wrong_tool = {"role": "assistant", "content": f"<read_file>\n<args>\n<file>\n<path>{path}</path>\n</file>\n</args>\n</read_file>"}
    chat = {"role": "assistant", "content": "Sure, here are the files."}
    r_args, r_tool, r_chat = (partial_reward(case, proto, m) for m in (wrong_args, wrong_tool, chat))
    assert 1.0 > r_args > r_tool > r_chat == 0.0
    assert r_tool == pytest.approx(0.2)


def test_grpo_backend_runs_and_writes_an_adapter(setup, tmp_path):
    from trainers.backends import grpo as grpo_backend

    from harness.loop.reward import RunVerdictReward
    out = tmp_path / "g"
    res = grpo_backend.train(TrainConfig(base_model=str(setup / "model"), out=str(out),
                                                      run=str(setup / "run"), max_steps=2, batch_size=2,
                                                      lr=1e-3, progress=False),
                             export_run, RunVerdictReward(setup / "run"), num_generations=2, max_new_tokens=12)
    assert res.steps == 2 and res.adapter_problems == []
    info = json.loads((out / "training.json").read_text())
    assert info["backend"] == "grpo" and info["hyperparameters"]["num_generations"] == 2
    assert info["reward_first"] is not None and 0.0 <= info["reward_first"] <= 1.0
    assert [r["step"] for r in sft.read_trainer_log(out)] == [1, 2]
    assert (out / "adapter_model.safetensors").is_file()
    with pytest.raises(TrainingError, match="needs --from-run"):
        grpo_backend.train(TrainConfig(base_model=str(setup / "model"), out=str(tmp_path / "g2"),
                                                    data=str(tmp_path / "x.jsonl"), max_steps=1))


def test_a_checkpoint_cut_by_kill_9_is_not_resumed_from(tmp_path):
    """kill -9 while the Trainer writes trainer_state.json (it writes it last) leaves it empty or cut:
    that checkpoint is not complete, and --resume continues from the one before."""
    for n, state in ((2, '{"global_step": 2}'), (4, ""), (6, '{"global_step": 6')):
        (tmp_path / f"checkpoint-{n}").mkdir()
        (tmp_path / f"checkpoint-{n}" / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-8").mkdir()                      # no state at all yet
    assert [n for n, _ in sft.checkpoints(tmp_path)] == [2]
