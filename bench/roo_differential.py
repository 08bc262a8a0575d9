"""protocols/wire/roo_scanner.py against Roo Code's own parsers, run under node from a checkout you name.

    python bench/roo_differential.py --roo-checkout PATH --tools DIR [--cases N] [--long K] [--think N]
                                     [--seed S] [--examples K] [--keep DIR]

Nothing is fetched and nothing of Roo's is copied into this repository. You provide:

* PATH: a checkout of Roo Code at tag v3.29.3 (the version protocols/data/roo-code-v3.29.3.json
  mirrors): `git clone` the RooCodeInc/Roo-Code repository, then `git -C PATH checkout v3.29.3`. Its
  dependencies need not be installed: only src/core/assistant-message/, src/shared/tools.ts,
  src/utils/xml-matcher.ts and packages/types/src/ are read.
* DIR: an npm prefix holding esbuild and zod (Roo's tool-name module builds zod schemas at import):
  `npm install --prefix DIR esbuild@0.25 zod@3.25` (node 18 or later on PATH, or `--node BIN`).

esbuild bundles bench/roo_differential_driver.ts (this project's code) with Roo's
`AssistantMessageParser` (what Roo's Task streams replies through), `parseAssistantMessage`,
`parseAssistantMessageV2` and `XmlMatcher` into a temporary folder; node runs it on generated
messages, and every result is compared with `scan` / `split_leading_think` here:

* `--cases` tag-soup messages (default 15,000): Roo's own tool and parameter tags, their closers,
  broken and look-alike tags, unknown tags, whitespace JavaScript trims and Python does not, astral
  characters, code fences; fed to AssistantMessageParser in random chunkings;
* `--long` messages (default 60) of 17-51 KiB, and values just under, at and over Roo's 100 KiB
  parameter limit (in UTF-16 units, with astral characters straddling the cut);
* `--think` messages (default 3,000) of `<think>` soup for XmlMatcher, in random chunkings.

The check is on the blocks after finalize: text blocks' content, tool names and raw parameter values,
in order. It exits 0 when the scanner equals AssistantMessageParser and XmlMatcher on every case (the
claim in docs/benchmarks.md), 1 otherwise, 3 when the checkout or the tools are missing. Differences
of parseAssistantMessage and parseAssistantMessageV2 (Roo's one-shot parsers, which Task does not
use; run on all but the long messages) are printed for information: where the scanner equals
AssistantMessageParser they are places where Roo's parsers disagree among themselves.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protocols import load_catalog  # noqa: E402
from protocols.wire.roo_scanner import MAX_PARAM, scan, split_leading_think, utf16_len  # noqa: E402

DRIVER = Path(__file__).resolve().parent / "roo_differential_driver.ts"
ROO_VERSION = "3.29.3"
ROO_FILES = ("src/core/assistant-message/AssistantMessageParser.ts",
             "src/core/assistant-message/parseAssistantMessage.ts",
             "src/core/assistant-message/parseAssistantMessageV2.ts",
             "src/shared/tools.ts", "src/utils/xml-matcher.ts", "packages/types/src/index.ts")


class Unavailable(RuntimeError):
    """The checkout, node or the npm tools are not there."""


# ------------------------------------------------------------------------------------------------
# Roo under node
# ------------------------------------------------------------------------------------------------

def roo_version(checkout: Path) -> str:
    missing = [f for f in ROO_FILES if not (checkout / f).is_file()]
    if missing:
        raise Unavailable(f"{checkout} is not a Roo Code checkout (missing {', '.join(missing)})")
    try:
        return json.loads((checkout / "src" / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def bundle(checkout: Path, tools: Path, work: Path) -> Path:
    """Roo's parsers and our driver as one CommonJS file for node."""
    esbuild = tools / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        raise Unavailable(f"{esbuild} not found: npm install --prefix {tools} esbuild@0.25 zod@3.25")
    if not (tools / "node_modules" / "zod").is_dir():
        raise Unavailable(f"zod not found in {tools}/node_modules: npm install --prefix {tools} zod@3.25")
    tsconfig = work / "tsconfig.json"          # instead of Roo's, which extends packages not installed
    tsconfig.write_text('{"compilerOptions": {"target": "es2022", "strict": false}}\n')
    out = work / "driver.js"
    cmd = [str(esbuild), str(DRIVER), "--bundle", "--platform=node", "--format=cjs", "--target=node18",
           "--log-level=error", f"--tsconfig={tsconfig}", f"--outfile={out}",
           f"--alias:roo-src={checkout / 'src'}",
           f"--alias:@roo-code/types={checkout / 'packages' / 'types' / 'src' / 'index.ts'}",
           "--external:vscode", "--external:@anthropic-ai/sdk"]
    env = {**os.environ, "NODE_PATH": str(tools / "node_modules")}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise Unavailable(f"esbuild failed: {(r.stderr or r.stdout).strip()[-2000:]}")
    return out


