"""Acceptance: one changed max_age, price, reference range, plausible limit or delta limit of a
shipped rule set breaks a test.

The generic form of ``test_rule_mutations.py`` (which covers ``rules/demo``) for every other
shipped rule set, ``rules/*/`` except ``demo``. For each YAML file of the folder (not
``tests/``), each entry of its ``tests:`` list gets:

* ``max_age`` halved; a test without its own gets an explicit one, half of its effective
  max_age (``Engine.from_path(folder).rules.tests[code].policy.max_age``);
* ``price`` + 1.00 (both shipped currencies, CNY and GBP, have two minor-unit digits);
* each reference-range bound shifted up by 30 % of the range's width (of the bound itself
  when the range is one-sided).

Each entry of a ``panels:`` list gets its price + 1.00. Each mutation edits one value of a
copy of the folder, loads the mutated rule set once, runs the rule set's own
``tests/*.yaml`` through the library and expects at least one failure. Only the tests that
order the mutated test or panel (or a panel holding the test) are run: no other decision
can change, and reading the other test files was most of a mutation's cost.

Sampling (runtime, ~0.3 s per mutation, serial): of a sex-specific reference range only the
first entry is mutated, and of a two-sided range only one bound, alternating low/high from one
two-sided range to the next in file order (a one-sided range has its one bound mutated).
max_age and price mutations are applied to every test and panel.

Safety limits (``test_safety_mutation_is_killed``): each bound of a test's ``plausible:`` and
its ``delta:`` limit are moved both ways, wider and narrower, one mutation each:

* a plausible bound by twice the margin the rule set's ``tests/safety.yaml`` uses around it:
  10 % of the bound (the cases sit 5 % outside and inside it), or, for a bound of 0, 2 % of
  the test's largest reference or critical bound (the cases sit at ±1 %);
* a delta limit (absolute or relative) × 0.7 and × 1.4 (the cases put the newer result at
  0.8 × and 1.25 × the limit).

These mutate the compiled rule set (the test's ``plausible_low``/``plausible_high``, or its
policy's delta limit) instead of a YAML copy, and run only the cases that order that test,
alone or in a panel: no other decision can depend on it. The cases are built once from the
unmutated rule set (plausible and delta limits are no input of the case builder), so one
mutation costs milliseconds instead of a YAML round trip and a compile; one mutation is
also checked through the YAML path to give the same failures.

A test with ``recognisable: false`` is skipped: it is re-tested whatever its prior, so its
values never reach a decision and no rule-set test can notice them changing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from labrecog.authoring.cases import TestCase
from labrecog.authoring.runner import find_test_files, load_tests, run_tests
from labrecog.engine import Engine

RULES = Path(__file__).resolve().parent.parent / "rules"
SHIPPED = sorted(p for p in RULES.iterdir() if p.is_dir() and p.name != "demo")

Mutation = Callable[[dict[str, Any]], None]

# The copies are read and written with libyaml when PyYAML has it (about ten times faster than
# the pure-Python loader and dumper on the larger catalogues; same safe schema). The rule set
# itself is still loaded by labrecog's own loader, and test_unmutated_copy_passes checks that
# the round trip changes nothing.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _load(path: Path) -> Any:
    return yaml.load(path.read_text("utf-8"), Loader=_LOADER)


def _entry(data: dict[str, Any], kind: str, code: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in data[kind] if e["code"] == code)
    return found


def _max_age(code: str, hours: float) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        entry = _entry(data, "tests", code)
        old = entry.get("max_age")
        source = old.get("source") if isinstance(old, dict) else None
        entry["max_age"] = {"value": f"{hours:g}h", **({"source": source} if source else {})}

    return _concerning_code(apply, code)


def _concerning_code(apply: Mutation, code: str) -> Mutation:
    """Mark a mutation with the catalogue code it changes (see ``_keep_concerning``)."""
    apply.concern = code  # type: ignore[attr-defined]
    return apply


def _price(kind: str, code: str) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        entry = _entry(data, kind, code)
        price = entry["price"]
        if isinstance(price, dict):
            price["value"] = str(Decimal(str(price["value"])) + Decimal("1.00"))
        else:
            entry["price"] = str(Decimal(str(price)) + Decimal("1.00"))

    return _concerning_code(apply, code)


def _shift(code: str, index: int | None, bound: str, delta: float) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        rng = _entry(data, "tests", code)["reference_range"]
        target = rng if index is None else rng[index]
        target[bound] = round(target[bound] + delta, 6)

    return _concerning_code(apply, code)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if p.is_file())


def _params() -> list[Any]:
    out: list[Any] = []
    for folder in SHIPPED:
        engine = Engine.from_path(folder)
        two_sided = 0
        for path in _files(folder):
            data = _load(path) or {}
            if not isinstance(data, dict):
                continue
            for test in data.get("tests") or []:
                if not isinstance(test, dict) or "code" not in test:
                    continue
                code = test["code"]
                marks = []
                if test.get("recognisable") is False:
                    marks = [
                        pytest.mark.skip(
                            reason="recognisable: false — re-tested whatever its prior, so "
                            "its values never reach a decision"
                        )
                    ]

                def param(
                    mutate: Mutation,
                    label: str,
                    folder: Path = folder,
                    name: str = path.name,
                    marks: tuple[Any, ...] = tuple(marks),
                ) -> None:
                    out.append(
                        pytest.param(folder, name, mutate, id=f"{folder.name}-{label}", marks=marks)
                    )

                effective: timedelta = engine.rules.tests[code].policy.max_age
                half = effective.total_seconds() / 3600 / 2
                kind = "half" if "max_age" in test else "explicit-half"
                param(_max_age(code, half), f"{code}-max_age-{kind}")
                if "price" in test:
                    param(_price("tests", code), f"{code}-price+1")
                rng = test.get("reference_range")
                if rng is None:
                    entries: list[tuple[int | None, dict[str, Any]]] = []
                elif isinstance(rng, dict):
                    entries = [(None, rng)]
                else:
                    entries = [(0, rng[0])]  # sampling: first sex-specific entry only
                for index, entry in entries:
                    low, high = entry.get("low"), entry.get("high")
                    if low is not None and high is not None:
                        width = high - low
                        bounds = [("low", "high")[two_sided % 2]]  # sampling: alternate
                        two_sided += 1
                    else:
                        width = high if high is not None else low
                        bounds = ["low" if low is not None else "high"]
                    label = code if index is None else f"{code}-{entry.get('sex', index)}"
                    for bound in bounds:
                        mutate = _shift(code, index, bound, 0.3 * width)
                        param(mutate, f"{label}-{bound}+30%")
            for panel in data.get("panels") or []:
                if isinstance(panel, dict) and "price" in panel:
                    out.append(
                        pytest.param(
                            folder,
                            path.name,
                            _price("panels", panel["code"]),
                            id=f"{folder.name}-panel-{panel['code']}-price+1",
                        )
                    )
    return out


def _run(folder: Path, name: str, mutate: Mutation | None, tmp_path: Path) -> list[Any]:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    data = _load(folder / name)
    if mutate is not None:
        mutate(data)
        _keep_concerning(copy, folder, mutate.concern)  # type: ignore[attr-defined]
    text = yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False)
    (copy / name).write_text(text, "utf-8")
    engine = Engine.from_path(copy)
    return list(run_tests(engine, load_tests(engine, find_test_files(copy))).failures)


def _keep_concerning(copy: Path, folder: Path, code: str) -> None:
    """Drop from the copy's test files every test that orders neither ``code`` nor a panel
    holding it (nor, for a panel, the panel): changing one test's or panel's value can
    change no other decision, so those tests cannot kill the mutation, and reading them is
    most of the time a mutation costs."""
    rules = _engine(folder).rules

    def concerns(ordered: Any) -> bool:
        given = ordered.get("code") if isinstance(ordered, dict) else ordered
        target = rules.order_codes.get(str(given))
        return target == code or (
            target in rules.panels and code in rules.panels[target].components
        )

    for path in sorted((copy / "tests").glob("*.yaml")):
        tests = _load(path) or []
        kept = [
            t for t in tests if any(concerns(o) for o in ((t.get("case") or {}).get("order") or []))
        ]
        if kept:
            path.write_text(yaml.dump(kept, Dumper=_DUMPER, allow_unicode=True), "utf-8")
        else:
            path.unlink()


def _bounds_scale(test: dict[str, Any]) -> float:
    """The largest reference or critical bound of a catalogue entry (its scale near 0)."""
    rng = test.get("reference_range")
    entries = [] if rng is None else [rng] if isinstance(rng, dict) else list(rng)
    entries.append(test.get("critical") or {})
    return float(max(abs(e[k]) for e in entries for k in ("low", "high") if e.get(k) is not None))


#: A safety mutation: (test code, "plausible_low" | "plausible_high" | "delta_absolute" |
#: "delta_relative", the mutated value).
Safety = tuple[str, str, float]


def _safety_params() -> list[Any]:
    out: list[Any] = []
    for folder in SHIPPED:
        for path in _files(folder):
            data = _load(path) or {}
            if not isinstance(data, dict):
                continue
            for test in data.get("tests") or []:
                if not isinstance(test, dict) or test.get("recognisable") is False:
                    continue
                code = test["code"]

                def param(
                    field: str, value: float, label: str, code: str = code, folder: Path = folder
                ) -> None:
                    mutation: Safety = (code, field, round(value, 9))
                    out.append(pytest.param(folder, mutation, id=f"{folder.name}-{code}-{label}"))

                plausible = test.get("plausible") or {}
                for bound, outward in (("low", -1.0), ("high", 1.0)):
                    value = plausible.get(bound)
                    if value is None:
                        continue
                    shift = 0.1 * abs(value) if value != 0 else 0.02 * _bounds_scale(test)
                    for label, sign in (("wider", outward), ("narrower", -outward)):
                        param(
                            f"plausible_{bound}", value + sign * shift, f"plausible-{bound}-{label}"
                        )
                delta = test.get("delta") or {}
                for field in ("absolute", "relative"):
                    limit = delta.get(field)
                    if limit is None:
                        continue
                    for label, factor in (("wider", 1.4), ("narrower", 0.7)):
                        param(f"delta_{field}", limit * factor, f"delta-{field}-{label}")
    return out


@cache
def _engine(folder: Path) -> Engine:
    return Engine.from_path(folder)


@cache
def _cases(folder: Path) -> Sequence[TestCase]:
    engine = _engine(folder)
    return tuple(load_tests(engine, find_test_files(folder)))


def _mutated(folder: Path, mutation: Safety) -> Engine:
    """The compiled rule set with one test's limit changed, as compiling the YAML with that
    value would give (a test's own ``delta:`` is in its compiled policy; conditions layer
    on top of it at evaluation). Memos start empty: they hold policies built from the old
    value."""
    code, field, value = mutation
    rules = _engine(folder).rules
    test = rules.tests[code]
    if field.startswith("delta_"):
        changed = replace(test, policy=replace(test.policy, **{field: value}))
    else:
        changed = replace(test, **{field: value})
    return Engine(
        replace(
            rules,
            tests={**rules.tests, code: changed},
            policy_memo={},
            condition_memo={},
            institution_memo={},
            _pattern_memo={},
        )
    )


def _concerning(folder: Path, code: str) -> list[TestCase]:
    """The cases that order ``code``, alone or in a panel: no other decision can change
    when only that test's limits do."""
    rules = _engine(folder).rules
    out = []
    for case in _cases(folder):
        for item in case.case.get("tests", []):
            ordered = rules.order_codes.get(item.get("code", ""))
            if ordered == code or (
                ordered in rules.panels and code in rules.panels[ordered].components
            ):
                out.append(case)
                break
    return out


