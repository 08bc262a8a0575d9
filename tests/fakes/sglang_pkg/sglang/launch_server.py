"""`python -m sglang.launch_server ARGS`: writes ARGS as JSON to $FAKE_ENGINE_ARGV (when set), then serves
SGLang's API contract (tests/fakes/sglang_contract_server.py)."""
import json
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    if os.environ.get("FAKE_ENGINE_ARGV"):
        Path(os.environ["FAKE_ENGINE_ARGV"]).write_text(json.dumps(sys.argv[1:]))
    sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
    from tests.fakes.sglang_contract_server import main
    sys.exit(main(sys.argv[1:]))
