"""A prior result from another institution, and a result an adapter could not read.

The contract of each field is docs/case.md ("prior_results", "unreadable_results").
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict, model_validator
from pydantic_core import PydanticCustomError

from labrecog.model._values import (
    CaseModel,
    Id,
    Loinc,
    Number,
    Region,
    ResultStatus,
    StrictStr,
    Timestamp,
)

__all__ = [
    "Institution",
    "PriorResult",
    "ReferenceRange",
    "UnreadableProblem",
    "UnreadableResult",
]


class Institution(CaseModel):
    """A hospital or laboratory: the one ordering, or the one that performed a result.

    Level and region are what the case claims; a rule set's institution registry, when it
    lists the id, is authoritative over them (docs/rules.md, "institutions").
    """

    id: Id = Field(description="the institution's id, as the rule set's registry names it")
    name: StrictStr | None = Field(default=None, description="display name, for people only")
    region: Region | None = Field(
        default=None,
        description="administrative region code (GB/T 2260, e.g. 620102; digits or letters, "
        "up to 12): the region and mark-scope checks compare its prefixes",
    )
    level: Annotated[int, Strict(), Field(ge=1, le=3)] | None = Field(
        default=None, description="hospital level, 1 to 3 (三级 = 3): the level check"
    )


class ReferenceRange(CaseModel):
    """The reference interval the performing laboratory reported with a result."""

    low: Number | None = Field(default=None, description="lower bound, in `unit`")
    high: Number | None = Field(default=None, description="upper bound, in `unit`; not below `low`")
    unit: StrictStr | None = Field(
        default=None,
        description="unit of the bounds (UCUM or a common report spelling); absent: the "
        "result's unit",
    )
    text: StrictStr | None = Field(
        default=None, description="the interval as printed (e.g. '3.9-6.1'); not interpreted"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReferenceRange:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise PydanticCustomError("range_order", "reference range low is above high")
        return self


class PriorResult(CaseModel):
    """One result of the patient from another institution, a candidate for recognition.

    Identified by ``code`` and/or ``loinc`` (never by display name); a number in ``value``
    with its ``unit``, or a qualitative text in ``value_text``. A result of another patient
    makes the whole case an input error; ``shared: false`` keeps it out of the decision.
    """

    id: Id = Field(description="the result's id, unique within the case; decisions cite it")
    patient_id: Id = Field(description="whose result it is: must equal the case's patient.id")
    code: Id | None = Field(
        default=None,
        description="the test as the performing lab coded it: a catalogue code or alias "
        "(code or loinc, at least one, must be given)",
    )
    loinc: Loinc | None = Field(
        default=None, description="the LOINC code of the result (e.g. 2345-7)"
    )
    specimen: StrictStr | None = Field(
        default=None,
        description="specimen type (serum, plasma, 血清, …); absent: read from the LOINC "
        "code's system where the rule set maps it",
    )
    value: Number | None = Field(
        default=None,
        description="the numeric value, in `unit`; a finite number, not a string "
        "(exclusive with value_text)",
    )
    value_text: StrictStr | None = Field(
        default=None,
        description="the result of a qualitative test as text ('negative', '阴性'); "
        "exclusive with value",
    )
    unit: StrictStr | None = Field(
        default=None,
        description="unit of `value` (UCUM or a common report spelling: mmol/L, μmol/L, ×10^9/L)",
    )
    reference_range: ReferenceRange | None = Field(
        default=None, description="the interval the performing lab reported"
    )
    collected_at: Timestamp = Field(
        description="when the specimen was collected: ISO 8601 with UTC offset (or local "
        "time in the rule set's timezone); the age of the result is counted from it"
    )
    reported_at: Timestamp | None = Field(
        default=None, description="when the result was reported; not before collected_at"
    )
    institution: Institution = Field(description="the laboratory that performed the test")
    mark: StrictStr | None = Field(
        default=None,
        description="the recognition mark printed on the report, with its scope (全国HR, "
        "本省HR, 昆明HR)",
    )
    method: StrictStr | None = Field(
        default=None, description="measurement method (e.g. hexokinase)"
    )
    status: ResultStatus = Field(
        default="final",
        description="FHIR Observation.status; only final, amended and corrected are used",
    )
    shared: Annotated[bool, Strict()] = Field(
        default=True,
        description="false: the patient closed sharing of this result; it is not used and "
        "not named in the decision",
    )

    @model_validator(mode="after")
    def _coherent(self) -> PriorResult:
        if self.code is None and self.loinc is None:
            raise PydanticCustomError("identity", "a prior result needs a code or a loinc")
        if self.value is not None and self.value_text is not None:
            raise PydanticCustomError("value", "give either value or value_text, not both")
        if self.reported_at is not None and self.reported_at < self.collected_at:
            raise PydanticCustomError(
                "chronology", "reported_at is before collected_at", {"field": "reported_at"}
            )
        return self


# --- results an adapter could not read (docs/fhir.md, "What refuses a Bundle") -------------


class UnreadableProblem(CaseModel):
    """Why a result could not be read, named by the path in the adapter's own input."""

    path: StrictStr = Field(
        description="where in the adapter's input (e.g. entry[13].resource.performer)"
    )
    message: StrictStr = Field(description="what is wrong there")


class UnreadableResult(CaseModel):
    """A result an adapter (the FHIR reader, an integrator's) found but could not read or
    trust: never used, but it may be the newest result of a test, so a waiver it might
    contradict is withheld (reason ``unreadable_result``). What is known of it is optional.
    """

    id: Id | None = Field(default=None, description="its id, if it has one")
    code: Id | None = Field(default=None, description="its test code, if readable")
    loinc: Loinc | None = Field(default=None, description="its LOINC code, if readable")
    collected_at: Timestamp | None = Field(
        default=None, description="its collection time, if readable; unknown counts as newest"
    )
    problems: tuple[UnreadableProblem, ...] = Field(
        min_length=1, max_length=100, description="why it could not be read (1 to 100)"
    )