@pytest.mark.parametrize(("folder", "name", "mutate"), _params())
def test_mutation_is_killed(folder: Path, name: str, mutate: Mutation, tmp_path: Path) -> None:
    failures = _run(folder, name, mutate, tmp_path)
    assert failures, f"mutation survived: no test in rules/{folder.name}/tests failed"


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        pytest.param(f, p.name, id=f"{f.name}-{p.name}")
        for f in SHIPPED
        for p in _files(f)
        if isinstance(_load(p), dict) and {"tests", "panels"} & set(_load(p))
    ],
)
def test_unmutated_copy_passes(folder: Path, name: str, tmp_path: Path) -> None:
    """The YAML round trip itself changes nothing, so every failure above is the mutation's."""
    failures = _run(folder, name, None, tmp_path)
    assert not failures, [str(f) for f in failures]


@pytest.mark.parametrize(("folder", "mutation"), _safety_params())
def test_safety_mutation_is_killed(folder: Path, mutation: Safety) -> None:
    cases = _concerning(folder, mutation[0])
    failures = list(run_tests(_mutated(folder, mutation), cases).failures)
    assert failures, f"mutation survived: no test in rules/{folder.name}/tests failed"


#: Rule sets whose every quantitative test must declare plausible and delta limits (issue 17).
SAFETY_LIMITED = ("cn-reference", "uk-mri")


