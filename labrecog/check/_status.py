"""Only results a lab has signed off may be recognised (FHIR Observation.status)."""

from __future__ import annotations

from labrecog.check._facts import CaseFacts
from labrecog.model import PriorResult, Reason, make_reason

__all__ = ["NOT_RESULTS", "USABLE_STATUSES", "check_status"]

USABLE_STATUSES = frozenset({"final", "amended", "corrected"})
#: Not results at all, not even as evidence: nothing measured yet, or withdrawn by the lab.
NOT_RESULTS = frozenset({"registered", "cancelled", "entered-in-error"})


def check_status(prior: PriorResult, facts: CaseFacts, out: list[Reason]) -> None:
    if prior.status not in USABLE_STATUSES:
        out.append(
            make_reason("result_status", facts.lang, result_id=prior.id, status=prior.status)
        )
