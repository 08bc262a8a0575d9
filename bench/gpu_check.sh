#!/usr/bin/env bash
# GPU proof for issue 18 (item 6): real vLLM serving the tiny model, a native and an XML suite through
# `harness eval` (tool parser on; cached tokens > 0 on the second run), an adapter trained with
# --backend unsloth and one with --backend peft, both hot-loaded through the registry and checked to
# change greedy outputs; prints the figures (Unsloth vs peft tokens/s, vLLM requests/s).
#
# For a session whose task has an NVIDIA GPU machine (see /work/.library/device/README.md): no network
# there, so everything it needs comes in the working tree or as carried wheels.
#
#   here (CPU, network):   bench/gpu_check.sh --prepare      # wheels into .whl/ (split into <= 60 MiB parts)
#   there (device run):    bench/gpu_check.sh                # carry: [".whl"]; about 10-15 minutes
#
# Not run yet: the session that wrote it had no GPU. Every harness step it calls is tested on CPU
# (tests/harness/test_vllm_launcher.py: the vllm argv with a recording fake `vllm`; test_mimic.py and
# test_eval.py: eval; tests/trainers: the peft backend; test_loop.py: the registry and the adapter gate;
# test_loop.py::test_loop_backend_unsloth_on_a_cpu_machine_says_it_needs_a_gpu). What only a GPU can
# show is vLLM and Unsloth themselves.
#
# The wheels: vLLM's own wheel is larger than one 64 MiB transfer, so --prepare splits every wheel into
# parts that several consecutive calls carry (the machine stays warm for 30 s after a call and keeps
# what was written outside the tree: /tmp/gpu_check/whl). The run reassembles what it has and says what
# is missing. Versions: VLLM_VERSION etc. below; they must match the device image's torch (2.11.0+cu130).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W="${GPU_CHECK_DIR:-/tmp/gpu_check}"
OUT_DIR="${OUT:-$W/out}"
PORT="${GPU_CHECK_PORT:-8011}"
VLLM_VERSION="${VLLM_VERSION:-0.33.0}"
UNSLOTH_VERSION="${UNSLOTH_VERSION:-2026.10.9}"
TRL_VERSION="${TRL_VERSION:-1.15.0}"
PART_MIB=60

