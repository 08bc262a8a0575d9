"""Training throughput: the peft backend (TRL + PEFT) against a plain PyTorch loop on the same model,
the same LoRA and the same batches — the overhead of the stack — and, on an NVIDIA GPU with unsloth
installed, the unsloth backend against the peft backend.

    python bench/train.py [--preset tiny] [--steps 10] [--batch-size 8] [--threads 1[,2]] [--repeat 3]
                          [--no-full] [--explain] [--max-length N] [--json]

Builds, in a temporary directory, a model of a `trainers.scratch.presets` preset (random weights, a tokenizer
trained on the data) and SFT data from roo-starter's train split (compact system prompt, loss on the
reference only), then times, for each --threads value, interleaved --repeat times, best of each:

  peft          trainers.backends.peft.train (SFTTrainer + LoRA r=16 on the projections), default
                `share_prefix` (the batch's shared prompt prefix computed once)
  peft-noshare  the same with share_prefix=False (TRL's own loss)
  plain         the floor: the same LoRA (peft_backend.build_peft_model, same seed, so the same initial
                weights), the very batches the SFTTrainer draws (its own dataloader: same order, same
                right padding), AdamW, forward / cross-entropy / backward / step, nothing else
  plain-share   the plain loop with the shared-prefix loss (trainers.sft.prefix.prefix_shared_loss), so
                that `peft` has a like-for-like floor too
  full          the plain loop, full fine-tuning (every weight trainable; reference, --no-full skips it)
  --explain     plain+mask: the plain loop given the attention mask the trainer passes; plain+trl-head:
                that, with the fused LM head TRL 1.x's SFTTrainer installs (log-probs, entropy and top-1
                in tiles); plain+trl-head+amp: that, under the autocast the Trainer's arguments ask for
                (TRL's SFTConfig defaults to bf16); between the last and peft-noshare lies the rest of the
                Trainer (clipping, schedule, logging, metrics)

Rates are tokens (non-padding, and loss-bearing) per second of the training loop: trainer.train() for
the backend (its CPU time is read by a probe around train(); training.json has wall time only), the
loop for the plain variants. The clock is the CPU time of this process at one thread on a CPU, so a
busy machine does not skew the ratios, and wall time otherwise; wall time of the loop, of steps 2..N
(without the first step's one-off costs) and of the backend's whole train() call (loading, saving)
are printed too. Checks that make the ratios mean something: the batches' padded token count equals
the backend's `tokens_seen`, and every variant's first-step loss equals the plain loop's (same model,
LoRA init and batch); the script exits 1 when one fails.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IGNORE = -100
PEFT_VARIANTS = ("peft", "peft-noshare")


@dataclass
class Setup:
    """What every variant shares: the model folder, the SFT file and the batches the trainer draws."""
    tmp: Path
    model_dir: Path
    data_file: Path
    n_examples: int
    params: int
    vocab: int
    pad_id: int
    batches: list[dict[str, Any]] = field(default_factory=list)
    padded: int = 0
    real: int = 0
    target: int = 0
    real_after_first: int = 0           # non-padding tokens of batches 2..N (the steady-state rate)
    amp: str | None = None              # the trainer's mixed precision (bf16 / fp16 autocast), None: off


@dataclass
class Timing:
    loop_s: float                       # the whole training loop, wall time
    cpu_s: float                        # the same, CPU time of this process
    steady_s: float                     # steps 2..N, wall (without the first step's one-off costs)
    first_loss: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def cost(self, by_cpu: bool) -> float:
        return self.cpu_s if by_cpu else self.loop_s


@contextlib.contextmanager
def trainer_clock(record: dict[str, float]) -> Iterator[None]:
    """While active, the trainer class the peft backend makes also records the CPU time of its train()
    (training.json has wall time only). A probe around train(), nothing inside the loop changes."""
    from trainers.sft import trainer as sft_trainer
    make = sft_trainer.make_trainer_class

    def timed(share_prefix: bool) -> Any:
        cls = make(share_prefix)

        class Clocked(cls):  # type: ignore[misc, valid-type]
            def train(self, *a: Any, **kw: Any) -> Any:
                c0 = time.process_time()
                try:
                    return super().train(*a, **kw)
                finally:
                    record["cpu_s"] = time.process_time() - c0
        return Clocked

    sft_trainer.make_trainer_class = timed
    try:
        yield
    finally:
        sft_trainer.make_trainer_class = make


def train_config(model_dir: Path, data_file: Path, args: argparse.Namespace, out: Path, threads: int | None,
                 share: bool) -> Any:
    from trainers.config import TrainConfig
    return TrainConfig(base_model=str(model_dir), out=str(out), data=str(data_file),
                       lora_r=16, max_steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                       seed=args.seed, threads=threads, share_prefix=share, progress=False, overwrite=True)


def build(tmp: Path, args: argparse.Namespace) -> Setup:
    """Model + tokenizer + SFT file, then the batches: taken from an SFTTrainer built exactly as the
    backend builds it, so the plain loop trains on what the backend trains on."""
    from harness.suite import load_suite
    from trainers import data, scratch
    from trainers.backends import peft as peft_backend
    from trainers.sft import trainer as sft_trainer
    from trainers.sft.runtime import dtype_for_device, seed_everything

    examples = data.examples_from_cases(load_suite("roo-starter").split("train"), None, "compact")
    model_dir = scratch.build_tiny_model(tmp / "model", scratch.corpus_texts(examples), preset=args.preset, seed=0)
    need = args.steps * args.batch_size
    if need > len(examples):
        raise SystemExit(f"--steps x --batch-size = {need} > {len(examples)} examples: keep the run within one epoch")
    # exactly one epoch's worth, a seeded draw over every tool: the backend's per-call fixed costs
    # (tokenizing the data set) stay proportionate to the steps timed
    examples = random.Random(args.seed).sample(examples, need)
    data_file = tmp / "sft.jsonl"
    data.write_jsonl(examples, data_file)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = train_config(model_dir, data_file, args, tmp / "probe", 1, False).resolved()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    exs, _ = sft_trainer.load_examples(cfg, tok)
    seed_everything(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype_for_device())
    params = sum(p.numel() for p in model.parameters())
    model, _ = peft_backend.build_peft_model(model, cfg)
    sft_args = sft_trainer.sft_config(cfg, len(exs))
    trainer = sft_trainer.make_trainer_class(False)(
        model=model, args=sft_args, train_dataset=sft_trainer.to_dataset(exs), processing_class=tok)
    s = Setup(tmp, model_dir, data_file, len(exs), params, len(tok), int(tok.pad_token_id))
    s.amp = "bf16" if sft_args.bf16 else "fp16" if sft_args.fp16 else None
    for i, b in enumerate(trainer.get_train_dataloader()):
        if i == args.steps:
            break
        b = {k: v.detach().cpu().clone() for k, v in b.items() if isinstance(v, torch.Tensor)}
        s.batches.append(b)
        s.padded += b["input_ids"].numel()
        s.real += int(b["attention_mask"].sum())
        s.target += int((b["labels"][:, 1:] != IGNORE).sum())
    s.real_after_first = s.real - int(s.batches[0]["attention_mask"].sum())
    del trainer, model
    shutil.rmtree(tmp / "probe", ignore_errors=True)
    return s


def run_peft(s: Setup, args: argparse.Namespace, threads: int, share: bool, run_no: int) -> Timing:
    from trainers.backends import peft as peft_backend
    from trainers.sft import read_trainer_log
    out = s.tmp / f"peft-{run_no}"
    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), trainer_clock(clock):    # the Trainer prints every log line
        res = peft_backend.train(train_config(s.model_dir, s.data_file, args, out, threads, share))
    wall = time.perf_counter() - t0
    info = res.info
    log = read_trainer_log(out)
    shutil.rmtree(out, ignore_errors=True)
    if [r["step"] for r in log] != list(range(1, args.steps + 1)):
        raise SystemExit(f"the backend's trainer_log has steps {[r['step'] for r in log]}, not 1..{args.steps}")
    return Timing(info["timing"]["train_s"], clock["cpu_s"], log[-1]["elapsed_s"] - log[0]["elapsed_s"], log[0]["loss"],
                  {"call_s": wall, "tokens_seen": info["tokens_seen"],
                   "prefix_shared_steps": info["hyperparameters"].get("prefix_shared_steps", 0)})


def _loss(model: Any, b: dict[str, Any], mask: bool = False) -> Any:
    """Token-mean cross-entropy over the labelled tokens. No attention mask by default: the batch is
    right-padded and attention causal, so no labelled position sees a pad."""
    import torch.nn.functional as F
    extra = {"attention_mask": b["attention_mask"]} if mask else {}
    logits = model(input_ids=b["input_ids"], use_cache=False, **extra).logits
    lab = b["labels"][:, 1:]
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(), lab.reshape(-1),
                           ignore_index=IGNORE, reduction="sum") / (lab != IGNORE).sum().clamp(min=1)


def run_plain(s: Setup, args: argparse.Namespace, threads: int, variant: str) -> Timing:
    import torch
    from transformers import AutoModelForCausalLM

    from trainers.backends import peft as peft_backend
    from trainers.sft.prefix import prefix_shared_loss
    from trainers.sft.runtime import dtype_for_device, seed_everything

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        cfg = train_config(s.model_dir, s.data_file, args, s.tmp / "unused", threads, False).resolved()
        if variant == "full":
            cfg.method, cfg.lr = "full", None
            cfg = cfg.resolved()
        seed_everything(cfg.seed)
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        model = AutoModelForCausalLM.from_pretrained(str(s.model_dir), dtype=dtype_for_device()).to(dev)
        if "trl-head" in variant:
            # what TRL 1.x's SFTTrainer puts on the model: log-probs, entropy and top-1 in tiles, no logits
            from trl.trainer.utils import add_fused_lm_head
            add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
        model, _ = peft_backend.build_peft_model(model, cfg)
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
        batches = [{k: v.to(dev) for k, v in b.items()} for b in s.batches]
        if variant == "plain-share":
            lists = [[(ids[:n].tolist(), lab[:n].tolist()) for ids, lab, n in
                      zip(b["input_ids"], b["labels"], b["attention_mask"].sum(1).tolist())] for b in batches]
            core = model.get_base_model() if hasattr(model, "get_base_model") else model
        # prefix_shared_loss makes its tensors on the default device; a device context intercepts every
        # torch call, so it is entered only where it is needed
        on_device = torch.device(dev) if dev != "cpu" else contextlib.nullcontext()
        amp = (torch.autocast(device_type=dev, dtype=torch.bfloat16 if s.amp == "bf16" else torch.float16)
               if variant.endswith("+amp") and s.amp else contextlib.nullcontext())
        first, t1 = None, 0.0
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for i, b in enumerate(batches):
            if variant == "plain-share":
                with on_device:
                    loss, _ = prefix_shared_loss(core, lists[i], s.pad_id)
            elif "trl-head" in variant:
                with amp:
                    loss = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"],
                                 use_cache=False, fused_lm_head=True).loss
            else:
                loss = _loss(model, b, mask=variant == "plain+mask")
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if first is None:
                first = loss.item()
                t1 = time.perf_counter()
        sync()
        end = time.perf_counter()
        return Timing(end - t0, time.process_time() - c0, end - t1, first)
    finally:
        torch.set_num_threads(before)


def unsloth_vs_peft(s: Setup, args: argparse.Namespace) -> dict[str, Any]:
    """On an NVIDIA GPU with unsloth importable: `harness train` with each backend, each in a fresh
    process (unsloth must be imported before trl/transformers), same model, data and settings."""
    import importlib.util

    import torch
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA GPU (torch.cuda.is_available() is False): unsloth needs an NVIDIA GPU"}
    if importlib.util.find_spec("unsloth") is None:
        return {"skipped": "unsloth is not installed in this environment (pip install \"unsloth[huggingface]\")"}
    best: dict[str, dict[str, Any]] = {}
    for rep in range(args.repeat):
        for name, extra in (("unsloth", ["--backend", "unsloth"]), ("peft-noshare", ["--no-share-prefix"]),
                            ("peft", [])):
            out = s.tmp / f"gpu-{name}-{rep}"
            cmd = [sys.executable, "-m", "harness.cli", "train", "--data", str(s.data_file), "--base-model",
                   str(s.model_dir), "--out", str(out), "--max-steps", str(args.steps), "--batch-size",
                   str(args.batch_size), "--lora-r", "16", "--seed", str(args.seed), "--quiet", "--overwrite",
                   *(["--max-length", str(args.max_length)] if args.max_length else []), *extra]
            p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
            if p.returncode != 0:
                return {"skipped": f"{name} failed (exit {p.returncode}): {p.stderr.strip()[-600:]}"}
            info = json.loads((out / "training.json").read_text())
            r = {"train_s": info["timing"]["train_s"], "tokens_seen": info["tokens_seen"],
                 "gpu": (info.get("device") or {}).get("gpus")}
            if name not in best or r["train_s"] < best[name]["train_s"]:
                best[name] = r
            shutil.rmtree(out, ignore_errors=True)
    return best


def by_cpu(threads: int) -> bool:
    """Which clock the rates use: CPU time of the process with one thread on a CPU (what the work
    costs, whatever else the machine runs), else wall time (CPU time would count spinning threads,
    and not the GPU's work)."""
    import torch
    return threads == 1 and not torch.cuda.is_available()


def report(s: Setup, args: argparse.Namespace, threads: list[int], variants: list[str],
           best: dict[tuple[str, int], Timing]) -> tuple[dict[str, Any], list[str]]:
    """Per-variant rates, the ratios against the plain loop, and the consistency checks."""
    import torch
    runs: dict[str, Any] = {}
    for (v, th), t in best.items():
        sec = t.cost(by_cpu(th))
        r = {"clock": "cpu" if by_cpu(th) else "wall", "loop_s": round(t.loop_s, 3), "loop_cpu_s": round(t.cpu_s, 3),
             "non_padding_tokens_per_s": round(s.real / sec, 1), "target_tokens_per_s": round(s.target / sec, 1),
             "steady_wall_tokens_per_s": round(s.real_after_first / t.steady_s, 1) if t.steady_s > 0 else None,
             "first_loss": round(t.first_loss, 5) if t.first_loss is not None else None}
        if "call_s" in t.extra:
            r.update({"train_call_s": round(t.extra["call_s"], 3), "tokens_seen": t.extra["tokens_seen"],
                      "prefix_shared_steps": t.extra["prefix_shared_steps"]})
        runs[f"{v}@{th}"] = r
    ratios: dict[str, Any] = {}
    for th in threads:
        def x(a: str, b: str, clock: str = "") -> float:
            ta, tb = best[(a, th)], best[(b, th)]
            if clock == "steady":
                return round(tb.steady_s / ta.steady_s, 3)
            cpu = by_cpu(th) if not clock else clock == "cpu"
            return round(tb.cost(cpu) / ta.cost(cpu), 3)
        pairs = (("peft", "plain"), ("peft-noshare", "plain"), ("peft", "plain-share"), ("plain-share", "plain"))
        ratios[str(th)] = {
            **{f"{a} / {b}": x(a, b) for a, b in pairs},
            **{f"{a} / {b} (wall)": x(a, b, "wall") for a, b in pairs[:3] if by_cpu(th)},
            **{f"{a} / {b} (wall, steps 2..N)": x(a, b, "steady") for a, b in pairs[:3]}}
    problems = [f"{k}: tokens_seen {r['tokens_seen']} != the batches' {s.padded} padded tokens (not the same batches)"
                for k, r in runs.items() if "tokens_seen" in r and r["tokens_seen"] != s.padded]
    problems += [f"{k}: the shared-prefix path ran on {r['prefix_shared_steps']} of {args.steps} steps"
                 for k, r in runs.items() if k.startswith("peft@") and r["prefix_shared_steps"] != args.steps]
    tol = 2e-2 if torch.cuda.is_available() else 1e-3      # bf16 on a GPU
    for th in threads:
        ref = best[("plain", th)].first_loss
        for v in variants:
            a = best[(v, th)].first_loss
            if a is None or ref is None or abs(a - ref) > tol * max(1.0, abs(ref)):
                problems.append(f"first-step loss at {th} thread(s): {v} {a} != plain {ref} (not the same model/batch)")
    return {"runs": runs, "ratios": ratios}, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny", help="trainers.scratch.presets preset of the model (tiny, small)")
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per run (default 10)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=None, help="cut examples to N tokens (default: whole)")
    ap.add_argument("--threads", default="1", help="torch CPU threads, comma-separated, e.g. 1,2 (default 1: two "
                    "threads lose badly whenever the other core is busy)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of every variant; best is kept")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-full", action="store_true", help="skip the full fine-tuning reference loop")
    ap.add_argument("--explain", action="store_true",
                    help="also plain+mask, plain+trl-head, plain+trl-head+amp: the plain loop with, one by one, the "
                         "attention mask, TRL's fused LM head and the autocast the backend's Trainer uses: where "
                         "peft-noshare's overhead goes")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    threads = [int(x) for x in args.threads.split(",") if x.strip()]
    if not threads or min(threads) < 1 or args.steps < 2 or args.batch_size < 2 or args.repeat < 1:
        raise SystemExit("--threads N[,M...] >= 1, --steps >= 2, --batch-size >= 2 (prefix sharing), --repeat >= 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    import torch
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    load0 = os.getloadavg()
    variants = [*PEFT_VARIANTS, "plain", "plain-share", *([] if args.no_full else ["full"])]
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        s = build(tmp, args)
        built = time.perf_counter() - t_all
        if args.explain:
            variants.append("plain+mask")
            try:
                from trl.trainer.utils import add_fused_lm_head  # noqa: F401
                variants.append("plain+trl-head")
                if s.amp:
                    variants.append("plain+trl-head+amp")
            except ImportError:
                print("bench/train.py: this TRL has no fused LM head (add_fused_lm_head); plain+trl-head skipped",
                      file=sys.stderr)
        best: dict[tuple[str, int], Timing] = {}
        run_no = 0
        for _ in range(args.repeat):
            for th in threads:
                for v in variants:
                    run_no += 1
                    t = (run_peft(s, args, th, v == "peft", run_no) if v in PEFT_VARIANTS
                         else run_plain(s, args, th, v))
                    if (v, th) not in best or t.cost(by_cpu(th)) < best[(v, th)].cost(by_cpu(th)):
                        best[(v, th)] = t
        gpu = unsloth_vs_peft(s, args)
    load1 = os.getloadavg()
    figures, problems = report(s, args, threads, variants, best)
    res: dict[str, Any] = {
        "model": {"preset": args.preset, "parameters": s.params, "vocab": s.vocab},
        "data": {"suite": "roo-starter", "split": "train", "system_prompt": "compact", "examples": s.n_examples},
        "steps": args.steps, "batch_size": args.batch_size, "lora_r": 16, "repeat": args.repeat,
        "tokens": {"padded": s.padded, "non_padding": s.real, "target": s.target,
                   "mean_length": round(s.real / (args.steps * args.batch_size), 1)},
        "device": "cuda" if torch.cuda.is_available() else "cpu", "cpu_count": os.cpu_count(),
        "trainer_autocast": s.amp,
        "torch": torch.__version__, "loadavg_before": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in load1], "build_s": round(built, 1),
        "total_s": round(time.perf_counter() - t_all, 1), **figures, "unsloth": gpu, "problems": problems,
    }
    if args.json:
        print(json.dumps(res))
        return 1 if problems else 0
    tk = res["tokens"]
    print(f"training throughput, {res['device']}, torch {res['torch']}, {os.cpu_count()} CPUs, "
          f"loadavg {res['loadavg_before']} -> {res['loadavg_after']}")
    print(f"  model: preset {args.preset}, {s.params:,} parameters, vocabulary {s.vocab}; LoRA r=16 on the "
          f"projections (full: every weight); the backend's Trainer runs "
          f"{s.amp + ' autocast' if s.amp else 'without autocast'}, the plain loops in the weights' dtype")
    print(f"  data: {s.n_examples} roo-starter train examples, compact system prompt; {args.steps} steps x batch "
          f"{args.batch_size} = {tk['non_padding']:,} tokens ({tk['padded']:,} with padding, {tk['target']:,} "
          f"loss-bearing, mean length {tk['mean_length']}); best of {args.repeat}, interleaved")
    print("  rates: per second of CPU time of this process at 1 thread, of wall time otherwise "
          "(column 'clock'); 'steady' = wall time of steps 2..N")
    print(f"  {'variant':<19}{'threads':>7}{'clock':>6}{'wall s':>8}{'CPU s':>7}{'tok/s':>8}{'target/s':>9}"
          f"{'x plain':>8}{'steady x plain':>15}{'1st loss':>9}  notes")
    for th in threads:
        pl = best[("plain", th)]
        for v in variants:
            r, t = res["runs"][f"{v}@{th}"], best[(v, th)]
            note = ""
            if "train_call_s" in r:
                note = (f"whole train() call {r['train_call_s']:.1f} s wall; "
                        f"prefix-shared steps {r['prefix_shared_steps']}/{args.steps}")
            print(f"  {v:<19}{th:>7}{r['clock']:>6}{r['loop_s']:>8.2f}{r['loop_cpu_s']:>7.2f}"
                  f"{r['non_padding_tokens_per_s']:>8,.0f}{r['target_tokens_per_s']:>9,.0f}"
                  f"{pl.cost(by_cpu(th)) / t.cost(by_cpu(th)):>8.2f}{pl.steady_s / t.steady_s:>15.2f}"
                  f"{r['first_loss'] if r['first_loss'] is not None else float('nan'):>9.4f}  {note}")
    for th, rt in res["ratios"].items():
        print(f"  throughput ratios at {th} thread(s):")
        for k, v in rt.items():
            print(f"    {k:<42} {v:.2f}x")
    if "skipped" in gpu:
        print(f"  unsloth vs peft: skipped: {gpu['skipped']}")
    else:
        u = gpu["unsloth"]["train_s"]
        print(f"  unsloth vs peft on {gpu['unsloth'].get('gpu')} (harness train, loop time, best of {args.repeat}): "
              + ", ".join(f"{k} {s.real / r['train_s']:,.0f} tok/s" for k, r in gpu.items())
              + "; " + ", ".join(f"unsloth / {k} {r['train_s'] / u:.2f}x" for k, r in gpu.items() if k != "unsloth"))
    for p in problems:
        print(f"  PROBLEM: {p}")
    print(f"  (build {built:.1f} s, total {res['total_s']:.1f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
