"""The whole order: tests and panels, in the order they were ordered, with savings.

An analyte ordered twice (alone and inside a panel, or twice alone) is saved once: single
tests are credited first, then panels, so the total does not depend on the order of lines.
"""

from __future__ import annotations

from decimal import Decimal

from labrecog.check import CaseFacts, Index, index_priors, index_unreadable
from labrecog.compile import CPanel
from labrecog.decide._item import Authorised, TestOutcome, assess_test, authorised
from labrecog.decide._trace import Trace
from labrecog.model import (
    Decision,
    DecisionItem,
    OrderedItem,
    Reason,
    RulesetRef,
    Status,
    WaivedComponent,
    make_reason,
    with_test,
)

__all__ = ["decide_order"]

_ZERO = Decimal(0)


class _Order:
    def __init__(
        self, facts: CaseFacts, wanted: frozenset[str], trace: Trace | None = None
    ) -> None:
        self.facts = facts
        self.trace = trace
        self.rules = facts.rules
        self.index: Index = index_priors(facts.rules, facts.case.prior_results, wanted)
        # Results an adapter could not read, by test; nothing to do (the usual case) if none.
        unreadable = facts.case.unreadable_results
        self.unreadable = index_unreadable(facts.rules, unreadable, wanted) if unreadable else {}
        self.authorised: Authorised = authorised(facts)  # the same for every test
        self.outcomes: dict[tuple[str, frozenset[str]], TestOutcome] = {}
        self.credited: dict[str, str] = {}  # analyte or panel code -> ordered code credited
        self.quantum = facts.rules.quantum
        self.nothing = self.money(_ZERO)  # the saving of every re-tested line

    def outcome(self, code: str, flags: frozenset[str]) -> TestOutcome:
        key = (code, flags)
        found = self.outcomes.get(key)
        if found is None:
            test = self.rules.tests[code]
            by_test, conflicts, unmapped = self.index
            found = assess_test(
                test,
                flags,
                by_test.get(code, []),
                conflicts,
                self.facts,
                unmapped,
                self.trace,
                self.unreadable.get(code) if self.unreadable else None,
                self.authorised,
            )
            self.outcomes[key] = found
        return found

    def money(self, amount: Decimal) -> str:
        return str(amount.quantize(self.quantum))

    def duplicate(self, code: str, other: str) -> Reason:
        name = self.rules.tests[code].name(self.facts.lang) if code in self.rules.tests else code
        return make_reason("duplicate_order", self.facts.lang, test=code, name=name, other=other)

    def retest(self, ordered: OrderedItem, reasons: tuple[Reason, ...]) -> DecisionItem:
        return DecisionItem._trusted(
            code=ordered.code,
            status="retest",
            saving=self.nothing,
            result_id=None,
            institution=None,
            max_age=None,
            source=None,
            waived=None,
            retest=None,
            reasons=reasons,
            ext=ordered.ext,
        )

    def single(self, ordered: OrderedItem, code: str) -> DecisionItem:
        result = self.outcome(code, frozenset(ordered.flags))
        if not result.waived:
            return self.retest(ordered, result.reasons)
        saving = self.rules.tests[code].price
        reasons = result.reasons
        if code in self.credited:
            saving = _ZERO
            reasons = (*reasons, self.duplicate(code, self.credited[code]))
        else:
            self.credited[code] = ordered.code
        return DecisionItem._trusted(
            code=ordered.code,
            status="waive",
            saving=self.money(saving),
            result_id=result.result_id,
            institution=result.institution,
            max_age=result.max_age,
            source=result.source,
            waived=None,
            retest=None,
            reasons=reasons,
            ext=ordered.ext,
        )

    def panel(self, ordered: OrderedItem, panel: CPanel) -> DecisionItem:
        flags = frozenset(ordered.flags)
        waived: list[TestOutcome] = []
        retest: list[TestOutcome] = []
        reasons: list[Reason] = []
        for code in panel.components:
            result = self.outcome(code, flags)
            if result.waived:
                waived.append(result)
            else:
                retest.append(result)
            reasons.extend([with_test(r, code) for r in result.reasons])
        tests = self.rules.tests
        status: Status
        if not retest:
            status, base = "waive", panel.price
        elif waived and panel.partial:
            status = "partial"
            base = max(_ZERO, panel.price - sum((tests[r.code].price for r in retest), _ZERO))
        else:
            status, base = "retest", _ZERO
            panel_name = panel.name(self.facts.lang)
            for r in waived:
                reasons.append(
                    make_reason(
                        "partial_not_allowed",
                        self.facts.lang,
                        result_id=r.result_id,
                        test=r.code,
                        name=tests[r.code].name(self.facts.lang),
                        panel=panel_name,
                    )
                )
        saving = base
        if status != "retest":
            if panel.code in self.credited:
                saving = _ZERO
                reasons.append(self.duplicate(panel.code, self.credited[panel.code]))
            else:
                self.credited[panel.code] = ordered.code
                for r in waived:
                    if r.code in self.credited:
                        saving -= tests[r.code].price
                        reasons.append(self.duplicate(r.code, self.credited[r.code]))
                    else:
                        self.credited[r.code] = ordered.code
                saving = max(_ZERO, saving)
        return DecisionItem._trusted(
            code=ordered.code,
            status=status,
            saving=self.money(saving),
            result_id=None,
            institution=None,
            max_age=None,
            source=None,
            waived=(
                tuple(
                    [
                        WaivedComponent._trusted(
                            code=r.code, result_id=r.result_id or "", institution=r.institution
                        )
                        for r in waived
                    ]
                )
                if status != "retest"
                else None
            ),
            retest=tuple([r.code for r in retest]) if status == "partial" else None,
            reasons=tuple(reasons),
            ext=ordered.ext,
        )


