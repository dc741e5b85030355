"""The data shapes a case arrives in and a decision leaves in (docs/case.md, docs/decision.md)."""

from labrecog.model._case import (
    Authorization,
    Case,
    Institution,
    OrderedItem,
    PriorResult,
    ReferenceRange,
    ResultStatus,
    Setting,
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
from labrecog.model._fast import fast_case
from labrecog.model._fielddoc import DocumentedModel, list_fields, schema_description
from labrecog.model._reasons import (
    make_reason,
    reason_with_message,
    with_test,
)
from labrecog.model._values import Timestamp

__all__ = [
    "REASON_CODES",
    "Authorization",
    "Case",
    "Decision",
    "DecisionItem",
    "DocumentedModel",
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
    "fast_case",
    "list_fields",
    "make_reason",
    "reason_with_message",
    "schema_description",
    "with_test",
]
