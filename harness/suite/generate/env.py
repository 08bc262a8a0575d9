"""The conversation around a request: Roo's <environment_details> block and the user turn that carries it.

Each case draws a small workspace state (visible files and open tabs, a start time, a time zone) so
that requests do not all look alike; later turns of the same case move the clock forward.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


_TIMEZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "America/Sao_Paulo", "Australia/Sydney")


@dataclass
class EnvState:
    visible: list[str]
    start: Any        # datetime of the first user turn
    tz: str


def env_state(rng: random.Random, files: list[str]) -> EnvState:
    import datetime as _dt
    visible = rng.sample(files, k=min(len(files), rng.randint(1, 3))) if files else []
    start = _dt.datetime(2025, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
                         rng.randint(0, 59))
    return EnvState(visible, start, rng.choice(_TIMEZONES))


def environment(style: str, mode: str | None, catalog: Any, state: EnvState, later_s: int = 0) -> str:
    """The <environment_details> block Roo appends to every user turn (a short imitation of it)."""
    import datetime as _dt
    m = catalog.modes.get(mode) if catalog is not None and mode else None
    name = m.name if m is not None else (mode or "")
    mode_part = f"# Current Mode\n<slug>{mode}</slug>\n<name>{name}</name>"
    if style == "short":
        return f"<environment_details>\n{mode_part}\n</environment_details>"
    stamp = (state.start + _dt.timedelta(seconds=later_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = []
    if state.visible:
        parts.append("# VSCode Visible Files\n" + state.visible[0])
        parts.append("# VSCode Open Tabs\n" + ", ".join(state.visible))
    parts.append(f"# Current Time\n{stamp} (user time zone: {state.tz})")
    parts.append(mode_part)
    return "<environment_details>\n" + "\n\n".join(parts) + "\n</environment_details>"


def user_turn(request: str, env: str) -> dict[str, Any]:
    return {"role": "user", "content": f"<task>\n{request}\n</task>\n\n{env}"}


__all__ = ["EnvState", "env_state", "environment", "user_turn"]
