"""argparse value types shared by the commands: a bad number is a one-line usage error, not a traceback."""
from __future__ import annotations

import argparse
from typing import Any


def _number(text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a {'whole number' if kind is int else 'number'}, got {text!r}") from None


def positive_int(text: str) -> int:
    v = int(_number(text, int))
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def non_negative_int(text: str) -> int:
    v = int(_number(text, int))
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def positive_float(text: str) -> float:
    v = float(_number(text, float))
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def non_negative_float(text: str) -> float:
    v = float(_number(text, float))
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def fraction(text: str) -> float:
    """A share in [0, 1)."""
    v = float(_number(text, float))
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return v


def pass_rate_threshold(text: str) -> float:
    """--fail-under: a fraction 0..1, or a percentage above 1 (80 = 0.8)."""
    try:
        x = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 0.8 or 80, got {text!r}") from None
    if text.endswith("%") or x > 1:
        x /= 100.0
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction 0..1 or a percentage 0..100, got {text!r}")
    return x


class RefuseKeyOption(argparse.Action):
    """`--api-key KEY`: refused with a pointer to --api-key-env, never echoing the value (argparse's
    own "unrecognized arguments" error would print the key)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error("API keys are never taken on the command line (they would land in shell history and "
                     "process lists); put it in an environment variable and name that with --api-key-env "
                     "(default OPENAI_API_KEY)")


def refuse_key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-key", action=RefuseKeyOption)


def model_ref(text: str) -> str:
    """--model / --base-model: a registered model name (`harness models list`) becomes its directory;
    an existing path or a model ID (vLLM) passes through; a catalog name not pulled yet says how to pull it."""
    from harness.models.errors import ModelError
    from harness.models.registry import resolve_model
    try:
        return resolve_model(text)
    except ModelError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