def test_every_quantitative_test_has_safety_limits() -> None:
    """Every quantitative catalogue test of these rule sets declares both limits, so the
    safety mutations above cover the whole catalogue."""
    missing = [
        f"{folder.name}:{test['code']}"
        for folder in (RULES / name for name in SAFETY_LIMITED)
        for path in _files(folder)
        for test in ((_load(path) or {}).get("tests") or [])
        if test.get("scale", "quantitative") == "quantitative"
        and not ("plausible" in test and "delta" in test)
    ]
    assert not missing


def test_the_unmutated_compiled_copy_passes_and_a_real_mutation_matches() -> None:
    """The copy the safety mutations start from decides every case as the rule set does,
    and a YAML-level mutation agrees with the compiled one (checked on one limit)."""
    for folder in SHIPPED:
        rules = _engine(folder).rules
        code = next(c for c, t in rules.tests.items() if t.plausible_high is not None)
        same = (code, "plausible_high", rules.tests[code].plausible_high)
        assert not list(run_tests(_mutated(folder, same), list(_cases(folder))).failures)
    folder = RULES / "cn-reference"
    name = next(p.name for p in _files(folder) if "tests" in (_load(p) or {}))
    k = _entry(_load(folder / name), "tests", "K")
    high = float(k["plausible"]["high"])

    def widen(data: dict[str, Any]) -> None:
        _entry(data, "tests", "K")["plausible"]["high"] = round(high * 1.1, 9)

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        by_yaml = _run(folder, name, _concerning_code(widen, "K"), Path(tmp))
    by_compiled = run_tests(
        _mutated(folder, ("K", "plausible_high", round(high * 1.1, 9))), list(_cases(folder))
    ).failures

    def key(failures: Sequence[Any]) -> list[tuple[str, str, tuple[str, ...]]]:
        return sorted((f.test, f.code, f.differences) for f in failures)

    assert by_yaml and key(by_yaml) == key(by_compiled)
