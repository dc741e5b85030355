"""One catalogue test in one case: run every check on every candidate, keep the freshest
that passes them all, and explain the rest."""

from __future__ import annotations

from typing import Literal, NamedTuple

from labrecog.check import (
    NOT_RESULTS,
    CaseFacts,
    Newer,
    check_indicator,
    check_institution,
    check_plausible,
    check_reference_range,
    check_status,
    check_time,
    check_value_flags,
    freshness,
    newer_conflict,
)
from labrecog.compile import CRange, CTest, Policy
from labrecog.decide._trace import Candidate, Trace, Verdict
from labrecog.model import PriorResult, Reason, make_reason, reason_with_message
from labrecog.words import duration_text

__all__ = ["TestOutcome", "assess_test"]


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
) -> TestOutcome:
    """``candidates``: the shared results measuring ``test``; ``conflicts``: the ids of those
    whose identity is in doubt; ``unmapped``: results measuring no known test (see
    ``check.identity.Index``)."""
    lang = facts.lang
    policy = facts.policy(test, item_flags)
    if trace is not None:
        trace.policies[(test.code, item_flags)] = policy
    if not (policy.recognisable and policy.exception is None and facts.unhindered(item_flags)):
        blockers = _blockers(test, item_flags, policy, facts)
        if blockers:
            return TestOutcome(test.code, False, None, blockers)
    if not candidates:
        reason = make_reason("no_prior", lang, name=test.name(lang))
        return TestOutcome(test.code, False, None, (reason,))

    ordered = sorted(candidates, key=freshness, reverse=True) if len(candidates) > 1 else candidates
    # The patient's interval, the same for every candidate (qualitative tests have none).
    local = None if test.qualitative else test.local_range(facts.sex, facts.age)
    reasons: list[Reason] = []
    used: PriorResult | None = None
    used_value: float | None = None
    newer: list[Newer] = []  # rejected candidates fresher than the one in use
    rest = 0
    for i, prior in enumerate(ordered):
        if conflicts and prior.id in conflicts:
            # Not this test's result for sure: nothing else to check.
            reasons.append(_conflict(prior, conflicts[prior.id], facts))
            continue
        value, passed = _checks(prior, test, policy, local, facts, reasons)
        if passed:
            used, used_value, rest = prior, value, i + 1
            break
        newer.append(Newer(prior, value))
    if used is None:
        if trace is not None:
            _trace(trace, test.code, conflicts, ordered, "rejected")
        return TestOutcome(test.code, False, None, tuple(reasons))
    found = newer_conflict(newer, used, used_value, test, policy, facts) if newer else None
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
        passed = _checks(prior, test, policy, local, facts, reasons)[1]
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
        return TestOutcome(test.code, False, None, tuple(reasons))
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


def _checks(
    prior: PriorResult,
    test: CTest,
    policy: Policy,
    local: CRange | Literal[False] | None,
    facts: CaseFacts,
    reasons: list[Reason],
) -> tuple[float | None, bool]:
    """Run every check on one candidate: its value in the test's unit (plausible or not)
    and whether it passed them all. Each check appends its findings."""
    before = len(reasons)
    check_status(prior, facts, reasons)
    check_time(prior, policy, facts, reasons)
    value = check_indicator(prior, test, facts, reasons)
    usable = check_plausible(prior, test, value, facts, reasons)
    check_reference_range(prior, test, policy, local, facts, reasons)
    check_value_flags(prior, test, usable, policy, local, facts, reasons)
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
    test: CTest, item_flags: frozenset[str], policy: Policy, facts: CaseFacts
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
    if rules.recognition.require_authorization and not facts.case.authorization.granted:
        blockers.append(make_reason("no_authorization", lang))
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
