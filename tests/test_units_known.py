"""labrecog/units/_known.py holds pint's outcomes for what the shipped rule sets and their
example batches ask, so that start-up skips the UCUM registry (issue 21). It must be
exactly what pint says now, and complete for those runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from labrecog.units import _convert, conversion
from tests.known_units import ROOT, TARGET, measure, render


def test_the_recorded_outcomes_are_what_pint_says_now() -> None:
    fresh = render(*measure())
    assert fresh == TARGET.read_text(encoding="utf-8"), (
        "labrecog/units/_known.py is stale: run `python -m tests.known_units`"
    )


def test_the_shipped_rule_sets_and_their_examples_never_build_the_registry() -> None:
    code = textwrap.dedent(
        """
        import contextlib
        from labrecog import Engine, InputError
        from labrecog.units import _convert
        from tests.known_units import EXAMPLES, ROOT, _lines
        for rules, cases in EXAMPLES:
            engine = Engine.from_path(ROOT / "labrecog" / "rulesets" / rules)
            for raw in _lines(ROOT / "examples" / cases):
                with contextlib.suppress(InputError):
                    engine.evaluate_json(raw)
        print(_convert._tools is None)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True", out.stderr


def test_a_unit_outside_the_table_still_goes_to_pint() -> None:
    key = ("umol/dL", "mmol/L", None, None)
    assert key not in _convert.KNOWN_CONVERSIONS
    assert abs(conversion("umol/dL", "mmol/L").factor - 0.01) < 1e-15
