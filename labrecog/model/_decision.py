"""The decision: one item per ordered catalogue item, each explained by reason codes."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict

__all__ = [
    "REASON_CODES",
    "Decision",
    "DecisionItem",
    "Reason",
    "ReasonCode",
    "RulesetRef",
    "Status",
    "WaivedComponent",
]

Status = Literal["waive", "retest", "partial"]

ReasonCode = Literal[
    "unknown_test",
    "not_recognisable",
    "no_prior",
    "too_old",
    "future_result",
    "specimen_mismatch",
    "method_mismatch",
    "unit_unknown",
    "unit_incompatible",
    "value_unrecognised",
    "identity_conflict",
    "reference_range_missing",
    "reference_range_incompatible",
    "institution_level",
    "institution_region",
    "quality_not_assured",
    "mark_missing",
    "no_authorization",
    "abnormal_value",
    "critical_value",
    "result_status",
    "exception",
    "superseded",
    "duplicate_order",
    "condition_undecidable",
    "partial_not_allowed",
    "implausible_value",
    "newer_result_conflicts",
    "unmapped_result",
    "unreadable_result",
]

REASON_CODES: tuple[str, ...] = ReasonCode.__args__  # type: ignore[attr-defined]

# A model instance keeps its state in the four slots BaseModel declares. ``_trusted`` (and
# model/_reasons.py) fill them through the slots' own descriptors: what object.__setattr__
# does for ``model_construct``, without looking the slot up again on every call.
_new = object.__new__
_SLOTS = vars(BaseModel)
set_values = _SLOTS["__dict__"].__set__
set_fields_set = _SLOTS["__pydantic_fields_set__"].__set__
set_extra = _SLOTS["__pydantic_extra__"].__set__
set_private = _SLOTS["__pydantic_private__"].__set__
# Per output model, the set of all its fields: the fields-set of an instance built with
# every field given. Shared, as frozen models never add to it (model_copy copies it first).
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


class _Out(BaseModel):
    """Output models omit absent optional fields so the JSON stays as documented."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def _trusted(cls, **values: Any) -> Self:
        """Build from values the engine made itself: every field given, already valid.

        ``model_construct`` without its per-call field scan; decisions are built on the
        hot path, and validating our own output would double the cost of a case.
        """
        fields = _ALL_FIELDS.get(cls)
        if fields is None:
            fields = _ALL_FIELDS.setdefault(cls, set(cls.model_fields))
        obj = _new(cls)
        set_values(obj, values)
        set_fields_set(obj, fields if len(values) == len(fields) else set(values))
        set_extra(obj, None)
        set_private(obj, None)
        return obj

    def model_dump(self, *, exclude_none: bool = True, **kwargs: Any) -> dict[str, Any]:
        # Absent optional fields are left out (as PRODUCT.md §5 shows them), natively in
        # pydantic-core: a Python serializer per object would cost more than deciding.
        return super().model_dump(exclude_none=exclude_none, **kwargs)

    def model_dump_json(self, *, exclude_none: bool = True, **kwargs: Any) -> str:
        return super().model_dump_json(exclude_none=exclude_none, **kwargs)


class Reason(_Out):
    code: ReasonCode
    message: str
    result_id: str | None = None
    test: str | None = None
    flag: str | None = None
    source: str | None = None


class WaivedComponent(_Out):
    code: str
    result_id: str
    institution: str | None = None  # performing institution of the result used


class DecisionItem(_Out):
    code: str
    status: Status
    saving: str
    result_id: str | None = None
    institution: str | None = None  # performing institution of the result used
    # The interval the result was judged against, and where that rule comes from
    # ("RCPath G147 (2021) B-SP7"): why a waiver is allowed, shown to the doctor.
    max_age: str | None = None
    source: str | None = None
    waived: tuple[WaivedComponent, ...] | None = None
    retest: tuple[str, ...] | None = None
    reasons: tuple[Reason, ...] = ()
    ext: dict[str, Any] | None = None  # the ordered item's ext, carried through


class RulesetRef(_Out):
    id: str
    version: str
    digest: str


class Decision(_Out):
    order_id: str
    patient_id: str
    ruleset: RulesetRef
    currency: str
    saving: str
    # What must still be tested, one entry per line that stays, in the order of the items:
    # a retest item's code as ordered, a partial panel's `retest` components; [] when all
    # is recognised. The summary a doctor and an order system both read (docs/reasons.md).
    to_order: tuple[str, ...]
    items: tuple[DecisionItem, ...]
    ext: dict[str, Any] | None = None  # the case's ext, carried through
