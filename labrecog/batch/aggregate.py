"""Counters over a decisions file: what ``labrecog report`` shows, without keeping records.

Memory grows with the number of distinct tests, institutions, reason codes and rule sets,
never with the number of lines, except for an 8-byte digest per distinct order id (about
80 bytes with the set's overhead) kept to notice an order counted twice (a decisions file
concatenated with itself): a year of decisions is summarised in one pass.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["UNREADABLE_SAMPLES", "Aggregate", "Money", "format_rate", "money_dict"]

UNREADABLE_SAMPLES = 5
"""How many unreadable lines are remembered by number (the count is always exact)."""

_STATUSES = ("waive", "partial", "retest")
# The engine writes money as plain decimal strings ("12.00"); anything else (NaN, "1e3",
# negative) is not a decision we can add up honestly.
_MONEY = re.compile(r"\d+(?:\.\d+)?\Z")
_RATE_PLACES = Decimal("0.0001")

Money = dict[str, Decimal]
"""Amounts per currency: different currencies are never added together."""


def money_dict(money: Money) -> dict[str, str]:
    """Decimal strings, sorted by currency, so the JSON is stable."""
    return {currency: str(money[currency]) for currency in sorted(money)}


def format_rate(part: int, whole: int) -> str | None:
    """A share as a decimal string with four places; ``None`` when there is nothing to share."""
    if whole == 0:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(_RATE_PLACES))


def _add_money(money: Money, currency: str, amount: Decimal) -> None:
    money[currency] = money.get(currency, Decimal(0)) + amount


class _NotDecision(ValueError):
    """The record is not shaped like a §5 decision; the message says where."""


@dataclass(slots=True)
class _TestRow:
    count: int = 0
    status: Counter[str] = field(default_factory=Counter)
    saving: Money = field(default_factory=dict)


@dataclass(slots=True)
class _InstitutionRow:
    single_tests: int = 0
    panel_components: int = 0
    saving: Money = field(default_factory=dict)


@dataclass(slots=True)
class _ReasonRow:
    items: int = 0
    reasons: int = 0


@dataclass(slots=True)
class _RulesetRow:
    decisions: int = 0
    items: int = 0
    waive: int = 0
    saving: Money = field(default_factory=dict)


@dataclass(slots=True)
class Aggregate:
    """Running totals of decisions, error records and unreadable lines.

    ``add`` checks a whole record before counting any of it, so a malformed record never
    leaves half its items in the tables.
    """

    decisions: int = 0
    errors: int = 0
    unreadable: int = 0
    unreadable_samples: list[tuple[int | None, str]] = field(default_factory=list)
    error_codes: Counter[str] = field(default_factory=Counter)
    items: int = 0
    status: Counter[str] = field(default_factory=Counter)
    saving: Money = field(default_factory=dict)
    saving_mismatches: int = 0
    unattributed_saving: Money = field(default_factory=dict)
    tests: dict[str, _TestRow] = field(default_factory=dict)
    institutions: dict[str | None, _InstitutionRow] = field(default_factory=dict)
    reasons: dict[str, _ReasonRow] = field(default_factory=dict)
    rulesets: dict[tuple[str, str, str], _RulesetRow] = field(default_factory=dict)
    repeated_orders: int = 0
    """Records (decisions or error records) whose order id an earlier record already had."""
    _seen_orders: set[bytes] = field(default_factory=set, repr=False)

    def add(self, record: Any, line: int | None = None) -> bool:
        """Count one parsed record; ``False`` (and counted as unreadable) if it is neither
        a decision nor an error record."""
        try:
            if isinstance(record, dict) and "error" in record:
                self._add_error(record)
            else:
                self._add_decision(record)
        except _NotDecision as exc:
            self.add_unreadable(line, str(exc))
            return False
        self._note_order(record.get("order_id"))
        return True

    def _note_order(self, order_id: Any) -> None:
        """Each order is one case: a repeat is counted twice in every total, so it is noted."""
        if not isinstance(order_id, str):
            return  # an error record of an unreadable line has no order id
        digest = hashlib.blake2b(order_id.encode("utf-8", "surrogatepass"), digest_size=8)
        key = digest.digest()
        if key in self._seen_orders:
            self.repeated_orders += 1
        else:
            self._seen_orders.add(key)

    def add_unreadable(self, line: int | None, why: str) -> None:
        """A line that is not JSON, or not a record: counted, the first few kept by number."""
        self.unreadable += 1
        if len(self.unreadable_samples) < UNREADABLE_SAMPLES:
            self.unreadable_samples.append((line, why))

    def _add_error(self, record: dict[str, Any]) -> None:
        error = record["error"]
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise _NotDecision("error record without an error code")
        self.errors += 1
        self.error_codes[error["code"]] += 1

    def _add_decision(self, record: Any) -> None:
        currency, saving, ruleset, items = _check_decision(record)
        self.decisions += 1
        _add_money(self.saving, currency, saving)
        rs = self.rulesets.setdefault(ruleset, _RulesetRow())
        rs.decisions += 1
        _add_money(rs.saving, currency, saving)
        item_total = Decimal(0)
        for item, item_saving in items:
            item_total += item_saving
            status = item["status"]
            self.items += 1
            self.status[status] += 1
            rs.items += 1
            rs.waive += status == "waive"
            row = self.tests.setdefault(item["code"], _TestRow())
            row.count += 1
            row.status[status] += 1
            _add_money(row.saving, currency, item_saving)
            self._add_institutions(item, currency, item_saving)
            self._add_reasons(item["reasons"])
        if item_total != saving:
            self.saving_mismatches += 1

    def _add_institutions(self, item: dict[str, Any], currency: str, saving: Decimal) -> None:
        """A single test's saving belongs to the lab whose result was used; a panel's saving
        is not split between labs (any split would be invented), only its components counted.
        """
        if item["status"] == "retest":
            return  # a re-tested panel relies on no lab, whatever it lists
        waived = item.get("waived")
        if item["status"] == "waive" and not waived:
            inst = self.institutions.setdefault(item.get("institution"), _InstitutionRow())
            inst.single_tests += 1
            _add_money(inst.saving, currency, saving)
            return
        for component in waived or ():
            inst = self.institutions.setdefault(component.get("institution"), _InstitutionRow())
            inst.panel_components += 1
        if waived and saving:
            _add_money(self.unattributed_saving, currency, saving)

    def _add_reasons(self, reasons: list[dict[str, Any]]) -> None:
        for code in {reason["code"] for reason in reasons}:
            self.reasons.setdefault(code, _ReasonRow()).items += 1
        for reason in reasons:
            self.reasons[reason["code"]].reasons += 1

    def as_dict(self) -> dict[str, Any]:
        """The whole aggregate as JSON-ready data: stable keys, rows sorted by count
        descending then name, decimals as strings."""
        waive, partial, retest = (self.status[s] for s in _STATUSES)
        return {
            "totals": {
                "cases": self.decisions + self.errors,
                "decisions": self.decisions,
                "errors": self.errors,
                "unreadable": self.unreadable,
                "items": self.items,
                "waive": waive,
                "partial": partial,
                "retest": retest,
                "waive_rate": format_rate(waive, self.items),
                "partial_rate": format_rate(partial, self.items),
                "retest_rate": format_rate(retest, self.items),
                "saving": money_dict(self.saving),
                "saving_mismatches": self.saving_mismatches,
            },
            "error_codes": {code: self.error_codes[code] for code in sorted(self.error_codes)},
            "unreadable_lines": [
                {"line": line, "why": why} for line, why in self.unreadable_samples
            ],
            "by_test": self._tests(),
            "by_institution": self._institutions(),
            "unattributed_saving": money_dict(self.unattributed_saving),
            "by_reason": self._reasons(),
            "by_ruleset": self._rulesets(),
        }

    def _tests(self) -> list[dict[str, Any]]:
        rows = sorted(self.tests.items(), key=lambda kv: (-kv[1].count, kv[0]))
        return [
            {
                "code": code,
                "count": row.count,
                "waive": row.status["waive"],
                "partial": row.status["partial"],
                "retest": row.status["retest"],
                "waive_rate": format_rate(row.status["waive"], row.count),
                "saving": money_dict(row.saving),
            }
            for code, row in rows
        ]

    def _institutions(self) -> list[dict[str, Any]]:
        def key(kv: tuple[str | None, _InstitutionRow]) -> tuple[int, int, str]:
            name, row = kv
            # An unrecorded institution sorts after every named one of the same count.
            return (-(row.single_tests + row.panel_components), name is None, name or "")

        return [
            {
                "institution": name,
                "waived_tests": row.single_tests + row.panel_components,
                "single_tests": row.single_tests,
                "panel_components": row.panel_components,
                "saving": money_dict(row.saving),
            }
            for name, row in sorted(self.institutions.items(), key=key)
        ]

    def _reasons(self) -> list[dict[str, Any]]:
        rows = sorted(self.reasons.items(), key=lambda kv: (-kv[1].items, kv[0]))
        return [{"code": code, "items": r.items, "reasons": r.reasons} for code, r in rows]

    def _rulesets(self) -> list[dict[str, Any]]:
        rows = sorted(self.rulesets.items(), key=lambda kv: (-kv[1].decisions, kv[0]))
        return [
            {
                "id": rid,
                "version": version,
                "digest": digest,
                "decisions": row.decisions,
                "items": row.items,
                "waive": row.waive,
                "waive_rate": format_rate(row.waive, row.items),
                "saving": money_dict(row.saving),
            }
            for (rid, version, digest), row in rows
        ]


def _money(value: Any, where: str) -> Decimal:
    if not isinstance(value, str) or not _MONEY.match(value):
        raise _NotDecision(f"{where}: saving is not a decimal string")
    return Decimal(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _NotDecision(f"{where} is not a string")
    return value


def _check_decision(
    record: Any,
) -> tuple[str, Decimal, tuple[str, str, str], list[tuple[dict[str, Any], Decimal]]]:
    """Everything ``add`` relies on, checked up front: currency, saving, rule set, items."""
    if not isinstance(record, dict):
        raise _NotDecision("not a JSON object")
    if "items" not in record:
        raise _NotDecision("neither a decision (no items) nor an error record")
    _text(record.get("order_id"), "order_id")
    currency = _text(record.get("currency"), "currency")
    saving = _money(record.get("saving"), "decision")
    ruleset = record.get("ruleset")
    if not isinstance(ruleset, dict):
        raise _NotDecision("ruleset is not an object")
    ref = tuple(_text(ruleset.get(k), f"ruleset.{k}") for k in ("id", "version", "digest"))
    items = record["items"]
    if not isinstance(items, list):
        raise _NotDecision("items is not a list")
    checked = [_check_item(item, f"items[{i}]") for i, item in enumerate(items)]
    return currency, saving, (ref[0], ref[1], ref[2]), checked


def _check_item(item: Any, where: str) -> tuple[dict[str, Any], Decimal]:
    if not isinstance(item, dict):
        raise _NotDecision(f"{where} is not an object")
    _text(item.get("code"), f"{where}.code")
    if item.get("status") not in _STATUSES:
        raise _NotDecision(f"{where}.status is not waive, partial or retest")
    saving = _money(item.get("saving"), where)
    if item.get("institution") is not None:
        _text(item["institution"], f"{where}.institution")
    reasons = item.get("reasons")
    if not isinstance(reasons, list):
        raise _NotDecision(f"{where}.reasons is not a list")
    for j, reason in enumerate(reasons):
        if not isinstance(reason, dict):
            raise _NotDecision(f"{where}.reasons[{j}] is not an object")
        _text(reason.get("code"), f"{where}.reasons[{j}].code")
    waived = item.get("waived")
    if waived is not None:
        if not isinstance(waived, list):
            raise _NotDecision(f"{where}.waived is not a list")
        for j, component in enumerate(waived):
            if not isinstance(component, dict):
                raise _NotDecision(f"{where}.waived[{j}] is not an object")
            _text(component.get("code"), f"{where}.waived[{j}].code")
            if component.get("institution") is not None:
                _text(component["institution"], f"{where}.waived[{j}].institution")
    return item, saving
