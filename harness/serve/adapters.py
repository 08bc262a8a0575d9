"""LoRA adapters on a server: the registry that hot-loads adapters into vLLM or the local engine.

Compatibility (what vLLM would refuse) is `trainers.vllm_rules.check_adapter`, the one check shared with
training; `load_adapter` runs it before sending anything.

Registry (`async load_adapter`, `unload_adapter`, `list_adapters`): talks vLLM's runtime LoRA API
(`POST /v1/load_lora_adapter {lora_name, lora_path}`, `POST /v1/unload_lora_adapter {lora_name}`,
`GET /v1/models`), which the local engine speaks too. Each load gets a unique name — the one asked for,
or `<dirname>-<content hash 8>-<n>` — that was never loaded on that endpoint before (recorded in
`$HARNESS_HOME/adapters.json`, default ~/.harness): vLLM keys its prefix cache by adapter name, so a
reused name can serve stale KV (vllm#30931), and `load_inplace` is never sent (vllm#33791). After a 200
the name must appear in `GET /v1/models`, else the load is an error. `lora_path` is sent as the
adapter's absolute path: the server must see the same filesystem.

Engines (`AdapterAPI`): vLLM and the local engine serve `/v1/load_lora_adapter` and address an adapter
as `model=<name>`; SGLang serves `/load_lora_adapter` (no /v1) and addresses it as
`model=<base>:<name>`. Which one an endpoint is comes from `engine=`, else the record `harness serve`
left for it (harness.serve.servers), else its /v1/models cards (`owned_by: "sglang"`).
`adapter_model(endpoint, name)` is the `model` value a request for the adapter carries.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError

REGISTRY_FILE = "adapters.json"

# A served name: letters, digits, '.', '_', '-'; starts with a letter or digit; no path separators.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class AdapterError(UserError):
    """An adapter cannot be loaded, unloaded or listed (the server's answer or the reason is in the message)."""

    exit_code = 1


def adapter_content_hash(adapter_dir: str | Path) -> str:
    """sha256 over the adapter's config and weights (hex)."""
    from trainers.vllm_rules import CONFIG_FILE, WEIGHTS_FILE
    d = Path(adapter_dir)
    h = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE, "adapter_model.bin"):
        p = d / name
        if p.is_file():
            h.update(name.encode() + b"\0")
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# engines


@dataclass(frozen=True)
class AdapterAPI:
    """Where an engine's runtime LoRA routes are and how a request names an adapter."""

    engine: str
    load_path: str
    unload_path: str
    base_prefixed: bool          # model = "<base>:<adapter>" (SGLang) instead of "<adapter>"

    def model_id(self, base: str | None, name: str) -> str:
        if self.base_prefixed:
            if not base:
                raise AdapterError(f"{self.engine} addresses adapters as <base>:<adapter>, and the endpoint "
                                   "lists no base model")
            return f"{base}:{name}"
        return name


VLLM_API = AdapterAPI("vllm", "/v1/load_lora_adapter", "/v1/unload_lora_adapter", False)
SGLANG_API = AdapterAPI("sglang", "/load_lora_adapter", "/unload_lora_adapter", True)
ADAPTER_APIS = {"vllm": VLLM_API, "local": VLLM_API, "sglang": SGLANG_API}


def _api_for(endpoint: str, cards: list[dict[str, Any]], engine: str | None) -> AdapterAPI:
    if engine is None:
        from harness.serve.servers import server_record
        rec = server_record(api_base(endpoint))
        engine = rec.get("engine") if rec else None
    if engine is None:
        engine = "sglang" if any(c.get("owned_by") == "sglang" for c in cards if not c.get("parent")) else "vllm"
    if engine not in ADAPTER_APIS:
        raise AdapterError(f"engine {engine!r}: the adapter registry speaks {', '.join(sorted(ADAPTER_APIS))}")
    return ADAPTER_APIS[engine]


# --------------------------------------------------------------------------------------------------
# registry


def harness_home() -> Path:
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".harness").expanduser()


def api_base(endpoint: str) -> str:
    """`http://host:port[/prefix]` for an endpoint given with or without its `/v1` suffix."""
    e = endpoint.strip().rstrip("/")
    if not re.match(r"https?://", e):
        raise AdapterError(f"endpoint {endpoint!r}: expected an http:// or https:// URL")
    if e.endswith("/v1"):
        e = e[:-3]
    return e


