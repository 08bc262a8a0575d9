"""The closed loop: evaluate → train on the failures → hot-load → measure held-out → keep only if better.

    loop = Loop(LoopConfig(endpoint="http://127.0.0.1:8000/v1", base_model="models/base",
                           suite="roo-starter", out="runs/loop", rounds=3))
    record = loop.run()          # loop.json's content

Each round, on the model currently served (the base, or the last promoted adapter):

1. ``eval_train``  — evaluate the suite's train split (a leaderboard run); optionally only a seeded sample
   of it (`train_sample`) plus `probe` freshly generated train-side cases: a model trained on the train
   split has often memorised it, so its failures there understate what it gets wrong on new inputs,
   while failures on unseen probe cases measure exactly that (the probe suite is written to the round's
   folder and recorded in the run like any suite);
2. ``data``        — its failures (one example per failed case) + a replay share of passed cases + fresh
   train cases from the suite's generator spec, drawn in proportion to each (task, template)'s failure
   rate in step 1 (never a near-duplicate of a test case), written as OpenAI-messages JSONL;
3. ``train``       — a LoRA adapter, continuing the current one (`--init-adapter`);
4. ``check``       — vLLM's adapter rules (trainers.vllm_rules.check_adapter);
5. ``load``        — hot-load under a unique name through the runtime LoRA API;
6. ``gate``        — the candidate must change some greedy answers of the base model (harness.loop.gate:
   an adapter can load and silently do nothing, vllm#41384); if none differ it is refused and unloaded;
7. ``eval_test``   — evaluate the held-out test split on the candidate;
8. ``decide``      — promote when the held-out pass rate rises and the cases that passed before show no
   significant regression (one-sided exact McNemar on the paired cases); otherwise unload it.

`loop.json` is rewritten atomically after every stage, so a crash at any point resumes (`resume=True`)
from the last finished stage: evaluations resume their run directories, training resumes its newest
checkpoint, and a load that happened before the crash is found in /v1/models. Training and greedy
evaluation are seeded, so a resumed loop takes the same decisions.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness._util.fs import atomic_write_json
from harness.loop.backends import backend_train, check_backend
from harness.score.compare import mcnemar_regression_p, paired_flips

POOL_DRAWS = 4         # generator seeds tried for unseen cases per round
STAGES = ("eval_train", "data", "train", "check", "load", "gate", "eval_test", "decide")
LOOP_FORMAT = "toolcall-harness/loop@1"

Callback = Callable[[str, dict[str, Any]], None]


class LoopError(UserError):
    """The loop cannot start or continue (bad options, a loop.json that does not match)."""


@dataclass
class LoopConfig:
    endpoint: str
    base_model: str                       # the served base model's directory (training starts from it)
    suite: str
    out: str
    model: str | None = None              # the base model's name at the endpoint (default: /v1/models)
    rounds: int = 3
    backend: str = "peft"
    samples: int = 1
    system_prompt: str = "full"           # full | compact (the same rendering trains and evaluates)
    max_tokens: int | None = None
    concurrency: int = 16
    seed: int = 0
    replay: float = 0.3                   # share of passed cases added to the failures
    fresh: int = 0                        # fresh generated train cases per round (0: none)
    train_sample: int | None = None       # evaluate only this many train cases per round (None: all)
    probe: int = 0                        # + this many unseen generated cases, evaluated with them
    lora_r: int = 16
    lora_alpha: int | None = None
    lora_dropout: float = 0.0
    target_modules: list[str] | None = None
    lr: float | None = None
    lr_decay: float = 1.0                 # round i trains at lr × lr_decay^(i-1): later rounds refine gently
    epochs: float | None = None
    max_steps: int | None = None
    batch_size: int = 8
    max_lora_rank: int = 64
    gate_cases: int = 4                   # cases the adapter gate asks base and candidate (0: no gate)
    alpha: float = 0.05                   # significance level of the regression test
    api_key_env: str = "OPENAI_API_KEY"
    resume: bool = False
    progress: bool = False


@dataclass
class Round:
    index: int
    serving: str                          # model name evaluated on the train split
    init_adapter: str | None              # adapter dir the candidate continues
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    candidate: str | None = None          # the loaded adapter's name
    decision: str | None = None           # promoted | rejected | refused (gate) | failed


def _now() -> float:
    return time.time()


def round_lr(lr: float | None, decay: float, i: int) -> float | None:
    """The learning rate of round i (1-based); None keeps the trainer's default."""
    return None if lr is None else lr * decay ** (i - 1)


