"""One catalogue test in one case: run every check on every candidate, keep the freshest
that passes them all, and explain the rest."""

from __future__ import annotations

from typing import Literal, NamedTuple

from labrecog.check import (
    NOT_RESULTS,
    USABLE_STATUSES,
    CaseFacts,
    Newer,
    check_authorization,
    check_indicator,
    check_institution,
    check_plausible,
    check_reference_range,
    check_status,
    check_time,
    check_unreadable,
    check_value_flags,
    covers,
    freshness,
    limits_results,
    newer_conflict,
    uncovered,
)
from labrecog.compile import CRange, CTest, Policy
from labrecog.decide._trace import Candidate, Trace, Verdict
from labrecog.model import (
    PriorResult,
    Reason,
    UnreadableResult,
    make_reason,
    reason_with_message,
)
from labrecog.words import duration_text

__all__ = ["Authorised", "TestOutcome", "assess_test", "authorised"]


class TestOutcome(NamedTuple):
    code: str
    waived: bool
    result_id: str | None
    reasons: tuple[Reason, ...]
    institution: str | None = None
    max_age: str | None = None
    source: str | None = None


def assess_test(
    test: CTest,
    item_flags: frozenset[str],
    candidates: list[PriorResult],
    conflicts: dict[str, tuple[str, ...]],
    facts: CaseFacts,
    unmapped: list[PriorResult] | None = None,
    trace: Trace | None = None,
    unreadable: list[UnreadableResult] | None = None,
    authorization: Authorised | None = None,
) -> TestOutcome:
    """``candidates``: the shared results measuring ``test``; ``conflicts``: the ids of those
    whose identity is in doubt; ``unmapped``: results measuring no known test (see
    ``check.identity.Index``); ``unreadable``: results an adapter could not read that may
    be of this test (``check._unreadable``); ``authorization``: :func:`authorised` of the
    case, when the caller asked it once for all its tests."""
    policy = facts.policy(test, item_flags)
    if trace is not None:
        trace.policies[(test.code, item_flags)] = policy
    refused, limited = authorization or authorised(facts)
    if refused is not None or not (
        policy.recognisable and policy.exception is None and facts.unhindered(item_flags)
    ):
        blockers = _blockers(test, item_flags, policy, facts, refused)
        if refused is not None:
            # No authorisation that holds: no result is looked at, not even to be named.
            return TestOutcome(test.code, False, None, blockers)
        if blockers:
            return _retest(test.code, blockers, unreadable, facts)
    if limited:
        return _covered(test, policy, candidates, conflicts, facts, unmapped, trace, unreadable)
    return _assess(test, policy, candidates, conflicts, facts, unmapped, trace, unreadable)


# The patient's authorisation, the same for every test of a case: why it does not hold
# (None if it does), and whether it names the institutions or results it covers.
Authorised = tuple[Reason | None, bool]


def authorised(facts: CaseFacts) -> Authorised:
    """What the authorisation checks say of the case: asked once per case, not per test."""
    return check_authorization(facts), limits_results(facts)