@contextlib.contextmanager
def _locked_registry() -> Iterator[dict[str, Any]]:
    """The registry JSON, read and written back under an exclusive lock (several harness processes)."""
    home = harness_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AdapterError(f"{home}: cannot create the harness home ({e.strerror}); set HARNESS_HOME") from None
    path = home / REGISTRY_FILE
    lock = open(home / (REGISTRY_FILE + ".lock"), "a+")
    try:
        try:
            import fcntl
            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: single-process use
            pass
        data: dict[str, Any] = {"version": 1, "endpoints": {}}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                data.setdefault("endpoints", {})
            except (OSError, ValueError) as e:
                raise AdapterError(f"{path}: unreadable adapter registry ({e}); move it away to start a new one") \
                    from None
        yield data
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        lock.close()


def registry_names(endpoint: str) -> dict[str, dict[str, Any]]:
    """Every name this registry ever gave out on `endpoint` (name -> {path, hash, loaded_at, unloaded_at})."""
    with _locked_registry() as data:
        return dict(data["endpoints"].get(api_base(endpoint), {}).get("names", {}))


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:48]
    return s or "adapter"


def _reserve_name(endpoint: str, adapter_dir: Path, name: str | None, served: set[str]) -> str:
    digest = adapter_content_hash(adapter_dir)
    with _locked_registry() as data:
        names = data["endpoints"].setdefault(api_base(endpoint), {}).setdefault("names", {})
        if name is not None:
            if not NAME_RE.fullmatch(name):
                raise AdapterError(f"adapter name {name!r}: use letters, digits, '.', '_' and '-' only "
                                   "(at most 128, starting with a letter or digit)")
            if name in names:
                raise AdapterError(f"adapter name {name!r} was already used on {endpoint}; a reused name can "
                                   "serve stale prefix-cache entries in vLLM (vllm#30931): pick a new name or "
                                   "leave --name out")
            if name in served:
                raise AdapterError(f"adapter name {name!r} is already served by {endpoint}")
        else:
            stem = f"{_slug(adapter_dir.name)}-{digest[:8]}"
            n = 1
            while f"{stem}-{n}" in names or f"{stem}-{n}" in served:
                n += 1
            name = f"{stem}-{n}"
        names[name] = {"path": str(adapter_dir), "hash": digest, "loaded_at": time.time(), "unloaded_at": None}
        return name


def _mark_unloaded(endpoint: str, name: str) -> None:
    with _locked_registry() as data:
        entry = data["endpoints"].get(api_base(endpoint), {}).get("names", {}).get(name)
        if entry is not None:
            entry["unloaded_at"] = time.time()


def _error_text(status: int, body: str) -> str:
    try:
        obj = json.loads(body)
        if isinstance(obj, dict):
            err = obj.get("error", obj)
            if isinstance(err, dict) and err.get("message"):
                return str(err["message"])
            if isinstance(obj.get("message"), str):
                return obj["message"]
            if isinstance(obj.get("detail"), str):
                return obj["detail"]
    except ValueError:
        pass
    return body.strip()[:300] or f"HTTP {status}"


async def _request(method: str, url: str, *, json_body: Any = None, api_key: str | None = None,
                   timeout: float = 300.0) -> tuple[int, str]:
    import aiohttp

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.request(method, url, json=json_body, headers=headers) as resp:
                return resp.status, await resp.text()
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise AdapterError(f"{url}: {type(e).__name__}: {e}".rstrip(": ")) from None


