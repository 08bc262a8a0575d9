"""A string that a simple regular expression matches, drawn with a seeded RNG.

Enough for the patterns tool schemas carry (`^[A-Z]{4}[0-9]{2}$`, `^v\\d+\\.\\d+$`, `(foo|bar)-\\w+`):
literals, escapes (\\d \\w \\s and escaped punctuation), classes with ranges (`[a-z0-9_]`), `.`, groups
(capturing or `(?:`) with `|`, and the quantifiers `? * + {n} {n,} {n,m}` (lazy or not). Anything else
(negated classes, lookarounds, backreferences, flags) raises `Unsupported`, and the caller leaves
the parameter out or skips the tool. Unbounded repeats draw at most 3 more than their minimum.
"""
from __future__ import annotations

import random
import string

DIGITS = string.digits
WORD = string.ascii_letters + string.digits + "_"
SAFE_ANY = string.ascii_lowercase + string.digits
_ESCAPES = {"d": DIGITS, "w": WORD, "s": " "}


class Unsupported(ValueError):
    """The pattern uses a construct this sampler does not draw from."""


class _Sampler:
    def __init__(self, pattern: str, rng: random.Random) -> None:
        self.p = pattern
        self.i = 0
        self.rng = rng

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def take(self) -> str:
        c = self.peek()
        self.i += 1
        return c

    def alternation(self) -> str:
        options = [self.sequence()]
        while self.peek() == "|":
            self.take()
            options.append(self.sequence())
        return self.rng.choice(options)

    def sequence(self) -> str:
        out = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            if atom is None:
                continue
            lo, hi = self.quantifier()
            out.append("".join(atom() for _ in range(self.rng.randint(lo, hi))))
        return "".join(out)

    def atom(self):  # noqa: ANN201 - returns a thunk that draws one occurrence, or None for an anchor
        c = self.take()
        if c in "^$":
            return None
        if c == "(":
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                raise Unsupported("lookarounds and group flags")
            start = self.i
            self.alternation()                      # parse once to find the end of the group
            if self.take() != ")":
                raise Unsupported("unbalanced group")
            body = self.p[start:self.i - 1]
            return lambda: _Sampler(body, self.rng).full()
        if c == "[":
            chars = self.char_class()
            return lambda: self.rng.choice(chars)
        if c == ".":
            return lambda: self.rng.choice(SAFE_ANY)
        if c == "\\":
            e = self.take()
            if e in _ESCAPES:
                chars = _ESCAPES[e]
                return lambda: self.rng.choice(chars)
            if e.isalnum() or e == "":
                raise Unsupported(f"escape \\{e}")
            return lambda: e
        if c in "*+?{":
            raise Unsupported("a quantifier with nothing to repeat")
        return lambda: c

    def char_class(self) -> str:
        if self.peek() == "^":
            raise Unsupported("negated character class")
        chars: list[str] = []
        first = True
        while True:
            c = self.take()
            if c == "":
                raise Unsupported("unclosed character class")
            if c == "]" and not first:
                break
            first = False
            if c == "\\":
                e = self.take()
                if e in _ESCAPES:
                    chars.extend(_ESCAPES[e])
                    continue
                if e.isalnum():
                    raise Unsupported(f"escape \\{e} in a class")
                c = e
            if self.peek() == "-" and self.i + 1 < len(self.p) and self.p[self.i + 1] != "]":
                self.take()
                end = self.take()
                if end == "\\":
                    end = self.take()
                if ord(end) < ord(c):
                    raise Unsupported("reversed range")
                chars.extend(chr(x) for x in range(ord(c), ord(end) + 1))
            else:
                chars.append(c)
        if not chars:
            raise Unsupported("empty class")
        return "".join(dict.fromkeys(chars))

    def quantifier(self) -> tuple[int, int]:
        c = self.peek()
        if c == "?":
            lo, hi = 0, 1
        elif c == "*":
            lo, hi = 0, 3
        elif c == "+":
            lo, hi = 1, 4
        elif c == "{":
            end = self.p.find("}", self.i)
            body = self.p[self.i + 1:end] if end != -1 else ""
            parts = body.split(",")
            if end == -1 or not all(x.strip().isdigit() or (j == 1 and x.strip() == "")
                                    for j, x in enumerate(parts)) or len(parts) > 2:
                raise Unsupported("quantifier")
            lo = int(parts[0])
            hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1].strip() else lo + 3)
            if hi < lo:
                raise Unsupported("reversed quantifier")
            self.i = end
        else:
            return 1, 1
        self.take()
        if self.peek() == "?":   # lazy: the same strings
            self.take()
        return lo, hi

    def full(self) -> str:
        s = self.alternation()
        if self.i < len(self.p):
            raise Unsupported(f"unexpected {self.p[self.i]!r}")
        return s


def sample(pattern: str, rng: random.Random) -> str:
    """A string `pattern` matches (from its start); raises Unsupported for constructs outside the doc's list."""
    return _Sampler(pattern, rng).full()


__all__ = ["Unsupported", "sample"]
