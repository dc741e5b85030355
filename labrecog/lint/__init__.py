"""Static analysis of a rule set (``labrecog lint``): what its own tests cannot find.

Conditions are reasoned about over the condition language (``_space``): overlap and
shadowing are decided exactly, and each finding about two conditions carries a witness
case, checked by evaluating it. Policy findings list what a hospital must look at.
"""

from __future__ import annotations

from labrecog.lint._conditions import ConditionPair, overlap, settings_of
from labrecog.lint._findings import CODES, SEVERITY_RANK, Finding, Severity, select
from labrecog.lint._output import as_json, as_sarif, as_text, finding_record
from labrecog.lint._run import lint_delta, lint_loaded, lint_path, witness_applies
from labrecog.lint._space import Space, space_of

__all__ = [
    "CODES",
    "SEVERITY_RANK",
    "ConditionPair",
    "Finding",
    "Severity",
    "Space",
    "as_json",
    "as_sarif",
    "as_text",
    "finding_record",
    "lint_delta",
    "lint_loaded",
    "lint_path",
    "overlap",
    "select",
    "settings_of",
    "space_of",
    "witness_applies",
]