async def list_adapters(endpoint: str, *, api_key: str | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The adapters `endpoint` serves (`GET /v1/models` cards with a `parent`): [{"id", "parent", "root"}]."""
    url = api_base(endpoint) + "/v1/models"
    status, body = await _request("GET", url, api_key=api_key, timeout=timeout)
    if status != 200:
        raise AdapterError(f"GET {url}: HTTP {status}: {_error_text(status, body)}")
    try:
        cards = json.loads(body)["data"]
    except (ValueError, KeyError, TypeError):
        raise AdapterError(f"GET {url}: not an OpenAI model list: {body[:200]!r}") from None
    return [{"id": c.get("id"), "parent": c.get("parent"), "root": c.get("root")}
            for c in cards if isinstance(c, dict) and c.get("parent")]


async def _model_cards(endpoint: str, api_key: str | None, timeout: float) -> list[dict[str, Any]]:
    url = api_base(endpoint) + "/v1/models"
    status, body = await _request("GET", url, api_key=api_key, timeout=timeout)
    if status != 200:
        raise AdapterError(f"GET {url}: HTTP {status}: {_error_text(status, body)}")
    try:
        return [c for c in json.loads(body)["data"] if isinstance(c, dict)]
    except (ValueError, KeyError, TypeError):
        raise AdapterError(f"GET {url}: not an OpenAI model list: {body[:200]!r}") from None


async def adapter_model(endpoint: str, name: str, *, engine: str | None = None, api_key: str | None = None,
                        timeout: float = 30.0) -> str:
    """The `model` value that selects adapter `name` on `endpoint` (`name`; SGLang: `<base>:<name>`)."""
    cards = await _model_cards(endpoint, api_key, timeout)
    api = _api_for(endpoint, cards, engine)
    bases = [str(c.get("id")) for c in cards if not c.get("parent")]
    return api.model_id(bases[0] if bases else None, name)


async def load_adapter(endpoint: str, adapter_dir: str | Path, name: str | None = None, *,
                       check: bool = True, max_lora_rank: int | None = None,
                       base_model: str | None = None, api_key: str | None = None, timeout: float = 300.0,
                       engine: str | None = None) -> str:
    """Load the PEFT LoRA directory into `endpoint` under a unique name and return that name, once it is
    listed by `GET /v1/models`. `check` refuses (AdapterError, one line per reason) an adapter that
    `trainers.vllm_rules.check_adapter(..., max_lora_rank, base_model)` finds incompatible, before any
    request; `max_lora_rank` defaults to vLLM's largest (the server decides)."""
    d = Path(adapter_dir).expanduser()
    if not d.is_dir():
        raise AdapterError(f"{d}: no such adapter directory")
    d = d.resolve()
    if check:
        from trainers.vllm_rules import VLLM_LORA_RANKS, check_adapter
        problems = check_adapter(d, max_lora_rank=max(VLLM_LORA_RANKS) if max_lora_rank is None else max_lora_rank,
                                 base_model=base_model)
        if problems:
            raise AdapterError("adapter refused:\n" + "\n".join(problems))
    cards = await _model_cards(endpoint, api_key, timeout)
    api = _api_for(endpoint, cards, engine)
    served = {str(c.get("id")) for c in cards}
    lora_name = _reserve_name(endpoint, d, name, served)
    url = api_base(endpoint) + api.load_path
    status, body = await _request("POST", url, json_body={"lora_name": lora_name, "lora_path": str(d)},
                                  api_key=api_key, timeout=timeout)
    if status != 200:
        _mark_unloaded(endpoint, lora_name)
        hint = ""
        if status == 404 and "No adapter found" not in body:
            hint = " (is the server started with runtime LoRA updating, VLLM_ALLOW_RUNTIME_LORA_UPDATING=1?)" \
                if api.engine == "vllm" else " (is the server started with --enable-lora?)"
        raise AdapterError(f"POST {url} ({lora_name}): HTTP {status}: {_error_text(status, body)}{hint}")
    listed = {a["id"]: a for a in await list_adapters(endpoint, api_key=api_key, timeout=timeout)}
    if lora_name not in listed:
        raise AdapterError(f"{endpoint}: answered 200 to loading {lora_name!r} but does not list it in /v1/models")
    return lora_name


async def unload_adapter(endpoint: str, name: str, *, api_key: str | None = None, timeout: float = 60.0,
                         engine: str | None = None) -> None:
    """Unload `name` from `endpoint`; AdapterError when the server does not know it (HTTP 404) or refuses."""
    cards = [] if engine is not None else await _model_cards(endpoint, api_key, min(timeout, 30.0))
    url = api_base(endpoint) + _api_for(endpoint, cards, engine).unload_path
    status, body = await _request("POST", url, json_body={"lora_name": name}, api_key=api_key, timeout=timeout)
    if status != 200:
        raise AdapterError(f"POST {url} ({name}): HTTP {status}: {_error_text(status, body)}")
    _mark_unloaded(endpoint, name)


__all__ = ["ADAPTER_APIS", "AdapterAPI", "AdapterError", "NAME_RE", "adapter_content_hash", "adapter_model",
           "api_base", "list_adapters", "load_adapter", "registry_names", "unload_adapter"]
