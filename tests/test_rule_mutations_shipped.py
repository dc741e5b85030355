"""Acceptance: one changed max_age, price or reference range of a shipped rule set breaks a test.

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
``tests/*.yaml`` through the library and expects at least one failure.

Sampling (runtime, ~0.3 s per mutation, serial): of a sex-specific reference range only the
first entry is mutated, and of a two-sided range only one bound, alternating low/high from one
two-sided range to the next in file order (a one-sided range has its one bound mutated).
max_age and price mutations are applied to every test and panel.

A test with ``recognisable: false`` is skipped: it is re-tested whatever its prior, so its
values never reach a decision and no rule-set test can notice them changing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

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

    return apply


def _price(kind: str, code: str) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        entry = _entry(data, kind, code)
        price = entry["price"]
        if isinstance(price, dict):
            price["value"] = str(Decimal(str(price["value"])) + Decimal("1.00"))
        else:
            entry["price"] = str(Decimal(str(price)) + Decimal("1.00"))

    return apply


def _shift(code: str, index: int | None, bound: str, delta: float) -> Mutation:
    def apply(data: dict[str, Any]) -> None:
        rng = _entry(data, "tests", code)["reference_range"]
        target = rng if index is None else rng[index]
        target[bound] = round(target[bound] + delta, 6)

    return apply


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
    text = yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False)
    (copy / name).write_text(text, "utf-8")
    engine = Engine.from_path(copy)
    return list(run_tests(engine, load_tests(engine, find_test_files(copy))).failures)


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
