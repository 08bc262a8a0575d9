"""Values the tabs' components share: the "(all)" filter choice and Dataframe values."""
from __future__ import annotations

from typing import Any

ALL = "(all)"


def opt(v: Any) -> str:
    """A filter value: "" for the (all) choice or nothing."""
    return "" if v in (None, "", ALL) else str(v)


def df(headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """A Dataframe value: headers and rows (none when empty)."""
    return {"headers": headers, "data": rows or []}


__all__ = ["ALL", "df", "opt"]
