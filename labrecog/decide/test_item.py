"""One catalogue test in one case: run every check on every candidate, keep the freshest
that passes them all, and explain the rest."""

from __future__ import annotations

from dataclasses import dataclass

from labrecog.check.facts import CaseFacts
from labrecog.check.identity import Candidate, freshness
from labrecog.check.indicator import check_indicator, check_value_flags
from labrecog.check.institution import check_institution
from labrecog.check.reference_range import check_reference_range
from labrecog.check.status import check_status
from labrecog.check.timing import check_time
from labrecog.compile.compiled import CTest
from labrecog.model.decision import Reason
from labrecog.output.messages import format_duration
from labrecog.output.reasons import make_reason, reason_with_message

__all__ = ["TestOutcome", "assess_test"]


@dataclass(frozen=True, slots=True)
class TestOutcome:
    code: str
    waived: bool
    result_id: str | None
    reasons: tuple[Reason, ...]
    institution: str | None = None
    max_age: str | None = None
    source: str | None = None


def assess_test(
    test: CTest, item_flags: frozenset[str], candidates: list[Candidate], facts: CaseFacts
) -> TestOutcome:
    lang = facts.lang
    name = test.name(lang)
    policy = facts.policy(test, item_flags)
    blockers: list[Reason] = []
    if not policy.recognisable:
        blockers.append(make_reason("not_recognisable", lang, name=name))
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
    rules = facts.rules
    for flag in sorted(facts.flags | item_flags):
        exc = rules.exceptions.get(flag)
        if exc is not None and (exc.targets is None or test.code in exc.targets):
            blockers.append(
                make_reason(
                    "exception",
                    lang,
                    flag=flag,
                    source=exc.source,
                    name=exc.name_zh if lang == "zh" else exc.name_en,
                )
            )
    if policy.exception is not None and policy.exception not in facts.flags | item_flags:
        exc = rules.exceptions[policy.exception]
        blockers.append(
            make_reason(
                "exception.condition",
                lang,
                flag=exc.flag,
                source=exc.source,
                name=exc.name_zh if lang == "zh" else exc.name_en,
                condition=policy.exception_condition or "",
            )
        )
    if rules.recognition.require_authorization and not facts.case.authorization.granted:
        blockers.append(make_reason("no_authorization", lang))
    if blockers:
        return TestOutcome(test.code, False, None, tuple(blockers))
    if not candidates:
        return TestOutcome(test.code, False, None, (make_reason("no_prior", lang, name=name),))

    ordered = sorted(candidates, key=freshness, reverse=True) if len(candidates) > 1 else candidates
    used: Candidate | None = None
    superseded = ""
    reasons: list[Reason] = []
    for cand in ordered:
        prior = cand.prior
        if used is not None:
            # Older than the result in use: it would not be used whatever its checks say.
            reasons.append(reason_with_message("superseded", superseded, prior.id))
            continue
        found: list[Reason] = []
        if cand.conflict:
            found.append(
                make_reason(
                    "identity_conflict"
                    if len(cand.conflict) > 1
                    else "identity_conflict.unknown_loinc",
                    lang,
                    result_id=prior.id,
                    code=prior.code or "-",
                    loinc=prior.loinc or "-",
                    tests=", ".join(cand.conflict),
                )
            )
            reasons.extend(found)  # not this test's result for sure: nothing else to check
            continue
        check_status(prior, facts, found)
        check_time(prior, policy, facts, found)
        value = check_indicator(prior, test, facts, found)
        check_reference_range(prior, test, policy, facts, found)
        check_value_flags(prior, test, value, policy, facts, found)
        check_institution(prior, test, facts, found)
        if found:
            reasons.extend(found)
        else:
            used = cand
            superseded = make_reason("superseded", lang, used=prior.id).message
    if used is None:
        return TestOutcome(test.code, False, None, tuple(reasons))
    return TestOutcome(
        test.code,
        True,
        used.prior.id,
        tuple(reasons),
        used.prior.institution.id,
        format_duration(policy.max_age),
        policy.max_age_source,
    )