log() { printf '[gpu_check %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ "${1:-}" == "--prepare" ]]; then
    # here: download the wheels the device image lacks (it has torch, transformers, peft, accelerate)
    mkdir -p "$ROOT/.whl/full"
    grep -qx '/.whl/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.whl/' >> "$ROOT/.git/info/exclude"
    python3 -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$ROOT/.whl/full" "vllm==$VLLM_VERSION" "unsloth==$UNSLOTH_VERSION" "trl==$TRL_VERSION" datasets
    (cd "$ROOT/.whl/full" && for f in *.whl; do split -b "${PART_MIB}m" -d "$f" "../$f.part-"; done)
    rm -rf "$ROOT/.whl/full"
    log "parts in .whl/: $(ls "$ROOT/.whl" | wc -l); carry up to $((64 / PART_MIB)) part(s) per call, in order"
    exit 0
fi

mkdir -p "$W/whl" "$OUT_DIR"
# -- 0. the carried wheel parts: collect, reassemble complete wheels, install ------------------------
if compgen -G "$ROOT/.whl/*.part-*" > /dev/null; then cp -n "$ROOT"/.whl/*.part-* "$W/whl/"; fi
python3 - "$W/whl" <<'EOF'
import pathlib, re, sys
d = pathlib.Path(sys.argv[1])
parts = {}
for p in d.glob("*.part-*"):
    whl, _, n = p.name.rpartition(".part-")
    parts.setdefault(whl, []).append((int(n), p))
for whl, ps in parts.items():
    ps.sort()
    if [n for n, _ in ps] != list(range(len(ps))):
        sys.exit(f"gpu_check: {whl}: parts {[n for n, _ in ps]} are not contiguous; carry the missing ones")
    (d / whl).write_bytes(b"".join(p.read_bytes() for _, p in ps))
EOF
if compgen -G "$W/whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$W"/whl/*.whl
    export PYTHONPATH="/tmp/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
fi
export HARNESS_HOME="$W/home" HARNESS_CACHE_DIR="$W/cache" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
H="python3 -m harness.cli"
python3 -c "import vllm, unsloth" 2>/dev/null || { log "vllm/unsloth not importable: carry the wheels (--prepare)"; exit 3; }
nvidia-smi -L | tee "$OUT_DIR/device.txt"

# -- 1. the tiny model, built here (as the tests do) -------------------------------------------------
[[ -f "$W/base/config.json" ]] || $H train-base --suite roo-starter --preset tiny --out "$W/base" --minutes 3

# -- 2. real vLLM (the tiny model's family is in no parser table: --tool-call-parser hermes) -----------
$H serve --engine vllm --model "$W/base" --served-model-name base --port "$PORT" --max-loras 2 \
    --tool-call-parser hermes --suite roo-core-native -- --gpu-memory-utilization 0.35 --max-model-len 4096 \
    > "$W/serve.out" 2> "$OUT_DIR/vllm.log" &
SERVE_PID=$!
trap 'kill -TERM $SERVE_PID 2>/dev/null || true; wait $SERVE_PID 2>/dev/null || true' EXIT
for _ in $(seq 600); do grep -q '^listening ' "$W/serve.out" 2>/dev/null && break; sleep 1; done
URL="$(awk '/^listening /{print $2}' "$W/serve.out")"
[[ -n "$URL" ]] || { log "vLLM did not start (vllm.log)"; exit 4; }
log "vLLM at $URL"

# -- 3. XML and native suites; the second XML run must report cached tokens ---------------------------
$H eval --suite roo-starter --split test --endpoint "$URL" --model base --out "$W/xml-1" --no-cache --quiet
$H eval --suite roo-starter --split test --endpoint "$URL" --model base --out "$W/xml-2" --no-cache --quiet
$H eval --suite roo-core-native --split test --endpoint "$URL" --model base --out "$W/native" --no-cache --quiet
$H eval --suite roo-starter --split train --endpoint "$URL" --model base --out "$W/train-run" --no-cache --quiet

# -- 4. adapters: unsloth and peft on the same failures ------------------------------------------------
for b in peft unsloth; do
    [[ -f "$W/ad-$b/adapter_config.json" ]] || \
        $H train --from-run "$W/train-run" --base-model "$W/base" --backend "$b" --out "$W/ad-$b" \
            --max-steps 60 --lora-r 16 2> "$OUT_DIR/train-$b.log"
done

# -- 5. hot-load both through the registry; each must change greedy outputs (the loop's gate) ---------
python3 - "$URL" "$W" "$OUT_DIR/figures.json" <<'EOF'
import asyncio, json, sys
from pathlib import Path
from harness.loop.gate import changes_outputs, pick_cases
from harness.serve import load_adapter
from harness.suite import load_suite
url, w, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
def summ(name): return json.loads((w / name / "summary.json").read_text())
def run(name): return json.loads((w / name / "run.json").read_text())
def tps(b):
    rows = [json.loads(x) for x in (w / f"ad-{b}" / "trainer_log.jsonl").read_text().splitlines()]
    vals = [r["tokens_per_s"] for r in rows if r.get("tokens_per_s")]
    return sum(vals) / len(vals) if vals else None
cases = pick_cases(load_suite("roo-starter").split("test"), [], 8)
fig = {"device": Path(out.parent / "device.txt").read_text().strip(), "server": run("xml-1").get("server")}
for name in ("xml-1", "xml-2", "native"):
    s = summ(name)
    fig[name] = {"requests_per_s": s.get("requests_per_s"), "errors": s.get("errors"),
                 "cached_tokens": (s.get("tokens") or {}).get("cached"), "pass_rate": s.get("pass_rate")}
for b in ("peft", "unsloth"):
    name = asyncio.run(load_adapter(url, w / f"ad-{b}", max_lora_rank=16))
    g = changes_outputs(url, base="base", candidate=name, cases=cases, out=w / f"gate-{b}", system_prompt="full",
                        api_key_env="OPENAI_API_KEY")
    fig[b] = {"tokens_per_s": tps(b), "adapter": name, "gate": g.record()}
fig["unsloth_vs_peft_tokens_per_s"] = (fig["unsloth"]["tokens_per_s"] or 0) / (fig["peft"]["tokens_per_s"] or 1)
out.write_text(json.dumps(fig, indent=1))
print(json.dumps(fig, indent=1))
ok = (fig["xml-2"]["cached_tokens"] or 0) > 0 and fig["native"]["errors"] == 0 and \
    fig["peft"]["gate"]["passed"] and fig["unsloth"]["gate"]["passed"]
print("gpu_check:", "OK" if ok else "FAILED (see figures.json)")
sys.exit(0 if ok else 1)
EOF
