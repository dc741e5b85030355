"""Policy findings: what a rule set says that a hospital should look at before using it.

Each is a plain walk over the loaded rule files (for positions) and the compiled rules
(for what the engine will do); nothing here evaluates a case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from labrecog.authoring import CaseError, load_test_file
from labrecog.compile import CompiledRules
from labrecog.lint._findings import Finding
from labrecog.load import KeyPath, LoadedRuleset
from labrecog.words import Lang, format_duration, say

__all__ = ["policy_findings", "used_flags"]

_SEPARATORS = re.compile(r"[\s\-_.·・/]+")


def policy_findings(
    loaded: LoadedRuleset, rules: CompiledRules, lang: Lang, folder: Path | None
) -> Iterator[Finding]:
    def finding(
        where: KeyPath, lint_code: str, words: str, subject: tuple[str, ...], **kw: object
    ) -> Finding:
        p = loaded.position(where)
        return Finding(lint_code, p.file, p.line, p.col, say("lint", words, lang, **kw), subject)

    raw = loaded.rules
    used = used_flags(rules, folder)
    for name in sorted(rules.exceptions):
        if name not in used:
            yield finding(("exceptions", name), "P002", "msg.P002.exception", (name,), name=name)
    for name in sorted(rules.flags - set(rules.exceptions)):
        if name not in used:
            yield finding(("flags", name), "P002", "msg.P002.flag", (name,), name=name)

    for i, test in enumerate(raw.tests):
        if rules.tests[test.code].price == 0:
            kind = say("lint", "kind.test", lang)
            yield finding(("tests", i, "price"), "P003", "msg.P003", (test.code,), kind=kind,
                          code=test.code)  # fmt: skip
        if not test.loinc:
            yield finding(("tests", i), "P005", "msg.P005", (test.code,), code=test.code)
    for i, panel in enumerate(raw.panels):
        compiled = rules.panels[panel.code]
        if compiled.price == 0:
            kind = say("lint", "kind.panel", lang)
            yield finding(("panels", i, "price"), "P003", "msg.P003", (panel.code,), kind=kind,
                          code=panel.code)  # fmt: skip
        for component in compiled.components:
            test_ = rules.tests.get(component)
            if test_ is not None and not test_.policy.recognisable:
                subject = (panel.code, component)
                yield finding(("panels", i, "components"), "P004", "msg.P004", subject,
                              code=panel.code, component=component)  # fmt: skip

    for path, source in _assumed(raw, ()):
        what = _key_text(raw, path)
        yield finding(path, "P006", "msg.P006", (what,), what=what, source=source)

    yield from _look_alikes(loaded, lang)
    yield from _over_caps(loaded, rules, lang)


def _over_caps(loaded: LoadedRuleset, rules: CompiledRules, lang: Lang) -> Iterator[Finding]:
    """P001: a max_age, wherever it is set, longer than the cap its tests fall under.

    One finding per place the value is written and cap it breaks, naming the tests."""
    raw = loaded.rules
    caps = raw.policy.max_age_cap
    if not caps:
        return

    def cap_of(code: str) -> tuple[str, timedelta, str | None] | None:
        category = rules.tests[code].category
        found = [(k, c.value, c.source) for k in (category, "*") if k in caps
                 for c in (caps[k],)]  # fmt: skip
        return min(found, key=lambda f: f[1]) if found else None

    broken: dict[tuple[KeyPath, str], tuple[str, timedelta, list[str]]] = {}

    def check(where: KeyPath, what: str, value: timedelta, code: str) -> None:
        cap = cap_of(code)
        if cap is not None and value > cap[1]:
            broken.setdefault((where, cap[0]), (what, value, []))[2].append(code)

    categories = raw.categories
    for i, test in enumerate(raw.tests):
        policy = rules.tests[test.code].policy
        if test.max_age is not None:
            where: KeyPath = ("tests", i, "max_age")
            what = say("lint", "what.test", lang, code=test.code)
        elif test.category in categories and categories[test.category].max_age is not None:
            where = ("categories", test.category, "max_age")
            what = say("lint", "what.category", lang, name=test.category)
        elif raw.defaults.max_age is not None:
            where, what = ("defaults", "max_age"), say("lint", "what.defaults", lang)
        else:
            where, what = ("tests", i), say("lint", "what.test", lang, code=test.code)
        check(where, what, policy.max_age, test.code)
    for i, cond in enumerate(rules.conditions):
        if cond.override.max_age is None:
            continue
        what = say("lint", "what.condition", lang, id=cond.id)
        for code in sorted(cond.targets if cond.targets is not None else rules.tests):
            check(("conditions", i, "set", "max_age"), what, cond.override.max_age, code)
    for (where, scope), (what, value, codes) in broken.items():
        cap = caps[scope]
        scope_text = (say("lint", "scope.all", lang) if scope == "*"
                      else say("lint", "scope.category", lang, name=scope))  # fmt: skip
        shown = ", ".join(codes[:5]) + (" …" if len(codes) > 5 else "")
        p = loaded.position(where)
        own = where[0] == "tests" and len(codes) == 1
        words = "msg.P001.own" if own else "msg.P001"
        message = say("lint", words, lang, what=what, value=format_duration(value), test=shown,
                      cap=format_duration(cap.value), scope=scope_text,
                      source=cap.source or "?")  # fmt: skip
        yield Finding("P001", p.file, p.line, p.col, message, (*map(str, where), scope))


def used_flags(rules: CompiledRules, folder: Path | None) -> set[str]:
    """Flags a condition tests or sets, or a rule-set test case carries."""
    used: set[str] = set()
    for cond in rules.conditions:
        used |= cond.flags_any | cond.flags_all | cond.flags_none
        if cond.override.exception:
            used.add(cond.override.exception)
    tests_dir = folder / "tests" if folder is not None else None
    if tests_dir is None or not tests_dir.is_dir():
        return used
    for path in sorted(tests_dir.glob("*.y*ml")):
        try:
            cases = load_test_file(path, rules)
        except CaseError:
            continue  # `labrecog test` reports it; what it might use is unknown
        for case in cases:
            used.update(case.case.get("context", {}).get("flags", ()))
            for item in case.case.get("tests", ()):
                used.update(item.get("flags", ()))
    return used


def _assumed(node: object, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Every ``source:`` that says the value is assumed, with its key path."""
    if isinstance(node, BaseModel):
        for name, info in type(node).model_fields.items():
            value = getattr(node, name)
            key = info.alias or name
            if key == "source" and isinstance(value, str):
                if value.strip().lower().startswith("assumed"):
                    yield path, value
            else:
                yield from _assumed(value, (*path, key))
    elif isinstance(node, tuple | list):
        for i, value in enumerate(node):
            yield from _assumed(value, (*path, i))
    elif isinstance(node, Mapping):
        for k, value in node.items():
            yield from _assumed(value, (*path, str(k)))


