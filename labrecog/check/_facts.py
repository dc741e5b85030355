"""What the checks need to know about a case, computed once per case.

Conditional rules are matched here. A condition whose clause needs data the case lacks
(no birth date for an age band, say) is *undecidable*: the tests it targets are re-tested,
because guessing either way could loosen a rule that was meant to apply.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from labrecog.compile import CCondition, CException, CompiledRules, CTest, Policy
from labrecog.model import Case, completed_years
from labrecog.words import Lang

__all__ = ["CaseFacts", "Matches"]

Matches = tuple[tuple[CCondition, ...], tuple[tuple[CCondition, str], ...]]

_MEMO_LIMIT = 4096


@dataclass(slots=True)
class CaseFacts:
    rules: CompiledRules
    case: Case
    lang: Lang
    ordered_at: datetime
    order_date: date
    age: int | None
    sex: str | None
    region: str | None
    level: int | None
    flags: frozenset[str]
    matched: tuple[CCondition, ...]
    undecidable: tuple[tuple[CCondition, str], ...]
    _policies: dict[tuple[str, frozenset[str]], Policy] = field(default_factory=dict)
    _by_flags: dict[frozenset[str], Matches] = field(default_factory=dict)
    _raised: dict[frozenset[str], tuple[tuple[str, CException], ...]] = field(default_factory=dict)
    _unhindered: dict[frozenset[str], bool] = field(default_factory=dict)
    # check/_institution.py's memo for this case's side of the order (see there)
    institution_memo: dict[tuple[object, ...], tuple[Any, ...]] | None = None

    @classmethod
    def of(cls, rules: CompiledRules, case: Case, lang: Lang) -> CaseFacts:
        ordered_at = case.ordered_at
        # Calendar questions (age, registry expiry) are asked in the rule set's zone.
        local = ordered_at.astimezone(rules.timezone) if rules.timezone else ordered_at
        order_date = local.date()
        birth = case.patient.birth_date
        age = completed_years(birth, order_date) if birth is not None else None
        if age is not None and age < 0:
            age = None
        sex = case.patient.sex if case.patient.sex in ("male", "female") else None
        # What the case leaves out of the ordering institution, its entry in the rule set's
        # registry says (a FHIR order often names it by identifier only).
        inst = case.institution
        entry = (
            rules.institutions.get(inst.id) if inst.region is None or inst.level is None else None
        )
        facts = cls(
            rules=rules,
            case=case,
            lang=lang,
            ordered_at=ordered_at,
            order_date=order_date,
            age=age,
            sex=sex,
            region=inst.region if inst.region is not None or entry is None else entry.region,
            level=inst.level if inst.level is not None or entry is None else entry.level,
            flags=frozenset(case.context.flags),
            matched=(),
            undecidable=(),
        )
        facts.matched, facts.undecidable = facts._matches(facts.flags)
        return facts

    def conditions(self, item_flags: frozenset[str]) -> Matches:
        """Conditions matched with an ordered item's own flags added to the order's."""
        if not item_flags:
            return self.matched, self.undecidable
        found = self._by_flags.get(item_flags)
        if found is None:
            found = self._matches(self.flags | item_flags)
            self._by_flags[item_flags] = found
        return found

    def exceptions(self, item_flags: frozenset[str]) -> tuple[tuple[str, CException], ...]:
        """The exceptions the order's and the item's flags raise, by flag, in flag order."""
        found = self._raised.get(item_flags)
        if found is None:
            known = self.rules.exceptions
            found = tuple(
                (flag, known[flag]) for flag in sorted(self.flags | item_flags) if flag in known
            )
            self._raised[item_flags] = found
        return found

    def unhindered(self, item_flags: frozenset[str]) -> bool:
        """No condition is undecidable, no exception raised, and the patient authorised use:
        nothing but a test's own policy can bar the use of a prior result (the common case).
        """
        found = self._unhindered.get(item_flags)
        if found is None:
            found = (
                not self.conditions(item_flags)[1]
                and not self.exceptions(item_flags)
                and (
                    self.case.authorization.granted
                    or not self.rules.recognition.require_authorization
                )
            )
            self._unhindered[item_flags] = found
        return found

    def _matches(self, flags: frozenset[str]) -> Matches:
        conditions = self.rules.conditions
        if not conditions:
            return (), ()
        # Everything _match looks at; the age only as the band between two age bounds of
        # the rule set's conditions, within which every age clause answers alike.
        case = self.case
        age = None if self.age is None else bisect_right(self.rules.age_bounds, self.age)
        key = (flags, case.context.setting, case.institution.id, self.sex, age, self.level,
               self.region)  # fmt: skip
        memo = self.rules.condition_memo
        found: Matches | None = memo.get(key)
        if found is None:
            found = self._match_all(flags)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = found
        return found

    def _match_all(self, flags: frozenset[str]) -> Matches:
        matched: list[CCondition] = []
        undecidable: list[tuple[CCondition, str]] = []
        for cond in self.rules.conditions:
            verdict = self._match(cond, flags)
            if verdict is True:
                matched.append(cond)
            elif verdict is not False:
                undecidable.append((cond, verdict))
        return tuple(matched), tuple(undecidable)

    def _match(self, cond: CCondition, flags: frozenset[str]) -> bool | str:
        """True, False, or the name of the missing datum that makes it undecidable."""
        missing: str | None = None
        if cond.settings:
            setting = self.case.context.setting
            if setting is None:
                missing = "context.setting"
            elif setting not in cond.settings:
                return False
        if cond.flags_any and not (cond.flags_any & flags):
            return False
        if cond.flags_all and not cond.flags_all <= flags:
            return False
        if cond.flags_none & flags:
            return False
        if cond.institutions and self.case.institution.id not in cond.institutions:
            return False
        if cond.sex is not None:
            if self.sex is None:
                missing = "patient.sex"
            elif self.sex != cond.sex:
                return False
        if cond.age_min is not None or cond.age_max is not None:
            if self.age is None:
                missing = missing or "patient.birth_date"
            elif (cond.age_min is not None and self.age < cond.age_min) or (
                cond.age_max is not None and self.age >= cond.age_max
            ):
                return False
        if cond.levels:
            if self.level is None:
                missing = missing or "institution.level"
            elif self.level not in cond.levels:
                return False
        if cond.regions:
            if self.region is None:
                missing = missing or "institution.region"
            elif not any(self.region.startswith(r) for r in cond.regions):
                return False
        return missing if missing is not None else True

    def policy(self, test: CTest, item_flags: frozenset[str] = frozenset()) -> Policy:
        """Defaults < category < test < matching conditions in file order (later wins)."""
        matched = self.conditions(item_flags)[0] if item_flags else self.matched
        if not matched:
            return test.policy  # no condition matched: the compiled policy as it is
        key = (test.code, item_flags)
        found = self._policies.get(key)
        if found is None:
            code = test.code
            applying = [c for c in matched if c.targets is None or code in c.targets]
            # The same conditions apply to many cases: layer them once per rule set.
            memo = self.rules.policy_memo
            memo_key = (code, tuple(map(id, applying)))
            found = memo.get(memo_key)
            if found is None:
                found = test.policy
                for cond in applying:
                    found = cond.override.apply(found, cond.id)
                if len(memo) < _MEMO_LIMIT:
                    memo[memo_key] = found
            self._policies[key] = found
        return found
