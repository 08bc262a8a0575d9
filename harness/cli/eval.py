"""`harness eval`: send a suite to OpenAI-compatible endpoints and write a run directory.

    harness eval --suite roo-core --endpoint http://127.0.0.1:8000/v1 --model qwen [--samples 5] ...

The API key is read from the environment variable named by --api-key-env (default OPENAI_API_KEY; unset
is fine for local servers) and is never written anywhere: run.json records the variable's name only.
Exit codes: 0 done, 1 pass rate under --fail-under (or no case got a verdict), 2 bad input.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any
from harness.cli.argtypes import non_negative_float as _non_negative_float, refuse_key_option
from harness.cli.argtypes import non_negative_int as _non_negative_int
from harness.cli.argtypes import pass_rate_threshold
from harness.cli.argtypes import positive_float as _positive_float
from harness.cli.argtypes import positive_int as _positive_int

HELP = "send a suite to an OpenAI-compatible endpoint and score the answers (writes a run directory)"


def _shard(text: str) -> tuple[int, int]:
    from harness.errors import UserError
    from harness.eval import parse_shard
    try:
        return parse_shard(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(sub: Any) -> None:
    p = sub.add_parser("eval", help=HELP, description=HELP)
    p.add_argument("--suite", required=True, metavar="S", help="a shipped suite name or a suite file")
    p.add_argument("--endpoint", action="append", default=[], metavar="URL",
                   help="base URL of an OpenAI-compatible API (…/v1); repeat to share the load")
    p.add_argument("--model", required=True, metavar="NAME", help="the model name sent in each request")
    p.add_argument("--protocol", metavar="P", help="use this protocol for every case instead of the suite's")
    p.add_argument("--split", choices=("train", "test", "all"), default="auto",
                   help="which cases to run (default: test when the suite has train and test cases, else all)")
    p.add_argument("--shard", type=_shard, metavar="I/N",
                   help="run only shard I of N (a stable hash of the case id); join shards with `harness merge`")
    p.add_argument("--concurrency", type=_positive_int, default=64, metavar="N",
                   help="requests in flight at most (default 64; lowered on 429/overload, then restored)")
    p.add_argument("--timeout", type=_positive_float, default=120.0, metavar="S",
                   help="seconds per request attempt (default 120)")
    p.add_argument("--max-retries", type=_non_negative_int, default=6, metavar="N",
                   help="retries after 429/5xx/timeouts/dropped connections (default 6)")
    p.add_argument("--samples", type=_positive_int, default=1, metavar="K",
                   help="samples per case (one request with n=K where the endpoint allows it)")
    p.add_argument("--temperature", type=_non_negative_float, metavar="T",
                   help="sampling temperature (default 0 = greedy; with --samples > 1 the server's default)")
    p.add_argument("--top-p", type=_non_negative_float, dest="top_p", metavar="P")
    p.add_argument("--seed", type=int, metavar="N", help="request seed (sample i of a fallback gets N+i)")
    p.add_argument("--max-tokens", type=_positive_int, dest="max_tokens", metavar="N",
                   help="completion tokens per answer (default 1024; the protocol's stop sequences end sooner)")
    sp = p.add_mutually_exclusive_group()
    sp.add_argument("--system-prompt", choices=("full", "compact"), default="full", dest="system_prompt",
                    help="rendering of the protocol's system prompt (default full)")
    sp.add_argument("--system-prompt-file", metavar="PATH", dest="system_prompt_file",
                    help="send this file's exact text as the system prompt")
    p.add_argument("--stream", action="store_true",
                   help="stream the answers (as agents do) and measure time to first token and inter-token latency")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/<suite>-<model>-<timestamp>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: ask only the (case, sample) pairs without a verdict")
    p.add_argument("--no-cache", action="store_true", dest="no_cache",
                   help="neither read nor write the response cache")
    p.add_argument("--no-stop", action="store_true", dest="no_stop",
                   help="send no stop sequences (default: the closing tags of an XML protocol's tools)")
    p.add_argument("--no-preflight", action="store_true", dest="no_preflight",
                   help="skip the GET /models check of each endpoint (and the served-weights identity)")
    p.add_argument("--model-revision", metavar="REV", dest="model_revision",
                   help="identity of the served weights (hosted models): part of the response cache key")
    p.add_argument("--fail-under", type=pass_rate_threshold, metavar="X",
                   help="exit 1 when the pass rate is below X (0.8 or 80)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one testcase per case and sample)")
    p.add_argument("--dry-run", action="store_true", dest="dry_run",
                   help="print the request count, a prompt-token estimate and the estimated cost with and "
                        "without --batch; send nothing")
    p.add_argument("--price-in", type=_non_negative_float, dest="price_in", metavar="USD_PER_M",
                   help="price of a million prompt tokens (cost in summary.json)")
    p.add_argument("--price-out", type=_non_negative_float, dest="price_out", metavar="USD_PER_M",
                   help="price of a million completion tokens")
    p.add_argument("--price-cached", type=_non_negative_float, dest="price_cached", metavar="USD_PER_M",
                   help="price of a million cached prompt tokens (default: the table's, else --price-in); "
                        "known models are priced from harness/model/prices.json without these flags")
    p.add_argument("--batch", action="store_true",
                   help="send through the endpoint's Batch API (OpenAI Files + Batches) at its discounted "
                        "price; the batch ids live in the run directory, so --resume picks them up")
    p.add_argument("--batch-poll", type=_positive_float, default=30.0, dest="batch_poll", metavar="S",
                   help="seconds between two looks at a batch's status (default 30)")
    pck = p.add_mutually_exclusive_group()
    pck.add_argument("--prompt-cache-key", action="store_true", dest="prompt_cache_key", default=None,
                     help="send a prompt_cache_key per (system prompt, tools) prefix (default: only to "
                          "api.openai.com and Azure OpenAI)")
    pck.add_argument("--no-prompt-cache-key", action="store_false", dest="prompt_cache_key",
                     help="never send prompt_cache_key")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", dest="api_key_env", metavar="NAME",
                   help="environment variable holding the API key (default OPENAI_API_KEY)")
    refuse_key_option(p)
    p.add_argument("--no-register", action="store_true", help="do not add the run to the leaderboard")
    p.add_argument("--failures", type=int, default=10, metavar="N", help="list the first N failures (default 10)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar; print only the headline")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> Any:
    from harness.errors import UserError
    from harness.eval import EvalConfig
    if not args.endpoint and not args.dry_run:
        raise UserError("--endpoint URL is required (the base URL of an OpenAI-compatible API, e.g. "
                        "http://127.0.0.1:8000/v1)")
    price = {k: v for k, v in (("prompt", args.price_in), ("cached", args.price_cached),
                               ("completion", args.price_out)) if v is not None} or None
    return EvalConfig(
        suite=args.suite, endpoints=list(args.endpoint), model=args.model, protocol=args.protocol,
        split=args.split, shard=args.shard, concurrency=args.concurrency, timeout=args.timeout,
        max_retries=args.max_retries, samples=args.samples, temperature=args.temperature, top_p=args.top_p,
        seed=args.seed, max_tokens=args.max_tokens, system_prompt=args.system_prompt,
        system_prompt_file=args.system_prompt_file, out=args.out, resume=args.resume,
        cache=not args.no_cache, price=price, api_key_env=args.api_key_env,
        progress=not args.quiet, dry_run=args.dry_run, register=not args.no_register,
        stop=not args.no_stop, preflight=not args.no_preflight, model_revision=args.model_revision, batch=args.batch,
        batch_poll=args.batch_poll, prompt_cache_key=args.prompt_cache_key,
        stream=args.stream)


def write_junit(path: str, suite_name: str, model: str, results: list[dict[str, Any]], wall_s: float | None) -> None:
    """JUnit XML: one <testcase> per (case, sample); <failure> lists the violations, <error> endpoint errors."""
    import xml.etree.ElementTree as ET
    from pathlib import Path
    ok = [r for r in results if r.get("status") == "ok"]
    failures = sum(1 for r in ok if not r.get("passed"))
    errors = sum(1 for r in results if r.get("status") == "error")
    ts = ET.Element("testsuite", name=f"{suite_name}", tests=str(len(results)), failures=str(failures),
                    errors=str(errors), skipped="0", time=f"{wall_s or 0:.3f}")
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="model", value=str(model))
    for r in sorted(results, key=lambda r: (str(r.get("id")), int(r.get("sample", 0)))):
        lat = r.get("latency_ms")
        tc = ET.SubElement(ts, "testcase", classname=f"{suite_name}.{model}", name=f"{r['id']}#{r['sample']}",
                           time=f"{(lat or 0) / 1000:.3f}")
        if r.get("status") == "error":
            e = ET.SubElement(tc, "error", message=str(r.get("error") or "endpoint error")[:500], type="endpoint")
            e.text = str(r.get("error") or "")
        elif not r.get("passed"):
            vs = r.get("violations") or []
            codes = ", ".join(dict.fromkeys(str(v.get("code")) for v in vs)) or "failed"
            f = ET.SubElement(tc, "failure", message=codes[:500], type=(str(vs[0].get("code")) if vs else "failed"))
            f.text = "\n".join(f"{v.get('code')}: {v.get('detail', '')}" for v in vs)
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(ts).write(p, encoding="utf-8", xml_declaration=True)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from harness.eval import run_eval

    cfg = config_from_args(args)
    box: list[Any] = []

    async def main() -> None:
        # the main task returns None: on Python 3.11 asyncio.run repr()s its main task twice while it
        # restores the SIGINT handler, and the repr of an Outcome holding every result line is ~10 ms
        # per 1,000 lines
        box.append(await run_eval(cfg))

    asyncio.run(main())
    outcome = box[0]
    from harness.log import report  # after the run, so that nothing it needs delays the first request
    if outcome.dry_run is not None:
        d = outcome.dry_run
        print(f"dry run: {d['requests']} requests to send ({d['cases_to_run']} of {d['cases']} cases, "
              f"{d['samples']} samples, {d['samples_per_case']} per case; {d['deduped']} shared by dedupe, "
              f"{d['cache_hits']} answered by the cache, {d['skipped_done']} samples already done)")
        print(f"prompt tokens (estimate, chars/4): {d['prompt_tokens_estimate']:,}")
        from harness.eval.estimate import format_dry_run_cost
        print("\n".join(format_dry_run_cost(d)))
        return 0

    summary, manifest = outcome.summary or {}, outcome.manifest or {}
    st = outcome.stats
    if args.quiet:
        print(report.headline(summary))   # plain text: --quiet needs no rich
    else:
        from rich.console import Console
        console = Console()
        report.print_summary(summary, manifest, console)
        report.print_failures(outcome.results or [], console, limit=args.failures)
        console.print(f"requests sent {st.requests_sent} · cache hits {st.cache_hits} · shared by dedupe "
                      f"{st.deduped}" + (" · endpoint ignored n: samples sent one by one" if st.n_fallback else ""),
                      highlight=False)
        console.print(f"run directory: {outcome.run_dir}", highlight=False)
    if args.junit:
        write_junit(args.junit, (manifest.get("suite") or {}).get("name") or str(args.suite), args.model,
                    outcome.results or [], summary.get("wall_s"))
    if summary.get("errors"):
        print(f"harness: {summary['errors']} samples failed at the endpoint after retries (not counted); "
              f"`harness eval ... --out {outcome.run_dir} --resume` asks them again", file=sys.stderr)
    if args.fail_under is not None:
        rate = summary.get("pass_rate")
        if rate is None or rate < args.fail_under:
            print(f"harness: pass rate {report.pct(rate)} is under --fail-under {report.pct(args.fail_under)}",
                  file=sys.stderr)
            return 1
    if summary.get("n_samples", 0) == 0:
        print("harness: no sample got a verdict", file=sys.stderr)
        return 1
    return 0
