"""Check 5, authorisation: does the patient's authorisation hold for this order, and which
of their results does it cover?

One authorisation per visit (一次就医、一次授权): it holds when it was granted no later than
the order, has not expired by the order time, and, when bound to a visit, the order is in
that visit. An order that does not say its visit cannot prove it: fail closed. The
reference time is the order's, never the clock. Consulted only when the rule set requires
authorisation; what labrecog cannot see (the code's validity, the visit's end) is its
issuer's to check.
"""

from __future__ import annotations

from datetime import datetime

from labrecog.check._facts import CaseFacts
from labrecog.model import Authorization, PriorResult, Reason, make_reason

__all__ = ["check_authorization", "covers", "limits_results", "uncovered", "within"]


def within(ordered: datetime, granted_at: datetime | None, expires_at: datetime | None) -> bool:
    """``granted_at <= ordered < expires_at``, each bound only if given: granted at the
    order's instant, it holds; at its expiry instant, it no longer does."""
    return (granted_at is None or granted_at <= ordered) and (
        expires_at is None or ordered < expires_at
    )


def check_authorization(facts: CaseFacts) -> Reason | None:
    """Why the case's authorisation does not hold for this order; None if it holds or the
    rule set does not ask for one. Time first (the most specific words), then the grant,
    then the visit."""
    if not facts.rules.recognition.require_authorization:
        return None
    auth = facts.case.authorization
    lang, ordered = facts.lang, facts.ordered_at
    when = ordered.isoformat()
    if auth.expires_at is not None and not ordered < auth.expires_at:
        return make_reason(
            "no_authorization.expired", lang, when=auth.expires_at.isoformat(), ordered=when
        )
    if auth.granted_at is not None and ordered < auth.granted_at:
        return make_reason(
            "no_authorization.not_yet", lang, when=auth.granted_at.isoformat(), ordered=when
        )
    if not auth.granted:
        return make_reason("no_authorization", lang)
    if auth.encounter is None:
        return None
    visit = facts.case.context.encounter
    if visit is None:
        return make_reason("no_authorization.no_visit", lang, bound=auth.encounter)
    if visit != auth.encounter:
        key = (
            "no_authorization.visit_ended"
            if auth.ends_with_visit
            else "no_authorization.other_visit"
        )
        return make_reason(key, lang, bound=auth.encounter, visit=visit)
    return None


def limits_results(facts: CaseFacts) -> bool:
    """Whether the authorisation names the institutions or results it covers (and the rule
    set asks for one): only then can a result be left out for not being covered."""
    auth = facts.case.authorization
    return facts.rules.recognition.require_authorization and (
        auth.institutions is not None or auth.results is not None
    )


def covers(auth: Authorization, prior: PriorResult) -> bool:
    """Whether the authorisation covers this result: both lists, where given, name it."""
    return (auth.institutions is None or prior.institution.id in auth.institutions) and (
        auth.results is None or prior.id in auth.results
    )


def uncovered(prior: PriorResult, used: PriorResult | None, facts: CaseFacts) -> Reason:
    """The one thing said of a result the authorisation does not cover: that it is not.
    Nothing else of it is looked at; ``used``: the older result it keeps from use."""
    if used is not None:
        return make_reason("no_authorization.newer", facts.lang, result_id=prior.id, used=used.id)
    return make_reason("no_authorization.result", facts.lang, result_id=prior.id)
