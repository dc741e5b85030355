"""Makes labrecog/units/_known.py: pint's outcome for every unit and conversion that
compiling the shipped rule sets and evaluating their example batches ask for, so that
neither builds the UCUM registry. Run ``python -m tests.known_units`` after a rule set's
units or the examples change; tests/test_units_known.py fails until then.
"""

from __future__ import annotations

import contextlib
import gzip
import sys
from pathlib import Path
from typing import Any

from labrecog import Engine, InputError
from labrecog.compile import compile_rules
from labrecog.load import load_ruleset
from labrecog.units import _convert

ROOT = Path(__file__).resolve().parent.parent
RULESETS = sorted(p for p in (ROOT / "labrecog" / "rulesets").iterdir() if p.is_dir())
TARGET = ROOT / "labrecog" / "units" / "_known.py"

Key = tuple[str, str, float | None, str | None]
# The example batches (examples/README.md): the units results are reported in.
EXAMPLES = [
    ("demo", "cases.jsonl"),
    ("cn-reference", "cn-reference.jsonl.gz"),
    ("uk-mri", "uk-mri.jsonl.gz"),
    ("us-retest", "us-retest.jsonl.gz"),
]


def _lines(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).splitlines()


def measure() -> tuple[set[str], dict[Key, tuple[Any, ...]]]:
    """Compile every shipped rule set with the recorded outcomes switched off, noting what
    is asked; then ask pint for each outcome afresh."""
    asked: tuple[set[str], set[Key]] = (set(), set())
    _convert._conversion.cache_clear()
    _convert._parse.cache_clear()
    _convert._RECORDED = asked
    try:
        for path in RULESETS:
            compile_rules(load_ruleset(path))
        for rules, cases in EXAMPLES:  # the spellings the bundled examples report
            engine = Engine.from_path(ROOT / "labrecog" / "rulesets" / rules)
            for raw in _lines(ROOT / "examples" / cases):
                with contextlib.suppress(InputError):
                    engine.evaluate_json(raw)
        units = {u for u in asked[0] if not isinstance(_convert._parse(u), _convert._Refusal)}
        outcomes: dict[Key, tuple[Any, ...]] = {}
        for key in asked[1]:
            found = _convert._conversion.__wrapped__(*key)
            if isinstance(found, _convert.Conversion):
                outcomes[key] = (found.factor, found.offset)
            else:
                outcomes[key] = (found.code, found.message)
    finally:
        _convert._RECORDED = None
        _convert._conversion.cache_clear()
    return units, outcomes


def render(units: set[str], outcomes: dict[Key, tuple[Any, ...]]) -> str:
    ordered = sorted(outcomes.items(), key=repr)
    lines = [
        '"""pint\'s outcomes for the units and conversions the shipped rule sets declare and',
        "their example batches report, so that loading those rule sets and evaluating such",
        "results never builds the UCUM registry (about half a second of every start); any",
        "other unit still goes to pint. Made by ``python -m tests.known_units``, never by",
        "hand; tests/test_units_known.py asks pint for every entry again and fails on any",
        'difference, and fails when those runs would still need pint."""',
        "",
        "# ruff: noqa: E501",
        "# fmt: off",
        "from labrecog._errors import UnitErrorCode",
        "",
        "Key = tuple[str, str, float | None, str | None]  # source, target, molar mass, equation",
        "",
        "KNOWN_UNITS: frozenset[str] = frozenset({",
        *(f"    {u!r}," for u in sorted(units)),
        "})",
        "# (factor, offset)",
        "KNOWN_CONVERSIONS: dict[Key, tuple[float, float]] = {",
        *(f"    {k!r}: {v!r}," for k, v in ordered if type(v[0]) is float),
        "}",
        "KNOWN_REFUSALS: dict[Key, tuple[UnitErrorCode, str]] = {",
        *(f"    {k!r}: {v!r}," for k, v in ordered if type(v[0]) is str),
        "}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    TARGET.write_text(render(*measure()), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