def decide_order(facts: CaseFacts, trace: Trace | None = None) -> Decision:
    """The decision for the case ``facts`` describe; ``trace``, if given, records how."""
    rules = facts.rules
    if trace is not None:
        trace.age = facts.age
        for ordered in facts.case.tests:
            matched = facts.conditions(frozenset(ordered.flags))[0]
            trace.conditions.append(tuple(c.id for c in matched))
    lines = facts.case.tests
    codes = [rules.order_codes.get(ordered.code) for ordered in lines]  # resolved once
    wanted: set[str] = set()
    for code in codes:
        if code in rules.panels:
            wanted.update(rules.panels[code].components)
        elif code is not None:
            wanted.add(code)
    order = _Order(facts, frozenset(wanted), trace)
    items: list[DecisionItem | None] = [None] * len(lines)
    panels: list[tuple[int, OrderedItem, CPanel]] = []
    for i, (ordered, code) in enumerate(zip(lines, codes, strict=True)):
        if code is None:
            reason = make_reason("unknown_test", facts.lang, code=ordered.code, ruleset=rules.id)
            items[i] = order.retest(ordered, (reason,))
        elif code in rules.panels:
            panels.append((i, ordered, rules.panels[code]))
        else:
            items[i] = order.single(ordered, code)
    for i, ordered, panel in panels:
        items[i] = order.panel(ordered, panel)
    done = tuple(item for item in items if item is not None)
    # Lines that save nothing add nothing: the total is quantised like every saving.
    total = sum((Decimal(item.saving) for item in done if item.saving != order.nothing), _ZERO)
    return Decision._trusted(
        order_id=facts.case.order_id,
        patient_id=facts.case.patient.id,
        ruleset=RulesetRef._trusted(id=rules.id, version=rules.version, digest=rules.digest),
        currency=rules.currency,
        saving=order.money(total),
        to_order=_to_order(done),
        items=done,
        ext=facts.case.ext,
    )


def _to_order(items: tuple[DecisionItem, ...]) -> tuple[str, ...]:
    """What stays to be tested, read off the items just made: a retest line's code as
    ordered, a partial panel's remaining components (the panel itself is not ordered
    whole), one entry per line so the list maps back onto the items."""
    out: list[str] = []
    for item in items:
        if item.status == "retest":
            out.append(item.code)
        elif item.retest:
            out.extend(item.retest)
    return tuple(out)