def _key_text(raw: BaseModel, path: KeyPath) -> str:
    """``tests[GLU].max_age``: list items named by their code or id, not their index."""
    parts: list[str] = []
    node: Any = raw
    for step in path:
        if isinstance(step, int):
            node = node[step]
            name = getattr(node, "code", None) or getattr(node, "id", None) or step
            parts[-1] = f"{parts[-1]}[{name}]"
        else:
            node = getattr(node, step, None) if isinstance(node, BaseModel) else (
                node.get(step) if isinstance(node, Mapping) else None)  # fmt: skip
            parts.append(step)
    return ".".join(parts)


def _fold(name: str) -> str:
    """What a person reading an order would take for the same code."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", name)).casefold()


def _names(loaded: LoadedRuleset) -> Iterable[tuple[str, str, KeyPath]]:
    """(name, the test or panel it names, where it is written)."""
    raw = loaded.rules
    for i, test in enumerate(raw.tests):
        yield test.code, test.code, ("tests", i, "code")
        for j, alias in enumerate(test.aliases):
            yield alias, test.code, ("tests", i, "aliases", j)
    for i, panel in enumerate(raw.panels):
        yield panel.code, panel.code, ("panels", i, "code")
        for j, alias in enumerate(panel.aliases):
            yield alias, panel.code, ("panels", i, "aliases", j)


def _look_alikes(loaded: LoadedRuleset, lang: Lang) -> Iterator[Finding]:
    first: dict[str, tuple[str, str]] = {}
    for name, owner, path in _names(loaded):
        folded = _fold(name)
        seen = first.get(folded)
        if seen is None:
            first[folded] = (name, owner)
            continue
        other, other_owner = seen
        if other_owner == owner:
            continue  # two spellings of one test: harmless
        p = loaded.position(path)
        message = say("lint", "msg.P007", lang, code=name, owner=owner, other=other,
                      other_owner=other_owner)  # fmt: skip
        yield Finding("P007", p.file, p.line, p.col, message, (owner, other_owner, name))
