"""What evaluation did, recorded where it was decided (OPA's tracer is the model).

Coverage, explanations and property strategies read the trace instead of recomputing the
case's facts. Off by default: every recording site is guarded by ``if trace is not None``,
so a plain ``evaluate`` pays nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from labrecog.compile import Policy

__all__ = ["Candidate", "Trace"]

# "blocked": it passed every check, but a result that could not be read may be newer.
Verdict = Literal["used", "rejected", "superseded", "overridden", "identity_conflict", "blocked"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One prior result as one test's candidate, and what became of it."""

    test: str
    result_id: str
    verdict: Verdict


@dataclass(slots=True)
class Trace:
    """Filled by :meth:`labrecog.Engine.evaluate` when passed as ``trace=``."""

    #: the patient's age in completed years at the order, as the rules saw it
    age: int | None = None
    #: per ordered line (in order): the ids of the conditions its flags made match
    conditions: list[tuple[str, ...]] = field(default_factory=list)
    #: per (test, item flags) assessed: the effective policy
    policies: dict[tuple[str, frozenset[str]], Policy] = field(default_factory=dict)
    #: every candidate of every assessed test, freshest first per test
    candidates: list[Candidate] = field(default_factory=list)

    def matched_conditions(self) -> set[str]:
        return {c for ids in self.conditions for c in ids}
