"""Step 2 of the pipeline: turn a validated rule file into lookup tables.

Semantic checks live here because they need the whole rule set at once: codes that must
exist, names that must be unique, panels that must not contain themselves, and units that
must reach each test's canonical unit. Every problem is collected before raising.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from labrecog._errors import RulesetError, RulesetProblem
from labrecog.compile._codes import code_tables
from labrecog.compile._compiled import (
    CCondition,
    CException,
    CInstitution,
    CompiledRules,
    CPanel,
    CTest,
    Override,
    Policy,
    RecognitionPolicy,
    mark_key,
)
from labrecog.compile._safety import (
    check_layer_delta,
    check_plausible,
    delta_override,
    loinc_specimens,
)
from labrecog.compile._tests import compile_test
from labrecog.load import LoadedRuleset, RuleFile, did_you_mean, problem_at
from labrecog.load import Policy as PolicyModel

__all__ = ["MINOR_DIGITS", "compile_rules"]

#: ISO 4217 minor digits for currencies whose minor unit is not the usual 2.
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3, "OMR": 3}

_BUILTIN_DEFAULTS = Policy(
    max_age=timedelta(days=7),
    max_age_source="labrecog built-in default",
    tolerance=0.10,
    tolerance_source="labrecog built-in default",
    reference_range_required=True,
    abnormal_prior="allow",
    critical_prior="reject",
    recognisable=True,
)


class _Problems:
    def __init__(self, loaded: LoadedRuleset) -> None:
        self.loaded = loaded
        self.items: list[RulesetProblem] = []

    def add(self, path: Sequence[str | int], message: str) -> None:
        self.items.append(problem_at(self.loaded.position(path), message))


def _override(
    model: PolicyModel, exception: str | None = None, source: str | None = None
) -> Override:
    """One layer of policy; ``source`` is the layer's own provenance, used as a fallback."""
    return Override(
        max_age=model.max_age.value if model.max_age else None,
        max_age_source=(model.max_age.source or source) if model.max_age else None,
        tolerance=(
            model.reference_range_tolerance.value if model.reference_range_tolerance else None
        ),
        tolerance_source=(
            (model.reference_range_tolerance.source or source)
            if model.reference_range_tolerance
            else None
        ),
        reference_range_required=model.reference_range_required,
        abnormal_prior=model.abnormal_prior,
        critical_prior=model.critical_prior,
        recognisable=model.recognisable,
        exception=exception,
        **delta_override(model.delta, source),
    )


