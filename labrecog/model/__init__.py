"""The data shapes a case arrives in and a decision leaves in (PRODUCT.md §4–§5)."""

from labrecog.model._case import (
    Authorization,
    Case,
    Institution,
    OrderedItem,
    PriorResult,
    ReferenceRange,
    ResultStatus,
    Setting,
    Timestamp,
    UnreadableProblem,
    UnreadableResult,
    completed_years,
)
from labrecog.model._decision import (
    REASON_CODES,
    Decision,
    DecisionItem,
    Reason,
    RulesetRef,
    Status,
    WaivedComponent,
)
from labrecog.model._reasons import (
    make_reason,
    reason_with_message,
    with_test,
)

__all__ = [
    "REASON_CODES",
    "Authorization",
    "Case",
    "Decision",
    "DecisionItem",
    "Institution",
    "OrderedItem",
    "PriorResult",
    "Reason",
    "ReferenceRange",
    "ResultStatus",
    "RulesetRef",
    "Setting",
    "Status",
    "Timestamp",
    "UnreadableProblem",
    "UnreadableResult",
    "WaivedComponent",
    "completed_years",
    "make_reason",
    "reason_with_message",
    "with_test",
]
