"""`harness train-base`: a tokenizer and a small Llama from scratch on a suite generated here."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainers import data
from trainers import sft
from trainers.scratch import augment, presets, schedule, tokenizer
from trainers.scratch import train as scratch
from trainers.sft import prefix

from harness.suite import load_suite

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
WORDS = ["app", "src", "lib", "web", "core", "util", "main", "auth", "api", "db", "log", "cli"]
EXTS = ["py", "js", "rs", "go", "md"]


def make_suite(d: Path, n_train: int = 40, n_test: int = 8, seed: int = 0) -> Path:
    """A small roo-xml suite: read_file and list_files with short generated paths."""
    rng = random.Random(seed)
    lines = [json.dumps({"suite": {"name": "gen-mini", "protocol": "roo-xml", "mode": "code"}})]
    seen = set()
    i = 0
    while len(seen) < n_train + n_test:
        tool = "read" if i % 2 == 0 else "list"
        path = f"{rng.choice(WORDS)}/{rng.choice(WORDS)}" + (f".{rng.choice(EXTS)}" if tool == "read" else "")
        if path in seen:
            continue
        seen.add(path)
        split = "test" if len(seen) > n_train else "train"
        esc = path.replace(".", "\\.")
        if tool == "read":
            ref = f"<read_file>\n<args>\n<file>\n<path>{path}</path>\n</file>\n</args>\n</read_file>"
            expect = {"calls": [{"name": "read_file", "arguments": {
                "args": {"type": "string", "pattern": f"<path>\\s*{esc}\\s*</path>"}}}]}
            task = f"Show me {path}."
        else:
            ref = f"<list_files>\n<path>{path}</path>\n</list_files>"
            expect = {"calls": [{"name": "list_files", "arguments": {"path": {"const": path}}}]}
            task = f"List the files in {path}."
        lines.append(json.dumps({"id": f"c{i}", "split": split, "messages": [{"role": "user", "content": task}],
                                 "expect": expect, "reference": {"role": "assistant", "content": ref}}))
        i += 1
    f = d / "gen-mini.jsonl"
    f.write_text("\n".join(lines) + "\n")
    return f


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    return make_suite(tmp_path_factory.mktemp("suite"))


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=kw.pop("timeout", 240), env=SUBPROCESS_ENV, **kw)


def test_cli_writes_a_loadable_model_dir(suite_file, tmp_path):
    out = tmp_path / "base"
    p = _cli("train-base", "--suite", str(suite_file), "--preset", "test", "--out", str(out), "--max-steps", "6",
             "--seed", "1", "--quiet", "--eval")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "trained test" in p.stdout and "held-out pass rate" in p.stdout
    for f in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "training.json",
              "trainer_log.jsonl", "eval.json"):
        assert (out / f).is_file(), f
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert sft.has_generation_markers(tok.chat_template)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|pad|>"
    assert model.config.vocab_size == len(tok) and model.generation_config.eos_token_id == tok.eos_token_id
    text = tok.apply_chat_template([{"role": "user", "content": "Show me app/x.py."}], tokenize=False,
                                   add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    assert tok.decode(tok("<path>app/x.py</path>")["input_ids"]) == "<path>app/x.py</path>"
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == 6 and info["seed"] == 1 and info["suite"]["name"] == "gen-mini"
    assert info["hyperparameters"]["prompt_free_steps"] == 3 and info["system_prompt"] == {"style": "compact"}
    assert info["train_cases"] == 40 and info["interrupted"] is False
    log = sft.read_trainer_log(out)
    assert log and log[-1]["step"] == 6 and set(sft.LOG_FIELDS) <= set(log[-1])
    rep = json.loads((out / "eval.json").read_text())
    assert rep["n"] == 8 and 0.0 <= rep["pass_rate"] <= 1.0


def _setup(suite_file, system=True):
    examples = data.examples_from_cases(load_suite(str(suite_file)).cases, None, "compact")
    if not system:
        examples = [scratch.without_system(e) for e in examples]
    tok = tokenizer.train_tokenizer(tokenizer.corpus_texts(examples), 400)
    enc = sft.encode_examples(tok, examples)
    model = presets.init_model(tok, "test", seed=0)
    return tok, model, examples, enc


def test_prefix_kv_reuse_gives_the_plain_loss_and_gradients(suite_file):
    import torch
    tok, model, examples, enc = _setup(suite_file)
    torch.manual_seed(0)
    with torch.no_grad():                      # move off the symmetric init so the check is not trivial
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    aug = augment.CopyAugmenter(tok, examples, enc)
    rng = random.Random(0)
    batch = [enc[i] if i % 2 else aug.sample(i, rng) for i in range(12)]   # mixed lengths, fresh values
    assert len({len(b[0]) for b in batch}) > 1
    p = prefix.shared_prefix_length(batch)
    assert p > 50                               # the system prompt is shared
    plain, n1 = prefix.plain_loss(model, batch, tok.pad_token_id)
    plain.backward()
    g1 = {k: v.grad.clone() for k, v in model.named_parameters()}
    model.zero_grad()
    shared, n2 = prefix.prefix_shared_loss(model, batch, tok.pad_token_id)
    shared.backward()
    g2 = {k: v.grad.clone() for k, v in model.named_parameters()}
    assert n1 == n2 > 0
    assert abs(plain.item() - shared.item()) < 1e-5
    for k in g1:
        assert torch.allclose(g1[k], g2[k], atol=1e-5, rtol=1e-4), k


def test_copy_augmentation_keeps_the_loss_span(suite_file):
    tok, model, examples, enc = _setup(suite_file)
    aug = augment.CopyAugmenter(tok, examples, enc)
    assert aug.n_augmentable == len(examples)
    rng = random.Random(3)
    ids, labels = aug.sample(0, rng)
    target = tok.decode([t for t, lab in zip(ids, labels) if lab != sft.IGNORE_INDEX])
    convo = tok.decode(ids)
    assert target.endswith("<|im_end|>") and target.startswith("<")
    old = examples[0]["messages"][-1]["content"]
    assert target[:-len("<|im_end|>")] != old                     # new values ...
    path = target.split("<path>")[1].split("</path>")[0]
    assert path in convo.split("<|im_start|>assistant")[0]        # ... copied from the new conversation
    assert convo.startswith(tok.decode(enc[0][0][:prefix.shared_prefix_length([enc[0], enc[1]])]))
    # without the system prompt too ("List the files in x" must not rename the list_files tag)
    import protocols
    proto = protocols.get("roo-xml")
    bare = [scratch.without_system(e) for e in examples]
    aug2 = augment.CopyAugmenter(tok, bare, sft.encode_examples(tok, bare))
    for i, ex in enumerate(bare):
        ids, labels = aug2.sample(i, rng)
        text = tok.decode([t for t, lab in zip(ids, labels) if lab != sft.IGNORE_INDEX])[:-len("<|im_end|>")]
        turn = proto.parse(text, mode="code")
        assert not turn.violations and [c.name for c in turn.calls] == [ex["messages"][-1]["content"][1:].split(">")[0]]


def test_same_seed_same_weights(suite_file, tmp_path):
    from safetensors.torch import load_file

    def run(seed, name):
        scratch.train_base(scratch.TrainBaseConfig(suite=load_suite(str(suite_file)), out=str(tmp_path / name), preset="test",
                                                   max_steps=4, seed=seed, batch_size=8, progress=False))
        return load_file(str(tmp_path / name / "model.safetensors"))
    a, b, c = run(0, "a"), run(0, "b"), run(1, "c")
    assert all((a[k] == b[k]).all() for k in a)
    assert any(not (a[k] == c[k]).all() for k in a if k in c and a[k].shape == c[k].shape) or a.keys() != c.keys()


def test_batched_greedy_with_shared_prefix_matches_generate(suite_file, tmp_path):
    import torch
    from harness.eval import local as evaluate_local
    out = tmp_path / "m"
    scratch.train_base(scratch.TrainBaseConfig(suite=load_suite(str(suite_file)), out=str(out), preset="test", max_steps=30,
                                               batch_size=16, lr=5e-3, progress=False))
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    cases = load_suite(str(suite_file)).split("test")
    system = data.SystemPrompt.parse("compact")
    import protocols
    proto = protocols.get("roo-xml")
    rows = [tok.apply_chat_template(data.prompt_for(c, proto, system)[0], tokenize=True, add_generation_prompt=True,
                                    return_dict=True)["input_ids"] for c in cases]
    assert len({len(r) for r in rows}) > 1          # the middle padding is exercised
    got = evaluate_local.generate_greedy(model, rows, {tok.eos_token_id}, tok.pad_token_id, 12)
    for r, g in zip(rows, got):
        with torch.no_grad():
            ref = model.generate(torch.tensor([r]), max_new_tokens=12, do_sample=False,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)[0, len(r):].tolist()
        ref = ref[:ref.index(tok.eos_token_id)] if tok.eos_token_id in ref else ref
        assert g == ref
    rep = evaluate_local.evaluate_model(out, cases, "compact", max_new_tokens=40, batch_size=4)
    assert rep["n"] == len(cases) and set(rep["by_tool"]) <= {"read_file", "list_files"}


def test_ctrl_c_saves_the_model(suite_file, tmp_path):
    out = tmp_path / "int"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "train-base", "--suite", str(suite_file), "--preset",
                             "test", "--out", str(out), "--minutes", "10", "--quiet"], cwd=ROOT, env=SUBPROCESS_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if (out / sft.LOG_NAME).is_file() and (out / sft.LOG_NAME).read_text().strip():
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    info = json.loads((out / "training.json").read_text())
    assert info["interrupted"] is True and info["steps"] > 0
    assert info["hyperparameters"]["schedule"] == "clock" and info["reproduce"] is None
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    log = sft.read_trainer_log(out)
    assert log[-1]["step"] == info["steps"]                   # the steps since the last line are logged too


def test_no_train_split_is_a_user_error(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps({"id": "a", "protocol": "roo-xml", "mode": "code", "split": "test",
                             "messages": [{"role": "user", "content": "hi"}], "expect": {"calls": []}}) + "\n")
    p = _cli("train-base", "--suite", str(f), "--out", str(tmp_path / "o"), "--max-steps", "1")
    assert p.returncode == 2 and "no train-split case" in p.stderr and "Traceback" not in p.stderr


def test_thread_tuner_follows_the_faster_setting():
    import torch
    before = torch.get_num_threads()
    try:
        def run(cost, steps=400):
            t = schedule.ThreadTuner(2)
            used = []
            for _ in range(steps):
                used.append(t.current)
                t.step("prompt", cost[t.current])
            return t, used
        idle, used = run({1: 0.5, 2: 0.28})           # an idle CPU: two threads win and stay
        assert idle.current == 2 and used[-100:].count(2) >= 95
        busy, used = run({1: 0.55, 2: 4.5})           # a busy CPU: one thread, and tries of two get rare
        assert busy.current == 1
        tries = [i for i in range(1, len(used)) if used[i] == 2 and used[i - 1] == 1]
        assert len(tries) <= 8 and used.count(2) <= 8
        assert sum({1: 0.55, 2: 4.5}[u] for u in used) < 1.2 * 400 * 0.55   # under 20% lost to the tries
    finally:
        torch.set_num_threads(before)


def test_collapse_guard_keeps_the_thread_count_unless_steps_collapse():
    import torch
    before = torch.get_num_threads()
    try:
        g = schedule.CollapseGuard(2)
        for i in range(200):                      # ordinary noise: no switch, the run stays reproducible
            g.step("prompt", 0.3 * (1.5 if i % 7 == 0 else 1.0))
        assert g.current == 2 and g.history == []
        for _ in range(10):                       # the cores get busy: 10x slower steps
            g.step("prompt", 3.0)
        assert g.current == 1 and torch.get_num_threads() == 1 and "reproducibility" in g.history[0]["why"]
    finally:
        torch.set_num_threads(before)
