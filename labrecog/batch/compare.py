"""Comparing two runs of the same cases under two rule sets (``labrecog diff``).

A rule author wants to know, before publishing, which decisions a new version would alter.
The comparison streams: it keeps counters and a bounded sample, never the records, so a
year of cases costs no more memory than a day.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import zip_longest
from typing import Any

__all__ = ["ABSENT", "ERROR_LINES_KEPT", "RuleDiff"]

ABSENT = "absent"  # an item one run decided and the other did not (lists of unequal length)
ERROR_LINES_KEPT = 20  # line numbers kept per error flip, so memory stays flat


def _side(item: dict[str, Any] | None) -> dict[str, Any]:
    """One run's view of an item: what a reader needs to see why it was decided so."""
    if item is None:
        return {"status": ABSENT, "saving": None, "reasons": []}
    return {
        "status": item["status"],
        "saving": item["saving"],
        "reasons": [dict(reason) for reason in item.get("reasons", [])],
    }


def _error(record: dict[str, Any]) -> dict[str, Any] | None:
    error = record.get("error")
    return dict(error) if isinstance(error, dict) else None


@dataclass(slots=True)
class RuleDiff:
    """Counters of what changed between an old and a new run, line by line.

    ``add`` is given the two records evaluate produced for one input line; status changes
    are counted per (test, old status, new status), savings are summed per currency, and
    the first ``sample_size`` changed cases are kept whole, with both explanations.
    """

    old_ruleset: dict[str, Any] = field(default_factory=dict)
    new_ruleset: dict[str, Any] = field(default_factory=dict)
    sample_size: int = 5
    cases: int = 0
    changed_cases: int = 0
    items: int = 0
    status_changed: int = 0
    saving_only_changed: int = 0
    both_errors: int = 0
    transitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    old_saving: dict[str, Decimal] = field(default_factory=dict)
    new_saving: dict[str, Decimal] = field(default_factory=dict)
    became_error: int = 0
    stopped_error: int = 0
    became_error_lines: list[int] = field(default_factory=list)
    stopped_error_lines: list[int] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)

    def add(self, line_no: int, old_record: dict[str, Any], new_record: dict[str, Any]) -> None:
        """Count one input line, evaluated under the old and the new rule set."""
        self.cases += 1
        old_error, new_error = _error(old_record), _error(new_record)
        if old_error is None:
            self._add_saving(self.old_saving, old_record)
        if new_error is None:
            self._add_saving(self.new_saving, new_record)
        if old_error is not None and new_error is not None:
            self.both_errors += 1
            return
        if old_error is not None or new_error is not None:
            self._error_flip(line_no, old_record, new_record, old_error, new_error)
            return
        changes: list[dict[str, Any]] = []
        for old_item, new_item in zip_longest(old_record["items"], new_record["items"]):
            self.items += 1
            old_side, new_side = _side(old_item), _side(new_item)
            code = str((old_item or new_item)["code"])
            if old_side["status"] != new_side["status"]:
                self.status_changed += 1
                self.transitions[(code, old_side["status"], new_side["status"])] += 1
            elif old_side["saving"] == new_side["saving"]:
                continue
            else:
                self.saving_only_changed += 1
            changes.append({"code": code, "old": old_side, "new": new_side})
        if changes:
            self.changed_cases += 1
            self._keep(
                {
                    "line": line_no,
                    "order_id": old_record.get("order_id"),
                    "old_saving": old_record.get("saving"),
                    "new_saving": new_record.get("saving"),
                    "items": changes,
                },
                minor=all(c["old"]["status"] == c["new"]["status"] for c in changes),
            )

    def _add_saving(self, totals: dict[str, Decimal], record: dict[str, Any]) -> None:
        currency = str(record.get("currency") or "")
        totals[currency] = totals.get(currency, Decimal(0)) + Decimal(str(record["saving"]))

    def _error_flip(
        self,
        line_no: int,
        old_record: dict[str, Any],
        new_record: dict[str, Any],
        old_error: dict[str, Any] | None,
        new_error: dict[str, Any] | None,
    ) -> None:
        self.changed_cases += 1
        if new_error is not None:
            self.became_error += 1
            lines = self.became_error_lines
        else:
            self.stopped_error += 1
            lines = self.stopped_error_lines
        if len(lines) < ERROR_LINES_KEPT:
            lines.append(line_no)
        self._keep(
            {
                "line": line_no,
                "order_id": old_record.get("order_id") or new_record.get("order_id"),
                "old_error": old_error,
                "new_error": new_error,
                "old_saving": old_record.get("saving"),
                "new_saving": new_record.get("saving"),
                "items": [],
            }
        )

    def _keep(self, case: dict[str, Any], *, minor: bool = False) -> None:
        """First come, first kept; but a status change or error flip displaces a case whose
        only change is a saving, so a price edit cannot crowd the decisions out of the sample."""
        case["minor"] = minor
        if len(self.sample) < self.sample_size:
            self.sample.append(case)
            return
        if minor:
            return
        for i in range(len(self.sample) - 1, -1, -1):
            if self.sample[i]["minor"]:
                del self.sample[i]
                self.sample.append(case)
                return

    def saving_delta(self) -> dict[str, Decimal]:
        """New total minus old total, per currency (a currency one side lacks counts as 0)."""
        currencies = sorted(set(self.old_saving) | set(self.new_saving))
        return {
            c: self.new_saving.get(c, Decimal(0)) - self.old_saving.get(c, Decimal(0))
            for c in currencies
        }

    def as_dict(self) -> dict[str, Any]:
        """A stable, JSON-ready object: keys fixed, lists in a deterministic order."""
        by_test: Counter[str] = Counter()
        by_status: Counter[tuple[str, str]] = Counter()
        for (code, old, new), n in self.transitions.items():
            by_test[code] += n
            by_status[(old, new)] += n
        old_currency = self.old_ruleset.get("currency")
        new_currency = self.new_ruleset.get("currency")
        return {
            "old_ruleset": dict(self.old_ruleset),
            "new_ruleset": dict(self.new_ruleset),
            "currency_differs": old_currency != new_currency,
            "cases": self.cases,
            "changed_cases": self.changed_cases,
            "items_compared": self.items,
            "items_status_changed": self.status_changed,
            "items_saving_changed": self.saving_only_changed,
            "by_test": [
                {"test": code, "items": n}
                for code, n in sorted(by_test.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "by_status": [
                {"old": old, "new": new, "items": n}
                for (old, new), n in sorted(by_status.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "changes": [
                {"test": code, "old": old, "new": new, "items": n}
                for (code, old, new), n in sorted(
                    self.transitions.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1:])
                )
            ],
            "saving": {
                "old": {c: str(v) for c, v in sorted(self.old_saving.items())},
                "new": {c: str(v) for c, v in sorted(self.new_saving.items())},
                "delta": {c: str(v) for c, v in self.saving_delta().items()},
            },
            "errors": {
                "both": self.both_errors,
                "became_error": self.became_error,
                "stopped_error": self.stopped_error,
                "became_error_lines": list(self.became_error_lines),
                "stopped_error_lines": list(self.stopped_error_lines),
            },
            "sample": [
                {k: v for k, v in case.items() if k != "minor"}
                for case in sorted(self.sample, key=lambda case: int(case["line"]))
            ],
        }