def compile_rules(loaded: LoadedRuleset) -> CompiledRules:
    """Build the tables; raises RulesetError with every semantic problem found."""
    rules = loaded.rules
    problems = _Problems(loaded)
    quantum = Decimal(1).scaleb(-MINOR_DIGITS.get(rules.currency, 2))

    timezone = None
    if rules.timezone is not None:
        try:
            timezone = ZoneInfo(rules.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a folder: OSError
            problems.add(("timezone",), f"unknown time zone '{rules.timezone}'")

    base = _override(rules.defaults).apply(_BUILTIN_DEFAULTS)
    check_layer_delta(rules.defaults.delta, ("defaults",), problems.add)
    for name, cat in rules.categories.items():
        check_layer_delta(cat.delta, ("categories", name), problems.add)
    for i, cond in enumerate(rules.conditions):
        check_layer_delta(cond.set.delta, ("conditions", i, "set"), problems.add)
    categories = {name: _override(cat) for name, cat in rules.categories.items()}
    for name in rules.policy.max_age_cap:
        if name != "*" and name not in categories:
            hint = did_you_mean(name, categories)
            problems.add(("policy", "max_age_cap", name), f"unknown category '{name}'{hint}")
    test_codes = {t.code for t in rules.tests}
    panel_codes = {p.code for p in rules.panels}

    order_codes, result_codes, loinc = code_tables(rules, problems.add, loaded.position)
    specimen_names = _specimen_names(rules, problems)
    tests: dict[str, CTest] = {}
    patterns: list[tuple[re.Pattern[str], str]] = []
    for i, test in enumerate(rules.tests):
        if test.category is not None and test.category not in categories:
            hint = did_you_mean(test.category, categories)
            problems.add(("tests", i, "category"), f"unknown category '{test.category}'{hint}")
        policy = base
        if test.category in categories:
            policy = categories[test.category].apply(policy)
        policy = _override(test, source=test.source).apply(policy)
        _check_price(problems, ("tests", i, "price"), test.price.value, quantum)
        if (
            not test.qualitative_scale
            and not test.reference_range
            and (policy.reference_range_required)
        ):
            problems.add(
                ("tests", i, "code"),
                f"{test.code} has no reference_range, so no result could ever be recognised: "
                "give one, or set reference_range_required: false",
            )
        check_plausible(test, ("tests", i), problems.add)
        tests[test.code] = compile_test(test, i, policy, problems.add, specimen_names)
        for j, text in enumerate(test.code_patterns):
            try:
                patterns.append((re.compile(text), test.code))
            except re.error as exc:
                problems.add(("tests", i, "code_patterns", j), f"bad regular expression: {exc}")

    panels = _compile_panels(rules, test_codes, panel_codes, quantum, problems)
    exceptions = _compile_exceptions(rules, test_codes, problems)
    known_flags = frozenset(rules.exceptions) | frozenset(rules.flags)
    for name in set(rules.exceptions) & set(rules.flags):
        problems.add(("flags", name), f"'{name}' is both an exception and a plain flag")
    institutions = _compile_institutions(rules, test_codes, problems)
    loinc_systems = loinc_specimens(rules, loinc, problems.add)
    conditions = _compile_conditions(rules, test_codes, known_flags, problems)

    if problems.items:
        raise RulesetError(problems.items)
    rec = rules.recognition
    return CompiledRules(
        id=rules.id,
        version=rules.version,
        digest=loaded.digest,
        currency=rules.currency,
        quantum=quantum,
        timezone=timezone,
        language=rules.language,
        tests=tests,
        panels=panels,
        order_codes=order_codes,
        result_codes=result_codes,
        loinc=loinc,
        patterns=tuple(patterns),
        recognition=RecognitionPolicy(
            min_level=rec.min_institution_level,
            same_or_higher=rec.level_rule == "same_or_higher",
            regions=rec.regions,
            mark_required=rec.mark.required,
            mark_scopes={mark_key(k): v for k, v in rec.mark.scopes.items()},
            quality_required=rec.quality_assessment == "required",
            require_authorization=rec.require_authorization,
            reject_unlisted=rec.unlisted_institutions == "reject",
        ),
        exceptions=exceptions,
        flags=known_flags,
        institutions=institutions,
        conditions=conditions,
        files=loaded.files,
        loinc_specimens=loinc_systems,
    )


def _check_price(
    problems: _Problems, path: tuple[str | int, ...], price: Decimal, quantum: Decimal
) -> None:
    if price != price.quantize(quantum):
        problems.add(path, f"price {price} has more decimals than the currency allows")


def _specimen_names(rules: RuleFile, problems: _Problems) -> dict[str, frozenset[str]]:
    """Specimen name -> every spelling a result may use for it (血清 for serum)."""
    names: dict[str, frozenset[str]] = {}
    owner: dict[str, str] = {}
    for name, aliases in rules.specimens.items():
        spellings = {name.casefold(), *(a.casefold() for a in aliases)}
        for spelling in spellings:
            if owner.setdefault(spelling, name) != name:
                problems.add(
                    ("specimens", name),
                    f"specimen spelling '{spelling}' also names '{owner[spelling]}'",
                )
        names[name.casefold()] = frozenset(spellings)
    return names


def _compile_panels(
    rules: RuleFile,
    test_codes: set[str],
    panel_codes: set[str],
    quantum: Decimal,
    problems: _Problems,
) -> dict[str, CPanel]:
    direct = {p.code: p.components for p in rules.panels}
    for i, panel in enumerate(rules.panels):
        _check_price(problems, ("panels", i, "price"), panel.price.value, quantum)
        for j, comp in enumerate(panel.components):
            if comp not in test_codes and comp not in panel_codes:
                hint = did_you_mean(comp, test_codes | panel_codes)
                problems.add(("panels", i, "components", j), f"unknown component '{comp}'{hint}")

    def flatten(code: str, trail: tuple[str, ...]) -> list[str] | None:
        out: list[str] = []
        for comp in direct.get(code, ()):
            if comp in trail:
                return None
            if comp in direct:
                inner = flatten(comp, (*trail, comp))
                if inner is None:
                    return None
                out.extend(inner)
            elif comp in test_codes:
                out.append(comp)
        return out

    panels: dict[str, CPanel] = {}
    for i, panel in enumerate(rules.panels):
        flat = flatten(panel.code, (panel.code,))
        if flat is None:
            problems.add(("panels", i, "components"), f"panel {panel.code} contains itself")
            continue
        unique = tuple(dict.fromkeys(flat))
        name_en = (panel.name.en if panel.name else None) or panel.code
        panels[panel.code] = CPanel(
            code=panel.code,
            name_en=name_en,
            name_zh=(panel.name.zh if panel.name else None) or name_en,
            components=unique,
            price=panel.price.value,
            partial=panel.partial == "allowed",
        )
    return panels


def _targets(
    tests: Iterable[str],
    categories: Iterable[str],
    rules: RuleFile,
    test_codes: set[str],
    problems: _Problems,
    path: tuple[str | int, ...],
) -> frozenset[str] | None:
    tests = tuple(tests)
    categories = tuple(categories)
    if not tests and not categories:
        return None
    out: set[str] = set()
    for j, code in enumerate(tests):
        if code not in test_codes:
            hint = did_you_mean(code, test_codes)
            problems.add((*path, "tests", j), f"unknown test '{code}'{hint}")
        out.add(code)
    for j, cat in enumerate(categories):
        if cat not in rules.categories:
            hint = did_you_mean(cat, rules.categories)
            problems.add((*path, "categories", j), f"unknown category '{cat}'{hint}")
        out.update(t.code for t in rules.tests if t.category == cat)
    return frozenset(out)


def _compile_exceptions(
    rules: RuleFile, test_codes: set[str], problems: _Problems
) -> dict[str, CException]:
    return {
        flag: CException(
            flag=flag,
            name_en=exc.en,
            name_zh=exc.zh,
            targets=_targets(
                exc.tests, exc.categories, rules, test_codes, problems, ("exceptions", flag)
            ),
            source=exc.source,
        )
        for flag, exc in rules.exceptions.items()
    }


def _compile_institutions(
    rules: RuleFile, test_codes: set[str], problems: _Problems
) -> dict[str, CInstitution]:
    out: dict[str, CInstitution] = {}
    for i, entry in enumerate(rules.institutions):
        if entry.id in out:
            problems.add(("institutions", i, "id"), f"institution '{entry.id}' is listed twice")
        for field in ("passed", "withdrawn"):
            for j, code in enumerate(getattr(entry.quality, field)):
                if code != "*" and code not in test_codes:
                    hint = did_you_mean(code, test_codes)
                    problems.add(
                        ("institutions", i, "quality", field, j), f"unknown test '{code}'{hint}"
                    )
        out[entry.id] = CInstitution(
            id=entry.id,
            level=entry.level,
            region=entry.region,
            passed=frozenset(entry.quality.passed),
            passed_all="*" in entry.quality.passed,
            withdrawn=frozenset(entry.quality.withdrawn),
            valid_until=entry.valid_until,
        )
    return out


def _compile_conditions(
    rules: RuleFile, test_codes: set[str], known_flags: frozenset[str], problems: _Problems
) -> tuple[CCondition, ...]:
    out: list[CCondition] = []
    seen: set[str] = set()
    for i, cond in enumerate(rules.conditions):
        path: tuple[str | int, ...] = ("conditions", i)
        if cond.id in seen:
            problems.add((*path, "id"), f"condition id '{cond.id}' is used twice")
        seen.add(cond.id)
        flags = cond.when.flags
        if flags is not None:
            for part in ("any", "all", "none"):
                for j, flag in enumerate(getattr(flags, part)):
                    if flag not in known_flags:
                        hint = did_you_mean(flag, known_flags)
                        problems.add(
                            (*path, "when", "flags", part, j), f"unknown flag '{flag}'{hint}"
                        )
        exception = cond.set.exception
        if exception is not None and exception not in rules.exceptions:
            hint = did_you_mean(exception, rules.exceptions)
            problems.add((*path, "set", "exception"), f"unknown exception '{exception}'{hint}")
        age = cond.when.age
        out.append(
            CCondition(
                id=cond.id,
                settings=frozenset(cond.when.setting),
                flags_any=frozenset(flags.any) if flags else frozenset(),
                flags_all=frozenset(flags.all) if flags else frozenset(),
                flags_none=frozenset(flags.none) if flags else frozenset(),
                sex=cond.when.sex,
                age_min=age.min if age else None,
                age_max=age.max if age else None,
                institutions=frozenset(cond.when.institution),
                levels=frozenset(cond.when.institution_level),
                regions=cond.when.region,
                targets=_targets(cond.tests, cond.categories, rules, test_codes, problems, path),
                override=_override(cond.set, exception, cond.source),
                source=cond.source,
            )
        )
    return tuple(out)
