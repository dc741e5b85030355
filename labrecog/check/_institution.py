"""Check 4, institution: level, region, recognition mark and quality assessment.

The HR mark is itself evidence of a passed quality assessment for that item; a registry
in the rule set, when present, is authoritative over what a result claims.
"""

from __future__ import annotations

from typing import Any

from labrecog.check._facts import CaseFacts
from labrecog.compile import CTest
from labrecog.model import Institution, PriorResult, Reason, make_reason, reason_with_message

__all__ = ["check_institution", "region_covers"]

_MEMO_LIMIT = 65_536


def region_covers(scope: str, region: str | None, ordering: str | None) -> bool:
    """Whether a scope ('*', same_province, same_city, a code prefix) admits ``region``."""
    if scope == "*":
        return True
    if region is None:
        return False
    if scope == "same_province":
        return ordering is not None and region[:2] == ordering[:2]
    if scope == "same_city":
        return ordering is not None and len(region) >= 4 and region[:4] == ordering[:4]
    return region.startswith(scope)


def check_institution(prior: PriorResult, test: CTest, facts: CaseFacts, out: list[Reason]) -> None:
    # Labs, marks and tests repeat across a batch: judge each combination once per rule
    # set. The keys hold everything the findings depend on, so the memo only saves work.
    memo = facts.institution_memo
    if memo is None:
        memo = facts.institution_memo = _memo(facts)
    inst = prior.institution
    iid = inst.id  # read once: a model's attribute read is not free
    entry = facts.rules.institutions.get(iid)
    key: tuple[object, ...]
    if entry is None:
        key = (iid, inst.level, inst.region, prior.mark, test.code)
    else:
        until = entry.valid_until
        expired = until is not None and until < facts.order_date
        if entry.level is not None and entry.region is not None:
            key = (iid, prior.mark, test.code, expired)  # the registry decides
        else:
            key = (iid, inst.level, inst.region, prior.mark, test.code, expired)
    found = memo.get(key)
    if found is None:
        reasons = _findings(inst, prior.mark, test, facts)
        # kept as (code, message, source): each use makes its own Reason with the result id
        found = tuple((r.code, r.message, r.source) for r in reasons)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = found
    if found:
        rid = prior.id
        for code, message, source in found:
            out.append(reason_with_message(code, message, rid, None, None, source))


def _memo(facts: CaseFacts) -> dict[tuple[object, ...], tuple[Any, ...]]:
    """The rule set's memo for the ordering side of this case: its region, level, language."""
    memos = facts.rules.institution_memo
    side = (facts.region, facts.level, facts.lang)
    memo = memos.get(side)
    if memo is None:
        if len(memos) >= _MEMO_LIMIT:
            memos.clear()
        memo = memos.setdefault(side, {})
    return memo


def _findings(
    inst: Institution, mark: str | None, test: CTest, facts: CaseFacts
) -> tuple[Reason, ...]:
    rules = facts.rules
    rec = rules.recognition
    lang = facts.lang
    out: list[Reason] = []
    entry = rules.institutions.get(inst.id)
    level, region = inst.level, inst.region
    quality_failed = False
    if entry is not None:
        level = entry.level if entry.level is not None else level
        region = entry.region if entry.region is not None else region
    elif rules.institutions and rec.reject_unlisted:
        out.append(make_reason("quality_not_assured.unlisted", lang, institution=inst.id))
        quality_failed = True

    if rec.min_level is not None or rec.same_or_higher:
        if level is None:
            out.append(make_reason("institution_level.unknown", lang, institution=inst.id))
        else:
            required = rec.min_level or 1
            if rec.same_or_higher:
                if facts.level is None:
                    out.append(make_reason("institution_level.ordering_unknown", lang))
                else:
                    required = max(required, facts.level)
            if level < required:
                out.append(make_reason("institution_level", lang, level=level, required=required))

    if "*" not in rec.regions:
        if region is None:
            out.append(make_reason("institution_region.unknown", lang, institution=inst.id))
        elif not any(region_covers(s, region, facts.region) for s in rec.regions):
            out.append(
                make_reason(
                    "institution_region",
                    lang,
                    region=region,
                    scope=", ".join(rec.regions),
                )
            )

    mark_ok = False
    if mark is not None and mark.strip():
        scope = rec.mark_scope(mark)
        if scope is None:
            if rec.mark_required:
                out.append(
                    make_reason(
                        "mark_missing.unknown",
                        lang,
                        mark=mark,
                        allowed=", ".join(rec.mark_scopes) or "-",
                    )
                )
        elif _mark_covers(scope, region, facts.region):
            mark_ok = True
        else:
            out.append(
                make_reason(
                    "institution_region.mark_scope",
                    lang,
                    mark=mark,
                    region=facts.region or "?",
                )
            )
    elif rec.mark_required:
        out.append(make_reason("mark_missing", lang))

    if entry is not None:
        if test.code in entry.withdrawn:
            out.append(
                make_reason(
                    "quality_not_assured.withdrawn",
                    lang,
                    institution=inst.id,
                    name=test.name(lang),
                )
            )
            quality_failed = True
        if entry.valid_until is not None and entry.valid_until < facts.order_date:
            out.append(
                make_reason(
                    "quality_not_assured.expired",
                    lang,
                    institution=inst.id,
                    until=entry.valid_until.isoformat(),
                )
            )
            quality_failed = True
    if rec.quality_required and not quality_failed:
        listed = entry is not None and (entry.passed_all or test.code in entry.passed)
        if not (mark_ok or listed):
            out.append(
                make_reason(
                    "quality_not_assured",
                    lang,
                    institution=inst.id,
                    name=test.name(lang),
                )
            )

    return tuple(out)


def _mark_covers(scope: str, issuer: str | None, ordering: str | None) -> bool:
    """A mark's scope must cover the *ordering* institution: 本省HR from the same province,
    a city mark (a region prefix) only where the order is placed in that city."""
    if scope in ("same_province", "same_city"):
        return ordering is not None and region_covers(scope, issuer, ordering)
    return region_covers(scope, ordering, ordering)