def case_passes(run_dir: str | Path) -> dict[str, bool]:
    """Per case: passed when most of its samples passed (error lines left out)."""
    from harness.log.rundir import RunDir
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in RunDir(run_dir).results():
        if r.get("status") != "ok":
            continue
        t = tally[str(r["id"])]
        t[0] += 1
        t[1] += bool(r.get("passed"))
    return {cid: 2 * p > n for cid, (n, p) in tally.items()}


class Loop:
    """The closed loop as a Python API; `on_event(name, data)` is told of every stage and round."""

    def __init__(self, cfg: LoopConfig, on_event: Callback | None = None) -> None:
        if cfg.rounds < 1:
            raise LoopError("--rounds must be at least 1")
        if not 0 < cfg.lr_decay <= 1:
            raise LoopError(f"--lr-decay {cfg.lr_decay}: use a factor in (0, 1]")
        if cfg.train_sample is not None and cfg.train_sample < 0 or cfg.probe < 0 or cfg.fresh < 0:
            raise LoopError("--train-sample, --probe and --fresh must not be negative")
        if cfg.backend not in ("peft", "unsloth"):
            raise LoopError(f"--backend {cfg.backend!r}: use peft or unsloth")
        from harness.eval import check_key_env_name
        check_key_env_name(cfg.api_key_env)    # loop.json records the name: never a key in its place
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.on_event = on_event
        self.state: dict[str, Any] = {}

    # -- state --------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.out / "loop.json"

    def _identity(self) -> dict[str, Any]:
        c = self.cfg
        return {"suite": c.suite, "base_model": str(Path(c.base_model).resolve()), "seed": c.seed,
                "system_prompt": c.system_prompt, "samples": c.samples, "backend": c.backend}

    def _load_state(self) -> None:
        if self.path.exists():
            if not self.cfg.resume:
                raise LoopError(f"{self.path} exists: pass --resume to continue that loop, or another --out")
            try:
                self.state = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise LoopError(f"{self.path}: unreadable loop state ({e}); start a new loop with another --out") from None
            if self.state.get("identity") != self._identity():
                diff = {k: (self.state.get("identity", {}).get(k), v) for k, v in self._identity().items()
                        if self.state.get("identity", {}).get(k) != v}
                raise LoopError(f"{self.path}: --resume with other settings than the loop it continues: {diff}")
            self.state["config"]["rounds"] = self.cfg.rounds   # more rounds may be asked on resume
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self.state = {"format": LOOP_FORMAT, "identity": self._identity(), "config": asdict(self.cfg),
                      "started": _now(), "baseline": {}, "rounds": [], "best": None}

    def _save(self) -> None:
        cfg = dict(self.state.get("config", {}))
        cfg.pop("resume", None)
        self.state["config"] = cfg
        self.state["updated"] = _now()
        atomic_write_json(self.path, self.state, default=str)

    def _emit(self, name: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(name, data)

    # -- building blocks ----------------------------------------------------------------------
    def _suite(self) -> Any:
        if not hasattr(self, "_suite_obj"):
            from harness.suite import load_suite
            self._suite_obj = load_suite(self.cfg.suite)
        return self._suite_obj

    def _served_base(self) -> str:
        if self.cfg.model:
            return self.cfg.model
        models = asyncio.run(_models(self.cfg.endpoint))
        bases = [m["id"] for m in models if not m.get("parent")]
        if not bases:
            raise LoopError(f"{self.cfg.endpoint}: /v1/models lists no base model; pass --model")
        return bases[0]

    def _evaluate(self, model: str, split: str, out: Path, suite: Path | None = None) -> dict[str, Any]:
        from harness.api import evaluate
        c = self.cfg
        summary = asyncio.run(evaluate(
            str(suite) if suite is not None else self._suite(), c.endpoint, model, split=split,
            samples=c.samples, concurrency=c.concurrency,
            temperature=0.0 if c.samples == 1 else 1.0, seed=c.seed, max_tokens=c.max_tokens,
            system_prompt=c.system_prompt, out=str(out), resume=(out / "run.json").is_file(), cache=False,
            api_key_env=c.api_key_env, progress=c.progress))
        if summary.get("errors") and not summary.get("n_samples"):
            # nothing was judged: training or deciding on this would be noise
            from harness.log.rundir import RunDir
            first = next((r.get("error") for r in RunDir(out).results() if r.get("status") == "error"), "")
            raise LoopError(f"{c.endpoint}: every request of the {split} evaluation failed "
                            f"({summary['errors']} errors), e.g. {first}; fix the endpoint and rerun with --resume")
        return summary

    def _stage(self, rnd: dict[str, Any], name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        done = rnd["stages"].get(name)
        if done and done.get("done"):
            return done
        self._emit("stage_start", round=rnd["index"], stage=name)
        t0 = _now()
        info = fn()
        info.update({"done": True, "started": t0, "seconds": round(_now() - t0, 3)})
        rnd["stages"][name] = info
        self._save()
        self._emit("stage_end", round=rnd["index"], stage=name, info=info)
        return info

    def _evaluated_suite(self, rnd: dict[str, Any]) -> Any:
        """The suite round `rnd`'s eval_train ran: the suite, or its probe suite."""
        if rnd["stages"]["eval_train"].get("suite"):
            from harness.suite import load_suite
            return load_suite(rnd["stages"]["eval_train"]["suite"])
        return self._suite()

    def _generated(self, seed: int, exclude: set[str], want: int) -> list[Any]:
        """Up to `want` cases newly generated from the suite's spec, marked train, none a near-duplicate of
        a suite case or of each other (so their values are unseen: a model that memorised the train split
        meets them as new inputs), none with an id in `exclude`. Several generator seeds are drawn when one
        does not give enough; empty without a generator spec."""
        suite = self._suite()
        gen = (suite.meta or {}).get("generator") or {}
        spec = gen.get("spec") if isinstance(gen, Mapping) else None
        if not spec or want <= 0:
            return []
        from harness.suite.generate import case_keys, generate
        seen = {k for c in suite.cases for k in case_keys(c)}
        known = {c.id for c in suite.cases} | exclude
        out: list[Any] = []
        for attempt in range(POOL_DRAWS):
            for c in generate(spec, seed=int(gen.get("seed", 0)) + 7919 * (seed + 1) + 104_729 * attempt):
                keys = set(case_keys(c))
                if keys & seen:
                    continue
                seen |= keys
                c.split = "train"
                if c.id in known:
                    c.id = f"{c.id}-s{seed}-{len(out)}"
                known.add(c.id)
                out.append(c)
            if len(out) >= want:
                break
        return out

    def _fresh_examples(self, failures: dict[tuple[str, Any], list[int]], seed: int,
                        exclude: set[str]) -> list[dict]:
        """Fresh train cases from the suite's generator spec, weighted by each (task, template)'s failure rate."""
        if not self.cfg.fresh:
            return []
        pool = self._generated(seed, exclude, 2 * self.cfg.fresh)
        if not pool:
            return []
        from trainers.data import examples_from_cases
        rng = random.Random(seed)
        weights = []
        for c in pool:
            key = (c.meta.get("task"), c.meta.get("template"))
            n, bad = failures.get(key, failures.get((c.meta.get("task"), None), [0, 0]))
            weights.append(0.05 + (bad / n if n else 0.5))
        chosen: list[Any] = []
        idx = list(range(len(pool)))
        for _ in range(min(self.cfg.fresh, len(pool))):
            k = rng.choices(range(len(idx)), weights=[weights[i] for i in idx])[0]
            chosen.append(pool[idx.pop(k)])
        exs = examples_from_cases(chosen, None, self.cfg.system_prompt)
        for ex in exs:
            ex.setdefault("meta", {})["kind"] = "fresh"
        return exs

    def _probe_suite(self, i: int, path: Path) -> Path:
        """Round i's evaluation suite when sampling/probing: a seeded sample of the train split plus
        unseen generated cases, written to `path` (rewritten identically on resume)."""
        from harness.suite import dump_suite
        c = self.cfg
        suite = self._suite()
        train = suite.split("train")
        rng = random.Random(c.seed * 1_000_003 + i)
        picked = train if c.train_sample is None or c.train_sample >= len(train) else \
            [train[k] for k in sorted(rng.sample(range(len(train)), c.train_sample))]
        pool = self._generated(10_000 + c.seed * 101 + i, set(), c.probe)
        probes = [pool[k] for k in sorted(rng.sample(range(len(pool)), min(c.probe, len(pool))))]
        for p in probes:
            p.id = f"probe{i}-{p.id}"
            p.meta = {**(p.meta or {}), "probe": True}
        top = {k: v for k, v in (suite.meta or {}).items() if k not in ("generator", "name", "description")}
        top.update({"name": f"{suite.name}-round{i}",
                    "description": f"round {i} of a loop over {suite.name}: {len(picked)} train cases, "
                                   f"{len(probes)} unseen probe cases"})
        dump_suite(picked + probes, path, top=top)
        return path

    # -- the stages ---------------------------------------------------------------------------
    def _round(self, rnd: dict[str, Any]) -> None:
        c = self.cfg
        i = rnd["index"]
        rdir = self.out / f"round-{i}"
        rdir.mkdir(parents=True, exist_ok=True)
        best = self.state["best"]

        def eval_train() -> dict[str, Any]:
            probe_path = None
            if c.train_sample is not None or c.probe:
                probe_path = self._probe_suite(i, rdir / "probe-suite.jsonl")
            s = self._evaluate(rnd["serving"], "train", rdir / "eval-train", suite=probe_path)
            info = {"run_dir": str(rdir / "eval-train"), "pass_rate": s.get("pass_rate"),
                    "n_cases": s.get("n_cases"),
                    "by_tool": {k: v.get("pass_rate") for k, v in (s.get("by_tool") or {}).items()}}
            if probe_path is not None:
                info["suite"] = str(probe_path)
            return info

        def data() -> dict[str, Any]:
            from trainers.data import data_sha256, write_jsonl

            from harness.loop.data import examples_from_run

            from harness.log.rundir import RunDir
            run_dir = rnd["stages"]["eval_train"]["run_dir"]
            exs = examples_from_run(run_dir, replay=c.replay, seed=c.seed + i)
            for ex in exs:      # failures on unseen probe cases are counted apart
                if str(ex["meta"].get("id", "")).startswith(f"probe{i}-") and ex["meta"].get("kind") == "failure":
                    ex["meta"]["kind"] = "probe_failure"
            failures: dict[tuple[str, Any], list[int]] = defaultdict(lambda: [0, 0])
            evaluated = self._evaluated_suite(rnd)
            cases = {cs.id: cs for cs in evaluated.cases}
            for r in RunDir(run_dir).results():
                cs = cases.get(str(r.get("id")))
                if cs is None or r.get("status") != "ok":
                    continue
                for key in ((cs.meta.get("task"), cs.meta.get("template")), (cs.meta.get("task"), None)):
                    failures[key][0] += 1
                    failures[key][1] += not r.get("passed")
            fresh = self._fresh_examples(failures, c.seed + i, set(cases))
            allx = exs + fresh
            if not allx:
                return {"examples": 0, "path": None}
            path = rdir / "train.jsonl"
            write_jsonl(allx, path)
            kinds = Counter((e.get("meta") or {}).get("kind", "failure") for e in allx)
            return {"path": str(path), "examples": len(allx), "kinds": dict(kinds), "sha256": data_sha256(allx)}

        def train() -> dict[str, Any]:
            d = rnd["stages"]["data"]
            if not d.get("examples"):
                return {"skipped": "nothing to train on: every train case passed"}
            run_train = backend_train(c.backend)
            from trainers.config import TrainConfig
            from trainers.sft.checkpoints import RUN_CONFIG
            adir = rdir / "adapter"
            res = run_train(TrainConfig(
                base_model=c.base_model, out=str(adir), data=d["path"], backend=c.backend, method="lora",
                lora_r=c.lora_r, lora_alpha=c.lora_alpha, lora_dropout=c.lora_dropout,
                target_modules=c.target_modules, lr=round_lr(c.lr, c.lr_decay, i), epochs=c.epochs, max_steps=c.max_steps,
                batch_size=c.batch_size, seed=c.seed + i, init_adapter=rnd.get("init_adapter"),
                # a crash after the run's config was written: resume (from its newest checkpoint, or from
                # step 0 when it had none yet); before that the folder is empty or absent: a fresh start
                resume=(adir / RUN_CONFIG).is_file(), max_lora_rank=c.max_lora_rank,
                progress=c.progress, save_steps=max(1, (c.max_steps or 50) // 2)))
            return {"adapter": str(adir), "steps": res.steps, "train_loss": res.train_loss,
                    "tokens_per_s": res.tokens_per_s, "resumed_from": res.resumed_from}

        def check() -> dict[str, Any]:
            t = rnd["stages"]["train"]
            if t.get("skipped"):
                return {"skipped": t["skipped"]}
            from trainers.vllm_rules import check_adapter
            problems = check_adapter(t["adapter"], max_lora_rank=c.max_lora_rank, base_model=c.base_model)
            return {"problems": problems}

        def load() -> dict[str, Any]:
            t = rnd["stages"]["train"]
            if t.get("skipped") or rnd["stages"]["check"].get("problems"):
                return {"skipped": "no adapter to load"}
            from harness.serve import list_adapters, load_adapter
            # a load that happened before a crash (recorded or not): the same adapter directory served
            # already is reused, never loaded a second time under a new name (it would hold a LoRA slot)
            adir = str(Path(t["adapter"]).resolve())
            for a in asyncio.run(list_adapters(c.endpoint)):
                if a["id"] == rnd.get("candidate") or (a.get("root") and str(Path(a["root"]).resolve()) == adir):
                    rnd["candidate"] = a["id"]
                    return {"name": a["id"], "reused": True}
            name = asyncio.run(load_adapter(c.endpoint, t["adapter"], None, max_lora_rank=c.max_lora_rank))
            rnd["candidate"] = name
            from harness.serve.adapters import adapter_model
            return {"name": name, "model": asyncio.run(adapter_model(c.endpoint, name))}

        def gate() -> dict[str, Any]:
            ld = rnd["stages"]["load"]
            if ld.get("skipped"):
                return {"skipped": ld["skipped"]}
            if not c.gate_cases:
                return {"skipped": "--gate-cases 0", "passed": True}
            if rnd["stages"].get("decide", {}).get("done"):   # a round decided before this stage existed
                return {"skipped": "round decided before the gate", "passed": True}
            from harness.loop.gate import changes_outputs, pick_cases
            from harness.log.rundir import RunDir
            evaluated = self._evaluated_suite(rnd)
            failed = [str(r["id"]) for r in RunDir(rnd["stages"]["eval_train"]["run_dir"]).results()
                      if r.get("status") == "ok" and not r.get("passed")]
            top = {k: v for k, v in (evaluated.meta or {}).items() if k not in ("generator", "name", "description")}
            res = changes_outputs(c.endpoint, base=self.state["base_name"], candidate=ld.get("model") or ld["name"],
                                  cases=pick_cases(evaluated.cases, failed, c.gate_cases), out=rdir / "gate",
                                  system_prompt=c.system_prompt, api_key_env=c.api_key_env, top=top,
                                  max_tokens=c.max_tokens)
            info = res.record()
            if not res.passed:
                from harness.serve import unload_adapter
                try:
                    asyncio.run(unload_adapter(c.endpoint, rnd["candidate"]))
                except UserError as e:
                    info["unload"] = str(e)
            return info

        def eval_test() -> dict[str, Any]:
            ld = rnd["stages"]["load"]
            if ld.get("skipped"):
                return {"skipped": ld["skipped"]}
            g = rnd["stages"].get("gate") or {}
            if not g.get("passed", True):
                return {"skipped": f"adapter refused: {g['differ']} of {g['checked']} greedy answers differ "
                                   "from the base model's", "refused": True}
            s = self._evaluate(ld.get("model") or ld["name"], "test", rdir / "eval-test")
            return {"run_dir": str(rdir / "eval-test"), "pass_rate": s.get("pass_rate"), "ci95": s.get("ci95")}

        def decide() -> dict[str, Any]:
            et = rnd["stages"]["eval_test"]
            if et.get("skipped"):
                rnd["decision"] = "refused" if et.get("refused") else "failed"
                return {"decision": rnd["decision"], "reason": et["skipped"]}
            ref = best["test_run"]
            b, cflip = paired_flips(case_passes(ref), case_passes(et["run_dir"]))
            p = mcnemar_regression_p(b, cflip)
            old, new = best["pass_rate"] or 0.0, et["pass_rate"] or 0.0
            promote = new > old and p >= c.alpha
            reason = (f"held-out {old:.3f} → {new:.3f}; pass→fail {b}, fail→pass {cflip}; "
                      f"regression p = {p:.3g} (alpha {c.alpha})")
            if promote:
                self.state["best"] = {"model": rnd["stages"]["load"].get("model") or rnd["candidate"], "adapter": rnd["stages"]["train"]["adapter"],
                                      "pass_rate": new, "test_run": et["run_dir"], "round": i}
            else:
                from harness.serve import unload_adapter
                try:
                    asyncio.run(unload_adapter(c.endpoint, rnd["candidate"]))
                except UserError as e:   # already gone (e.g. the server restarted): nothing to free
                    reason += f"; unload: {e}"
            rnd["decision"] = "promoted" if promote else "rejected"
            return {"decision": rnd["decision"], "reason": reason, "pass_to_fail": b, "fail_to_pass": cflip,
                    "p_regression": p}

        for name, fn in zip(STAGES, (eval_train, data, train, check, load, gate, eval_test, decide)):
            self._stage(rnd, name, fn)

    # -- driver -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        check_backend(self.cfg.backend)     # before any request: a CPU machine and unsloth fail here, clearly
        self._load_state()
        base_name = self.state.get("base_name") or self._served_base()
        self.state["base_name"] = base_name
        if not self.state["baseline"].get("done"):
            self._emit("stage_start", round=0, stage="baseline")
            t0 = _now()
            run = self.out / "baseline-test"
            s = self._evaluate(base_name, "test", run)
            self.state["baseline"] = {"done": True, "run_dir": str(run), "pass_rate": s.get("pass_rate"),
                                      "ci95": s.get("ci95"), "seconds": round(_now() - t0, 3)}
            self.state["best"] = {"model": base_name, "adapter": None, "pass_rate": s.get("pass_rate"),
                                  "test_run": str(run), "round": 0}
            self._save()
            self._emit("stage_end", round=0, stage="baseline", info=self.state["baseline"])
        while True:
            rounds = self.state["rounds"]
            if rounds and not all(st.get("done") for st in (rounds[-1]["stages"].get(s, {}) for s in STAGES)):
                rnd = rounds[-1]
            elif len(rounds) < self.cfg.rounds:
                best = self.state["best"]
                rnd = asdict(Round(index=len(rounds) + 1, serving=best["model"], init_adapter=best["adapter"]))
                rounds.append(rnd)
                self._save()
            else:
                break
            t0 = _now()
            self._round(rnd)
            rnd.setdefault("seconds", round(_now() - t0, 3))
            self._save()
            self._emit("round_end", round=rnd["index"], decision=rnd["decision"], best=self.state["best"])
        self.state["finished"] = _now()
        self._save()
        write_plot(self.state, self.out / "heldout.png")
        return self.state


async def _models(endpoint: str) -> list[dict[str, Any]]:
    from harness.model.client import ChatClient
    async with ChatClient([endpoint], concurrency=1) as cl:
        return await cl.models()


def heldout_series(state: Mapping[str, Any]) -> list[tuple[int, float | None, str]]:
    """(round, held-out pass rate, decision) from loop.json; round 0 is the base model."""
    pts = [(0, (state.get("baseline") or {}).get("pass_rate"), "base")]
    for r in state.get("rounds", []):
        et = (r.get("stages") or {}).get("eval_test") or {}
        pts.append((r["index"], et.get("pass_rate"), r.get("decision") or "running"))
    return pts


def write_plot(state: Mapping[str, Any], path: Path) -> Path | None:
    """A PNG of the held-out pass rate per round (candidates, and the promoted best so far)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    pts = [(i, p, d) for i, p, d in heldout_series(state) if p is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    best, best_line = -1.0, []
    for i, p, d in pts:
        if d in ("base", "promoted"):
            best = max(best, p)
        best_line.append(best)
    ax.plot([i for i, _, _ in pts], [100 * b for b in best_line], "-", color="#4c6ef5", label="served (best so far)")
    for i, p, d in pts:
        ax.scatter([i], [100 * p], color={"base": "#495057", "promoted": "#2b8a3e"}.get(d, "#c92a2a"), zorder=3)
        ax.annotate(d, (i, 100 * p), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xlabel("round")
    ax.set_ylabel("held-out pass rate (%)")
    ax.set_ylim(0, 100)
    ax.set_xticks([i for i, _, _ in pts])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
