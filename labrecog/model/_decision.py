"""The decision: one item per ordered catalogue item, each explained by reason codes."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from labrecog.model._fielddoc import list_fields, schema_description

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

    model_config = ConfigDict(frozen=True, json_schema_extra=schema_description)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        list_fields(cls)

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
        # Absent optional fields are left out (as docs/decision.md shows them), natively in
        # pydantic-core: a Python serializer per object would cost more than deciding.
        return super().model_dump(exclude_none=exclude_none, **kwargs)

    def model_dump_json(self, *, exclude_none: bool = True, **kwargs: Any) -> str:
        return super().model_dump_json(exclude_none=exclude_none, **kwargs)


class Reason(_Out):
    """Why an item is what it is, or why one candidate result was not used."""

    code: ReasonCode = Field(
        description="a code of the closed list in docs/reasons.md; programs switch on it"
    )
    message: str = Field(description="the same in words, in the engine's language (zh or en)")
    result_id: str | None = Field(default=None, description="the prior result the reason is about")
    test: str | None = Field(
        default=None, description="the panel component it concerns (panel items only)"
    )
    flag: str | None = Field(default=None, description="the exception flag (code exception)")
    source: str | None = Field(
        default=None, description="provenance of the rule value involved, as the rule set wrote it"
    )


class WaivedComponent(_Out):
    """A component of a panel that need not be tested again."""

    code: str = Field(description="the component's catalogue test code")
    result_id: str = Field(description="the prior result it is recognised from")
    institution: str | None = Field(
        default=None, description="the institution that performed that result"
    )


class DecisionItem(_Out):
    """The decision for one ordered line: waive, retest, or (a panel) partial."""

    code: str = Field(description="the ordered code, as written in the case")
    status: Status = Field(
        description="waive: not to be tested again; retest: to be tested; partial (panels "
        "only): test just the components listed in retest"
    )
    saving: str = Field(
        description="money saved on this line: a decimal string with the currency's minor "
        "digits ('5.00'); '0.00' when nothing is saved"
    )
    result_id: str | None = Field(
        default=None, description="waive items: the prior result the waiver rests on"
    )
    institution: str | None = Field(
        default=None, description="waive items: the institution that performed that result"
    )
    # The interval the result was judged against, and where that rule comes from
    # ("RCPath G147 (2021) B-SP7"): why a waiver is allowed, shown to the doctor.
    max_age: str | None = Field(
        default=None,
        description="waive items: the maximum age the result was judged against ('7d', '24h')",
    )
    source: str | None = Field(
        default=None, description="waive items: where that maximum age comes from"
    )
    waived: tuple[WaivedComponent, ...] | None = Field(
        default=None, description="panel items: the components recognised from prior results"
    )
    retest: tuple[str, ...] | None = Field(
        default=None, description="partial panel items: the component codes still to test"
    )
    reasons: tuple[Reason, ...] = Field(
        default=(),
        description="why: for a retest item every rejected candidate's reasons; for a waive "
        "item the other candidates (rejected or superseded)",
    )
    ext: dict[str, Any] | None = Field(
        default=None, description="the ordered item's ext, carried through unchanged"
    )


class RulesetRef(_Out):
    """Which rule set decided: with the digest, the decision can be reproduced."""

    id: str = Field(description="the rule set's id")
    version: str = Field(description="the rule set's version")
    digest: str = Field(
        description="sha256:… over the rule set's canonical content (comments, layout and "
        "file split do not change it; any value does)"
    )


class Decision(_Out):
    """The answer for one case: one item per ordered line, each explained by reason codes.
    The output of ``Engine.evaluate``; the contract is docs/decision.md and ``labrecog
    schema decision`` prints it. ``model_dump(mode="json")`` leaves absent fields out.
    """

    order_id: str = Field(description="the case's order_id")
    patient_id: str = Field(description="the case's patient.id")
    ruleset: RulesetRef = Field(description="the rule set that decided")
    currency: str = Field(description="ISO 4217 code of every saving (the rule set's currency)")
    saving: str = Field(
        description="total saving of the order: a decimal string with the currency's minor "
        "digits, each analyte credited once"
    )
    # What must still be tested, one entry per line that stays, in the order of the items:
    # a retest item's code as ordered, a partial panel's `retest` components; [] when all
    # is recognised. The summary a doctor and an order system both read (docs/reasons.md).
    to_order: tuple[str, ...] = Field(
        description="what must still be tested: retest items' codes as ordered and partial "
        "panels' retest components, in item order; [] when everything is recognised"
    )
    items: tuple[DecisionItem, ...] = Field(description="one item per ordered line, in order")
    ext: dict[str, Any] | None = Field(
        default=None, description="the case's ext, carried through unchanged"
    )