def _assess(
    test: CTest,
    policy: Policy,
    candidates: list[PriorResult],
    conflicts: dict[str, tuple[str, ...]],
    facts: CaseFacts,
    unmapped: list[PriorResult] | None,
    trace: Trace | None,
    unreadable: list[UnreadableResult] | None,
) -> TestOutcome:
    """Every check on every candidate: the freshest that passes them all is used."""
    lang = facts.lang
    if not candidates:
        reason = make_reason("no_prior", lang, name=test.name(lang))
        return _retest(test.code, (reason,), unreadable, facts)

    ordered = sorted(candidates, key=freshness, reverse=True) if len(candidates) > 1 else candidates
    # The patient's interval, the same for every candidate (qualitative tests have none).
    local = None if test.qualitative else test.local_range(facts.sex, facts.age)
    plan = _plan(test, policy, local, facts)
    reasons: list[Reason] = []
    used: PriorResult | None = None
    used_value: float | None = None
    # rejected candidates fresher than the one in use, as (prior, value): made Newer only
    # if a candidate is used (most rejected candidates are never looked at again)
    newer: list[tuple[PriorResult, float | None]] = []
    rest = 0
    for i, prior in enumerate(ordered):
        if conflicts and prior.id in conflicts:
            # Not this test's result for sure: nothing else to check.
            reasons.append(_conflict(prior, conflicts[prior.id], facts))
            continue
        value, passed = _checks(prior, test, policy, local, facts, reasons, plan)
        if passed:
            used, used_value, rest = prior, value, i + 1
            break
        newer.append((prior, value))
    if used is None:
        if trace is not None:
            _trace(trace, test.code, conflicts, ordered, "rejected")
        return _retest(test.code, reasons, unreadable, facts)
    if unreadable:
        # A result that could not be read may be newer than the one in use: no waiver.
        blocked: list[Reason] = []
        check_unreadable(unreadable, used, facts, blocked)
        if blocked:
            if trace is not None:
                _trace(trace, test.code, conflicts, ordered[: rest - 1], "rejected")
                trace.candidates.append(Candidate(test.code, used.id, "blocked"))
            return TestOutcome(test.code, False, None, (*blocked, *reasons))
    found = (
        newer_conflict([Newer(*n) for n in newer], used, used_value, test, policy, facts)
        if newer
        else None
    )
    # One message for every eligible result the newer one overrides, as for superseded.
    overridden = None if found is None else make_reason(found.key, lang, **found.params).message
    if overridden is not None:
        reasons.append(reason_with_message("newer_result_conflicts", overridden, used.id))
    if trace is not None:
        _trace(trace, test.code, conflicts, ordered[: rest - 1], "rejected")
        trace.candidates.append(Candidate(test.code, used.id, "overridden" if found else "used"))
    # Older candidates carry their own findings; only one that passes every check is
    # superseded (or, when a newer result conflicts, overridden like the one in use).
    superseded: str | None = None
    for prior in ordered[rest:]:
        if conflicts and prior.id in conflicts:
            reasons.append(_conflict(prior, conflicts[prior.id], facts))
            if trace is not None:
                trace.candidates.append(Candidate(test.code, prior.id, "identity_conflict"))
            continue
        passed = _checks(prior, test, policy, local, facts, reasons, plan)[1]
        if trace is not None:
            verdict: Verdict = ("overridden" if found else "superseded") if passed else "rejected"
            trace.candidates.append(Candidate(test.code, prior.id, verdict))
        if not passed:
            continue
        if overridden is not None:
            reasons.append(reason_with_message("newer_result_conflicts", overridden, prior.id))
            continue
        if superseded is None:
            superseded = make_reason("superseded", lang, used=used.id).message
        reasons.append(reason_with_message("superseded", superseded, prior.id))
    if found is not None:
        return _retest(test.code, reasons, unreadable, facts)
    if unmapped:
        # First: a warning the doctor must see, not one more rejected candidate.
        reasons[:0] = _unmapped(unmapped, used, facts)
    return TestOutcome(
        test.code,
        True,
        used.id,
        tuple(reasons),
        used.institution.id,
        duration_text(policy.max_age),
        policy.max_age_source,
    )


# --- results the patient's authorisation does not cover (issue 11) -----------------------


def _covered(
    test: CTest,
    policy: Policy,
    candidates: list[PriorResult],
    conflicts: dict[str, tuple[str, ...]],
    facts: CaseFacts,
    unmapped: list[PriorResult] | None,
    trace: Trace | None,
    unreadable: list[UnreadableResult] | None,
) -> TestOutcome:
    """The authorisation covers some institutions or results only: the others are named
    (``no_authorization``) and never examined, and one newer than the result that would be
    used keeps the waiver back, as it may say what that one does not (fail closed)."""
    auth = facts.case.authorization
    covered = [p for p in candidates if covers(auth, p)]
    if unmapped:
        unmapped = [p for p in unmapped if covers(auth, p)]
    if len(covered) == len(candidates):
        return _assess(test, policy, candidates, conflicts, facts, unmapped, trace, unreadable)
    withheld = sorted((p for p in candidates if not covers(auth, p)), key=freshness, reverse=True)
    seen = None if trace is None else Trace()
    if covered:
        found = _assess(test, policy, covered, conflicts, facts, unmapped, seen, unreadable)
    else:
        found = _retest(test.code, (), unreadable, facts)
    used = next((p for p in covered if p.id == found.result_id), None) if found.waived else None
    newer = set() if used is None else {p.id for p in withheld if freshness(p) > freshness(used)}
    if seen is not None and trace is not None:
        for fate in seen.candidates:
            blocked = bool(newer) and fate.verdict == "used"
            trace.candidates.append(
                Candidate(fate.test, fate.result_id, "blocked") if blocked else fate
            )
        trace.candidates.extend(Candidate(test.code, p.id, "rejected") for p in withheld)
    named = [uncovered(p, used if p.id in newer else None, facts) for p in withheld]
    if newer:
        return _retest(test.code, named, unreadable, facts)
    return found._replace(reasons=(*found.reasons, *named))


def _retest(
    code: str,
    reasons: tuple[Reason, ...] | list[Reason],
    unreadable: list[UnreadableResult] | None,
    facts: CaseFacts,
) -> TestOutcome:
    """A re-test; the unreadable results of the test, if any, are named after its reasons."""
    if unreadable:
        named = list(reasons)
        check_unreadable(unreadable, None, facts, named)
        return TestOutcome(code, False, None, tuple(named))
    return TestOutcome(code, False, None, tuple(reasons))