def run_roo(node: str, driver: Path, cases: list[dict[str, Any]], work: Path) -> tuple[dict, dict[str, dict]]:
    inp, outp = work / "cases.jsonl", work / "roo.jsonl"
    with open(inp, "w", encoding="utf-8") as fh:
        for c in cases:
            fh.write(json.dumps(c) + "\n")
    r = subprocess.run([node, str(driver), str(inp), str(outp)], capture_output=True, text=True)
    if r.returncode != 0:
        raise Unavailable(f"node failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    with open(outp, encoding="utf-8") as fh:
        head = json.loads(fh.readline())
        return head, {rec["id"]: rec for rec in map(json.loads, fh)}


# ------------------------------------------------------------------------------------------------
# Generated messages (the idea of tests/protocols/test_roo_scanner.py's atoms, in Roo's own names)
# ------------------------------------------------------------------------------------------------

NOISE = ["<", ">", "/", "x", "\n", " ", "  ", "ab", "<foo>", "</foo>", "<read_", "file>", "</conte", "nt>",
         "<pa", "th>", "\u00a0", "\ufeff", "\x85", "\u2028", "\U0001F600", "```", "<READ_FILE>", "<read_file >",
         "< read_file>", "</ read_file>", "<think>", "</think>", "\t", "é", "<!-- x -->", "&lt;path&gt;"]


def atoms(tools: list[str], params: list[str], rng: random.Random) -> list[str]:
    # every tool and a few parameters often, so tags meet their own closers
    hot_params = ["path", "content", "command", "diff", "args", "result", "regex", "line_count", "file"]
    out = [f"<{t}>" for t in tools] + [f"</{t}>" for t in tools]
    out += [f"<{p}>" for p in params] + [f"</{p}>" for p in params]
    out += [f"<{p}>" for p in hot_params] * 3 + [f"</{p}>" for p in hot_params] * 3
    out += ["<write_to_file>", "</write_to_file>", "<read_file>", "</read_file>"] * 4
    return out + NOISE * 3


def soup(pool: list[str], rng: random.Random, n: int) -> str:
    return "".join(rng.choice(pool) for _ in range(n))


def chunking(text: str, rng: random.Random) -> list[int]:
    """Random chunk sizes in UTF-16 units (a JS stream's view), covering the text or leaving a tail."""
    total = utf16_len(text)
    style = rng.random()
    if style < 0.2:
        return []                                    # one chunk
    if style < 0.4:
        return [1] * total                           # a character at a time
    sizes, used = [], 0
    top = rng.choice([3, 10, 40, 400, 5000])
    while used < total:
        s = rng.randint(1, top)
        sizes.append(s)
        used += s
    return sizes


def long_messages(tools: list[str], rng: random.Random, k: int) -> list[str]:
    body_line = "line of file text, with <div> and </path> and a 😀 in it\n"
    out = []
    for i in range(k):
        kind = i % 6
        if kind < 3:      # 17-51 KiB ordinary answers
            size = rng.randint(17, 51) * 1024
            body = (body_line * (size // len(body_line) + 1))[:size]
            tool = rng.choice(["write_to_file", "apply_diff", "execute_command"])
            param = {"write_to_file": "content", "apply_diff": "diff", "execute_command": "command"}[tool]
            text = f"I will do it.\n<{tool}>\n<path>src/a{i}.ts</path>\n<{param}>\n{body}\n</{param}>\n"
            if kind == 1:
                text += f"</{tool}>\nDone."
            elif kind == 2:
                text = text.replace("</path>", "</path", 1) + f"</{tool}>"
        else:             # values around Roo's 100 KiB limit, astral characters at the cut
            delta = rng.choice([-2, -1, 0, 1, 2, 50])
            filler = "a" * (MAX_PARAM + delta - 3) + "😀" + "b"
            param = "content" if kind == 3 else "command"
            tool = "write_to_file" if kind == 3 else "execute_command"
            close = f"</{param}>" if kind != 5 else ""
            text = f"<{tool}>\n<path>big{i}.txt</path>\n<{param}>{filler}{close}<line_count>3</line_count></{tool}>"
        out.append(text)
    return out


def think_soup(rng: random.Random, n: int) -> str:
    pool = ["<think>", "</think>", "< think >", "</ think>", "< /think>", "<think >", "<thinking>", "</thinking>",
            "<", ">", "/", "x", " ", "\n", "t", "<th", "ink>", "<read_file>", "<path>a</path>", "😀", "<THINK>"]
    head = rng.choice(["", "", "<think>", " ", "<", "< think>"])
    return head + "".join(rng.choice(pool) for _ in range(n))


def build_cases(tools: list[str], params: list[str], n: int, k_long: int, n_think: int,
                seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pool = atoms(tools, params, rng)
    cases = []
    for i in range(n):
        text = soup(pool, rng, rng.randint(0, 80))
        cases.append({"id": f"soup{i}", "text": text, "chunks": chunking(text, rng)})
    for i, text in enumerate(long_messages(tools, rng, k_long)):
        cases.append({"id": f"long{i}", "text": text, "chunks": chunking(text, rng), "oneshot": False})
    for i in range(n_think):
        text = think_soup(rng, rng.randint(0, 40))
        cases.append({"id": f"think{i}", "text": text, "chunks": chunking(text, rng), "think": True})
    return cases


# ------------------------------------------------------------------------------------------------
# Comparison
# ------------------------------------------------------------------------------------------------

def ours(text: str, tools: list[str], params: list[str]) -> list[list[Any]]:
    return [["text", b.content] if b.kind == "text" else ["tool_use", b.name, dict(b.params)]
            for b in scan(text, tools, params)]


def compare(cases: list[dict[str, Any]], roo: dict[str, dict], tools: list[str], params: list[str]) -> dict:
    diffs: dict[str, list[dict[str, Any]]] = {"stream": [], "v1": [], "v2": [], "think": []}
    for c in cases:
        r = roo[c["id"]]
        if c.get("think"):
            mine = list(split_leading_think(c["text"]))
            if r["think"] != mine:
                diffs["think"].append({"case": c, "roo": r["think"], "ours": mine})
            continue
        mine = ours(c["text"], tools, params)
        for key in ("stream", "v1", "v2"):
            if key in r and r[key] != mine:
                diffs[key].append({"case": c, "roo": r[key], "ours": mine})
    return diffs


def catalog_names() -> tuple[list[str], list[str]]:
    cat = load_catalog(f"roo-code-v{ROO_VERSION}.json")
    return list(cat.tools), list(cat.param_names)


def _short(x: Any, n: int = 300) -> str:
    s = json.dumps(x, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + f"… ({len(s)} chars)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--roo-checkout", required=True, type=Path, help="a Roo Code checkout at tag v3.29.3")
    ap.add_argument("--tools", type=Path, default=os.environ.get("ROO_DIFF_TOOLS"),
                    help="npm prefix with esbuild and zod installed (default: $ROO_DIFF_TOOLS)")
    ap.add_argument("--node", default="node")
    ap.add_argument("--cases", type=int, default=15000, help="tag-soup messages")
    ap.add_argument("--long", type=int, default=60, help="long messages (17-51 KiB and near 100 KiB values)")
    ap.add_argument("--think", type=int, default=3000, help="<think> soup messages for XmlMatcher")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=3, help="examples printed per kind of difference")
    ap.add_argument("--keep", type=Path, help="keep the bundle, the cases and Roo's answers in this folder")
    args = ap.parse_args(argv)
    checkout = args.roo_checkout.resolve()
    try:
        if args.tools is None:
            raise Unavailable("--tools DIR (or $ROO_DIFF_TOOLS) is needed: npm install --prefix DIR esbuild@0.25 zod@3.25")
        if shutil.which(args.node) is None:
            raise Unavailable(f"{args.node}: node not found")
        version = roo_version(checkout)
        work = Path(tempfile.mkdtemp(prefix="roo-diff-")) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        try:
            t0 = time.monotonic()
            driver = bundle(checkout, args.tools.resolve(), work)
            head, _ = run_roo(args.node, driver, [], work)
            tools, params = head["tools"], head["params"]
            cases = build_cases(tools, params, args.cases, args.long, args.think, args.seed)
            t1 = time.monotonic()
            _, roo = run_roo(args.node, driver, cases, work)
            t2 = time.monotonic()
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
    except Unavailable as e:
        print(f"roo_differential: {e}", file=sys.stderr)
        return 3
    diffs = compare(cases, roo, tools, params)
    t3 = time.monotonic()

    cat_tools, cat_params = catalog_names()
    n_msg = sum(not c.get("think") for c in cases)
    n_think = len(cases) - n_msg
    n_short = sum(not c.get("think") and c.get("oneshot", True) for c in cases)
    print(f"Roo Code {version} at {checkout}" + ("" if version == ROO_VERSION else
                                                 f" (WARNING: the catalog mirrors v{ROO_VERSION})"))
    roo_params = list(dict.fromkeys(params))    # v3.29.3 lists "args" twice; the first match wins anyway
    print(f"Roo's {len(tools)} tool names {'==' if tools == cat_tools else '!='} the catalog's; "
          f"its {len(roo_params)} distinct parameter names {'==' if roo_params == cat_params else '!='} the catalog's")
    print(f"{n_msg} messages ({args.cases} tag soup, {args.long} long), {n_think} <think> messages; "
          f"bundle + generate {t1 - t0:.1f}s, node {t2 - t1:.1f}s, ours + compare {t3 - t2:.1f}s")
    labels = {"stream": f"AssistantMessageParser (random chunks) vs scan: {len(diffs['stream'])} of {n_msg} differ",
              "think": f"XmlMatcher('think') (random chunks) vs split_leading_think: {len(diffs['think'])} of {n_think} differ",
              "v1": f"(info) parseAssistantMessage vs scan: {len(diffs['v1'])} of {n_short} differ",
              "v2": f"(info) parseAssistantMessageV2 vs scan: {len(diffs['v2'])} of {n_short} differ"}
    for key in ("stream", "think", "v1", "v2"):
        print(labels[key])
        for d in diffs[key][:args.examples]:
            print(f"   {d['case']['id']}: text={_short(d['case']['text'])}")
            print(f"      roo:  {_short(d['roo'])}\n      ours: {_short(d['ours'])}")
    same_names = tools == cat_tools and roo_params == cat_params
    return 0 if not diffs["stream"] and not diffs["think"] and same_names else 1


if __name__ == "__main__":
    sys.exit(main())
