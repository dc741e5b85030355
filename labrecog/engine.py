"""The public entry point: load a rule set once, evaluate many cases, from many threads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import orjson
from pydantic import ValidationError

from labrecog._errors import InputError, InputProblem
from labrecog.check import CaseFacts
from labrecog.compile import CompiledRules, compile_rules
from labrecog.decide import Trace, decide_order
from labrecog.load import did_you_mean, load_ruleset, loads_strict
from labrecog.model import Case, Decision, RulesetRef, fast_case
from labrecog.words import Lang

__all__ = ["Engine", "input_error"]

# LABRECOG_FAST=0: every case through the pydantic models (the bench's "before", the tests)
_FAST = os.environ.get("LABRECOG_FAST", "1") != "0"


class Engine:
    """A compiled rule set. Immutable; share one between threads and requests."""

    __slots__ = ("_context", "_lang", "_rules")

    _rules: CompiledRules
    _lang: Lang
    _context: dict[str, Any]

    def __init__(self, rules: CompiledRules, *, lang: Lang | None = None) -> None:
        object.__setattr__(self, "_rules", rules)
        object.__setattr__(self, "_lang", lang or rules.language)
        object.__setattr__(self, "_context", {"timezone": rules.timezone})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Engine is immutable")

    @classmethod
    def from_path(cls, path: str | Path, *, lang: Lang | None = None) -> Engine:
        """Load, validate and compile a rule set; raises RulesetError with file:line:col."""
        return cls(compile_rules(load_ruleset(path)), lang=lang)

    @property
    def ruleset(self) -> RulesetRef:
        r = self._rules
        return RulesetRef(id=r.id, version=r.version, digest=r.digest)

    @property
    def rules(self) -> CompiledRules:
        return self._rules

    @property
    def lang(self) -> Lang:
        return self._lang

    def validate_case(self, data: Case | Mapping[str, Any]) -> Case:
        """Validate a case against the models and this rule set's vocabulary."""
        if isinstance(data, Case):
            case = data
        else:
            if not isinstance(data, Mapping):
                raise InputError([InputProblem("", "a case must be a JSON object")])
            try:
                case = Case.model_validate(data, context=self._context)
            except ValidationError as exc:
                raise input_error(exc, data) from None
        self._check_flags(case)
        return case

    def evaluate(
        self,
        case: Case | Mapping[str, Any],
        *,
        lang: Lang | None = None,
        trace: Trace | None = None,
    ) -> Decision:
        """Decide one case. Raises InputError if the case cannot be decided at all.

        ``trace``: an empty :class:`Trace` to fill with what was decided and how (matched
        conditions, policies, every candidate's fate); None costs nothing.
        """
        return self._decide(case, lang, trace, plain=False)

    def evaluate_json(self, raw: bytes | str, *, lang: Lang | None = None) -> Decision:
        """Decide one case given as JSON text (UTF-8)."""
        try:
            data = loads_strict(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError([InputProblem("", f"not valid JSON: {exc}")]) from None
        return self._evaluate_parsed(data, lang)

    def _evaluate_parsed(self, data: Any, lang: Lang | None = None) -> Decision:
        """``evaluate`` of what ``loads_strict`` returned: JSON types only, so the fast
        path need not check that they are (the batch path may call this too)."""
        return self._decide(data, lang, None, plain=True)

    def _decide(
        self, data: Any, lang: Lang | None, trace: Trace | None, *, plain: bool
    ) -> Decision:
        """A plain dict through the fast path when it accepts it (never with a trace);
        anything else, and whatever it refuses, through the models."""
        case = self._fast(data, plain=plain) if trace is None and type(data) is dict else None
        valid = case if case is not None else self.validate_case(data)
        return decide_order(CaseFacts.of(self._rules, valid, lang or self._lang), trace)

    def _fast(self, data: dict[str, Any], *, plain: bool) -> Case | None:
        """The case by model/_fast.py if it accepts it and knows every flag; else None,
        and the models validate it (they word every error, this never does)."""
        if not _FAST:
            return None
        found = fast_case(data, self._rules.timezone, plain=plain)
        if found is None:
            return None
        case = cast(Case, found)  # the same attributes, equal values and types: all the checks read
        return case if self._flags_known(case) else None

    def _flags_known(self, case: Case) -> bool:
        """Every flag of the order and its items is one the rule set declares."""
        known = self._rules.flags
        return known.issuperset(case.context.flags) and all(
            known.issuperset(item.flags) for item in case.tests if item.flags
        )

    def _check_flags(self, case: Case) -> None:
        # An unknown flag could be a misspelt exception: refusing it is the safe answer.
        if self._flags_known(case):
            return  # the common case: every flag known, or none given
        known = self._rules.flags
        problems: list[InputProblem] = []
        for i, flag in enumerate(case.context.flags):
            if flag not in known:
                problems.append(_unknown_flag(f"context.flags[{i}]", flag, known))
        for i, item in enumerate(case.tests):
            for j, flag in enumerate(item.flags):
                if flag not in known:
                    problems.append(_unknown_flag(f"tests[{i}].flags[{j}]", flag, known))
        if problems:
            raise InputError(problems, case.order_id)


def _unknown_flag(path: str, flag: str, known: frozenset[str]) -> InputProblem:
    return InputProblem(path, f"unknown flag '{flag}'{did_you_mean(flag, known)}")


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or part.startswith("function"):
            continue
        else:
            out += f".{part}" if out else part
    return out


def input_error(exc: ValidationError, data: Any) -> InputError:
    """Pydantic's errors as InputProblems named by JSON path."""
    problems: list[InputProblem] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        path = ctx.get("path") or _path(err["loc"])
        if "field" in ctx:
            path = f"{path}.{ctx['field']}" if path else str(ctx["field"])
        kind = err["type"]
        if kind == "extra_forbidden":
            message = "unknown field (extensions belong under 'ext')"
        elif kind == "missing":
            message = "required field is missing"
        else:
            message = err["msg"]
        problems.append(InputProblem(path, message))
    order_id = data.get("order_id") if isinstance(data, Mapping) else None
    return InputError(problems, order_id if isinstance(order_id, str) else None)
