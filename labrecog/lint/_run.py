"""Lint one rule set: load and compile it once, collect every finding, prove each witness."""

from __future__ import annotations

from pathlib import Path

from labrecog._errors import InternalError
from labrecog.authoring import build_case
from labrecog.compile import CompiledRules, compile_rules
from labrecog.decide import Trace
from labrecog.engine import Engine
from labrecog.lint._conditions import condition_findings
from labrecog.lint._findings import Finding, select
from labrecog.lint._policy import policy_findings
from labrecog.load import LoadedRuleset, load_ruleset
from labrecog.words import Lang

__all__ = ["lint_delta", "lint_loaded", "lint_path", "witness_applies"]


def lint_path(path: str | Path, lang: Lang = "en") -> list[Finding]:
    """Every finding of the rule set at ``path``; raises RulesetError if it does not load."""
    loaded = load_ruleset(path)
    folder = Path(path) if Path(path).is_dir() else None
    return lint_loaded(loaded, compile_rules(loaded), lang, folder)


def lint_loaded(
    loaded: LoadedRuleset, rules: CompiledRules, lang: Lang = "en", folder: Path | None = None
) -> list[Finding]:
    findings = [
        *condition_findings(loaded, rules, lang),
        *policy_findings(loaded, rules, lang, folder),
    ]
    engine = Engine(rules)
    for f in findings:
        if f.witness is not None and not witness_applies(engine, f.witness, f.subject):
            # A witness is the linter's proof; one that does not hold is a linter bug,
            # never a finding to show an author.
            raise InternalError(f"lint {f.code}: the witness of {f.subject} does not apply")
    return sorted(findings, key=Finding.sort_key)


def witness_applies(engine: Engine, spec: dict[str, object], conditions: tuple[str, ...]) -> bool:
    """Evaluate the witness case: every named condition matched its ordered line."""
    trace = Trace()
    engine.evaluate(build_case(spec, engine.rules), trace=trace)
    matched = trace.matched_conditions()
    return all(c in matched for c in conditions)


def _kept(path: str | Path, lang: Lang) -> list[Finding]:
    """What ``labrecog lint PATH`` shows: the rule set's own justified ignores applied."""
    loaded = load_ruleset(path)
    folder = Path(path) if Path(path).is_dir() else None
    found = lint_loaded(loaded, compile_rules(loaded), lang, folder)
    return select(found, ("",), tuple(loaded.rules.lint.ignore))[0]


def lint_delta(
    old: str | Path, new: str | Path, lang: Lang = "en"
) -> tuple[list[Finding], list[Finding]]:
    """(added, removed): findings of ``new`` that ``old`` did not have, and the reverse.

    A finding is the same across versions when its code and subject (the conditions,
    tests or keys it is about) are, wherever the edit moved it in the files."""
    before, after = _kept(old, lang), _kept(new, lang)
    old_keys = {(f.code, f.subject) for f in before}
    new_keys = {(f.code, f.subject) for f in after}
    added = [f for f in after if (f.code, f.subject) not in old_keys]
    removed = [f for f in before if (f.code, f.subject) not in new_keys]
    return added, removed
