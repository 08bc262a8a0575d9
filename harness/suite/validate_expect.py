"""The checks of a case's expectation: `expect` and its calls, and that the case's reference meets it.

Expected calls name tools of the protocol's catalog (or of the case's own `tools`) and map each
parameter to a JSON Schema or a list of allowed values; a misspelt tool or parameter gets a "did you
mean" hint. A case's `reference` must parse under the case's protocol without violations and satisfy
its expectation, scored with `harness.score.verdicts.score` (the same verdict an eval gives).
These are methods of the suite validator (`validate.Validator` mixes them in); they add to its
`p` (the problem list) and use its `schema_problem`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.suite.model import Case, Expect, ExpectedCall
from harness.suite.problems import Problems, close, protocol_label, tname

if TYPE_CHECKING:
    from harness.suite.load import DocPath

EXPECT_KEYS = ("calls", "any_order", "checker", "functions", "category")
CALL_KEYS = ("name", "arguments")
CHECKERS = ("schema", "bfcl")


class ExpectChecks:
    """Mixed into the suite validator: the expectation and reference-correctness checks."""

    p: Problems
    _known_cache: dict[int, tuple[Any, Any]]

    schema_problem: Callable[[Any], str | None]

    def expect(self, at: DocPath, label: str, raw: dict[str, Any], catalog: Any,
               tools: list[dict[str, Any]] | None, proto: Any) -> Expect:
        p = self.p
        if "expect" not in raw or raw["expect"] is None:
            return Expect()
        e = raw["expect"]
        ep = at + ("expect",)
        if not isinstance(e, dict):
            p.add(ep, f"{label}: 'expect' must be a mapping (calls, any_order, ...)")
            return Expect()
        for k in e:
            if k not in EXPECT_KEYS:
                hint = close(k, EXPECT_KEYS)
                p.add(ep + ("@key", k), f"{label}: unknown key 'expect.{k}'" + (
                    f" (did you mean '{hint}'?)" if hint else f" (allowed: {', '.join(EXPECT_KEYS)})"))
        any_order = e.get("any_order", False)
        if not isinstance(any_order, bool):
            p.add(ep + ("any_order",), f"{label}: expect.any_order must be true or false, not {any_order!r}")
            any_order = False
        checker = e.get("checker", "schema")
        if checker not in CHECKERS:
            p.add(ep + ("checker",), f"{label}: expect.checker must be one of {', '.join(CHECKERS)}, not {checker!r}")
            checker = "schema"
        functions = e.get("functions", [])
        if functions is None:
            functions = []
        if not isinstance(functions, list) or not all(isinstance(f, dict) for f in functions):
            p.add(ep + ("functions",), f"{label}: expect.functions must be a list of function definitions")
            functions = []
        category = e.get("category", "")
        if not isinstance(category, str):
            p.add(ep + ("category",), f"{label}: expect.category must be a string")
            category = ""
        if tools:
            known = self._known_tools(catalog, tools)
        else:
            ck = id(catalog)
            if ck not in self._known_cache:
                self._known_cache[ck] = (catalog, self._known_tools(catalog, None))
            known = self._known_cache[ck][1]
        calls_raw = e.get("calls")
        calls: tuple[ExpectedCall, ...] | None = None
        if calls_raw is not None:
            if not isinstance(calls_raw, list):
                p.add(ep + ("calls",), f"{label}: expect.calls must be a list of expected calls ([] = no call)")
            else:
                out = []
                for j, c in enumerate(calls_raw):
                    ec = self.expected_call(ep + ("calls", j), f"{label}: expect.calls[{j}]", c, known, checker)
                    if ec is not None:
                        out.append(ec)
                calls = tuple(out)
        return Expect(calls=calls, any_order=any_order, checker=checker, functions=tuple(functions),
                      category=category)

    @staticmethod
    def _known_tools(catalog: Any, tools: list[dict[str, Any]] | None) -> dict[str, set[str] | None] | None:
        """tool name -> its parameter names (None = not checkable); None when names are not checkable."""
        known: dict[str, set[str] | None] = {}
        if catalog is not None:
            for name, spec in catalog.tools.items():
                props = spec.parameters.get("properties") if isinstance(spec.parameters, dict) else None
                known[name] = set(props) if isinstance(props, dict) and props else None
        if tools:
            for t in tools:
                fn = t.get("function") if isinstance(t, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                    pr = fn.get("parameters")
                    props = pr.get("properties") if isinstance(pr, dict) else None
                    known[fn["name"]] = set(props) if isinstance(props, dict) and props else None
        return known or None

    def expected_call(self, cp: DocPath, where: str, c: Any, known: dict[str, set[str] | None] | None,
                      checker: str) -> ExpectedCall | None:
        p = self.p
        if not isinstance(c, dict):
            p.add(cp, f"{where}: an expected call must be a mapping with 'name' and 'arguments'")
            return None
        for k in c:
            if k not in CALL_KEYS:
                p.add(cp + ("@key", k), f"{where}: unknown key '{k}' (allowed: name, arguments)")
        name = c.get("name")
        if not isinstance(name, str) or not name:
            p.add(cp + ("name",) if "name" in c else cp, f"{where}: needs a 'name' (the tool's name)")
            return None
        params: set[str] | None = None
        if known is not None:
            if name in known:
                params = known[name]
            elif not name.startswith(("mcp--", "mcp__")):
                hint = close(name, tuple(known))
                p.add(cp + ("name",), f"{where}: unknown tool '{name}'" + (
                    f" (did you mean '{hint}'?)" if hint else " (not in the protocol's catalog or the case's tools)"))
        args = c.get("arguments", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            p.add(cp + ("arguments",), f"{where}: arguments must map each parameter to a JSON Schema "
                                       f"or a list of allowed values")
            return None
        for param, spec in args.items():
            ap = cp + ("arguments", param)
            if not isinstance(param, str):
                p.add(ap, f"{where}: parameter names must be strings, not {param!r}")
                continue
            if params is not None and param not in params and checker != "bfcl":
                # (BFCL's own answers name a few parameters their docs lack; BFCL scores them as they are)
                hint = close(param, tuple(params))
                p.add(cp + ("arguments", "@key", param),
                      f"{where}: '{name}' has no parameter '{param}'" + (
                          f" (did you mean '{hint}'?)" if hint else f" (parameters: {', '.join(sorted(params))})"))
            if isinstance(spec, dict):
                why = self.schema_problem(spec)
                if why:
                    p.add(ap, f"{where}: arguments.{param}: {why}")
            elif isinstance(spec, list):
                if checker != "bfcl" and not spec:
                    p.add(ap, f"{where}: arguments.{param}: an empty list of alternatives matches nothing")
            elif checker == "bfcl":
                continue
            else:
                p.add(ap, f"{where}: arguments.{param} must be a JSON Schema (a mapping) or a list of allowed "
                          f"values, not {tname(spec)}")
        return ExpectedCall(name=name, arguments=dict(args))

    def references(self, pending: list[tuple[int, Case, Any]]) -> None:
        """Each reference parses without violations and satisfies its case's expectation."""
        try:
            from harness.score.verdicts import score
        except ImportError:  # pragma: no cover - scoring ships with the harness
            score = None
        p = self.p
        for i, case, proto in pending:
            if proto is None:
                continue
            rp = ("cases", i, "reference")
            label = f"case '{case.id}'"
            try:
                turn = proto.parse(case.reference, mode=case.mode, tools=case.tools)
                # the verdict is what counts: it keeps the protocol's violations except where the
                # expectation overrides them (no call expected; BFCL's own checker)
                found = score(case, turn, proto).violations if score is not None else turn.violations
                problems = [f"{v.code}: {v.detail}" if v.detail else v.code for v in found]
            except Exception as e:  # noqa: BLE001 - report, never a traceback
                problems = [f"could not be checked ({type(e).__name__}: {e})"]
            if problems:
                shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
                p.add(rp, f"{label}: the reference is not a correct answer under "
                          f"{protocol_label(case.protocol)}: {shown}")

