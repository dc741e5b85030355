"""Running totals for a batch: what an operator reads at the end of a run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["Summary"]


@dataclass(slots=True)
class Summary:
    cases: int = 0
    errors: int = 0
    items: int = 0
    status: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    saving: Decimal = Decimal(0)
    currency: str | None = None
    # Lines whose worker process died twice (internal_error records): a crash, not bad input.
    lost: int = 0

    def add(self, record: dict[str, Any]) -> None:
        self.cases += 1
        if "error" in record:
            self.errors += 1
            return
        self.currency = record.get("currency", self.currency)
        self.saving += Decimal(record["saving"])
        for item in record["items"]:
            self.items += 1
            self.status[item["status"]] += 1
            for reason in item["reasons"]:
                self.reasons[reason["code"]] += 1

    def merge(self, other: Summary) -> None:
        """Add a worker's partial summary (chunks are summarised where they are evaluated)."""
        self.cases += other.cases
        self.errors += other.errors
        self.items += other.items
        self.status.update(other.status)
        self.reasons.update(other.reasons)
        self.saving += other.saving
        self.currency = other.currency or self.currency
        self.lost += other.lost

    @classmethod
    def of(cls, parts: Iterable[Summary]) -> Summary:
        """The partial summaries merged into one."""
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "decisions": self.cases - self.errors,
            "errors": self.errors,
            "items": self.items,
            "waive": self.status["waive"],
            "partial": self.status["partial"],
            "retest": self.status["retest"],
            "saving": str(self.saving),
            "currency": self.currency,
            "top_reasons": dict(self.reasons.most_common(8)),
        }
