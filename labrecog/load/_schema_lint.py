"""Rule-file keys that steer the linter, not decisions: ``policy:`` and ``lint:`` (docs/lint.md).

Neither changes what the engine decides, so neither is part of the rule set's digest
(load/_ruleset.py): adding a cap or a justified ignore does not make past decisions look as
if another rule set had made them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

from labrecog.load._schema_values import RuleModel, SourcedDuration

__all__ = ["DIGEST_FREE_KEYS", "LintSettings", "RulePolicy"]

#: top-level keys left out of the digest: they change no decision
DIGEST_FREE_KEYS = ("policy", "lint")

_CapKey = Annotated[str, Strict(), Field(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})$")]
# a code or prefix ("P006", "C"), optionally the subject of one finding ("C003 a b")
_LintCode = Annotated[str, Strict(), Field(pattern=r"^[A-Z][0-9]{0,3}( [A-Za-z0-9_.*\-\[\]]+)*$")]
_Why = Annotated[str, Strict(), Field(min_length=10, max_length=500)]


class RulePolicy(RuleModel):
    """Limits the rule set must keep, declared by its authors; ``lint`` checks them (P001)."""

    max_age_cap: dict[_CapKey, SourcedDuration] = Field(
        default_factory=dict,
        description="the longest max_age allowed, per category name or '*' for every test "
        "(the national or provincial limit), each with its source",
    )


class LintSettings(RuleModel):
    """Findings the rule set's authors have looked at and accept, each with the reason."""

    ignore: dict[_LintCode, _Why] = Field(
        default_factory=dict,
        description="lint code or prefix, or a code and the subject of one finding (its "
        "conditions, tests or key, as `labrecog lint --format json` gives them) -> why "
        "it does not apply to this rule set",
    )