def _trace(
    trace: Trace,
    code: str,
    conflicts: dict[str, tuple[str, ...]],
    priors: list[PriorResult],
    verdict: Verdict,
) -> None:
    """Candidates that failed a check (or whose identity is in doubt), in order."""
    for prior in priors:
        fate: Verdict = "identity_conflict" if conflicts and prior.id in conflicts else verdict
        trace.candidates.append(Candidate(code, prior.id, fate))


class _Plan(NamedTuple):
    """The checks that can find something for one test in one case, known before its
    first candidate: the test's compiled plan with the case's policy applied."""

    ranges: bool
    value_flags: bool
    institution: bool


def _plan(
    test: CTest, policy: Policy, local: CRange | Literal[False] | None, facts: CaseFacts
) -> _Plan:
    """Each flag False only where the check could not append a reason for any candidate
    (see check_value_flags, check_reference_range, check_institution)."""
    if test.qualitative:
        flags = test.checks_abnormal_text and policy.abnormal_prior == "reject"
    else:
        flags = (test.checks_critical and policy.critical_prior == "reject") or (
            bool(local) and policy.abnormal_prior == "reject"
        )
    return _Plan(not test.qualitative, flags, facts.rules.checks_institution)


def _checks(
    prior: PriorResult,
    test: CTest,
    policy: Policy,
    local: CRange | Literal[False] | None,
    facts: CaseFacts,
    reasons: list[Reason],
    plan: _Plan,
) -> tuple[float | None, bool]:
    """Run every check on one candidate: its value in the test's unit (plausible or not)
    and whether it passed them all. Each check appends its findings, in this order; the
    plan leaves out the calls that could append nothing."""
    before = len(reasons)
    if prior.status not in USABLE_STATUSES:
        check_status(prior, facts, reasons)
    check_time(prior, policy, facts, reasons)
    value = check_indicator(prior, test, facts, reasons)
    usable = None if value is None else check_plausible(prior, test, value, facts, reasons)
    if plan.ranges:
        check_reference_range(prior, test, policy, local, facts, reasons)
    if plan.value_flags:
        check_value_flags(prior, test, usable, policy, local, facts, reasons)
    if plan.institution:
        check_institution(prior, test, facts, reasons)
    return value, len(reasons) == before


def _unmapped(unmapped: list[PriorResult], used: PriorResult, facts: CaseFacts) -> list[Reason]:
    """Results no catalogue test claims, collected after the one used: named, since one of
    them may be this analyte under a code the rule set does not know."""
    out: list[Reason] = []
    for prior in sorted(unmapped, key=freshness, reverse=True):
        if prior.status not in NOT_RESULTS and (
            used.collected_at < prior.collected_at <= facts.ordered_at
        ):
            ago = duration_text(facts.ordered_at - prior.collected_at)
            code = prior.code or prior.loinc or "-"
            out.append(
                make_reason("unmapped_result", facts.lang, result_id=prior.id, code=code, ago=ago)
            )
    return out


def _blockers(
    test: CTest,
    item_flags: frozenset[str],
    policy: Policy,
    facts: CaseFacts,
    refused: Reason | None,
) -> tuple[Reason, ...]:
    """Why no prior result may be used for this test in this case, whatever it says."""
    lang = facts.lang
    rules = facts.rules
    blockers: list[Reason] = []
    if not policy.recognisable:
        blockers.append(make_reason("not_recognisable", lang, name=test.name(lang)))
    for cond, missing in facts.conditions(item_flags)[1]:
        if cond.targets is None or test.code in cond.targets:
            blockers.append(
                make_reason(
                    "condition_undecidable",
                    lang,
                    source=cond.source,
                    condition=cond.id,
                    missing=missing,
                )
            )
    for flag, exc in facts.exceptions(item_flags):
        if exc.targets is None or test.code in exc.targets:
            blockers.append(
                make_reason(
                    "exception",
                    lang,
                    flag=flag,
                    source=exc.source,
                    name=exc.name(lang),
                )
            )
    if policy.exception is not None:
        # A condition forces this exception on the test. The flag being given too is no
        # reason to drop it: the loop above only reported it if the flag's own targets
        # cover this test, and otherwise giving the flag would let the prior result through.
        exc = rules.exceptions[policy.exception]
        if not (
            (policy.exception in facts.flags or policy.exception in item_flags)
            and (exc.targets is None or test.code in exc.targets)
        ):
            blockers.append(
                make_reason(
                    "exception.condition",
                    lang,
                    flag=exc.flag,
                    source=exc.source,
                    name=exc.name(lang),
                    condition=policy.exception_condition or "",
                )
            )
    if refused is not None:  # check_authorization: why the authorisation does not hold
        blockers.append(refused)
    return tuple(blockers)


def _conflict(prior: PriorResult, tests: tuple[str, ...], facts: CaseFacts) -> Reason:
    return make_reason(
        "identity_conflict" if len(tests) > 1 else "identity_conflict.unknown_loinc",
        facts.lang,
        result_id=prior.id,
        code=prior.code or "-",
        loinc=prior.loinc or "-",
        tests=", ".join(tests),
    )
