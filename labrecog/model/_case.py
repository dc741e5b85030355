"""The case: one order, its patient, and that patient's prior external results.

The contract of each field is docs/case.md; the value types (timestamps, ids, ``ext``)
are in model/_values.py, prior results in model/_prior.py.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated

from pydantic import Field, Strict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from labrecog.model._prior import (
    Institution,
    PriorResult,
    ReferenceRange,
    UnreadableProblem,
    UnreadableResult,
)
from labrecog.model._values import (
    CaseModel,
    Day,
    Flag,
    Id,
    ResultStatus,
    Setting,
    Sex,
    SexInput,
    StrictStr,
    Timestamp,
    completed_years,
)

__all__ = [
    "Authorization",
    "Case",
    "Context",
    "Institution",
    "OrderedItem",
    "Patient",
    "PriorResult",
    "ReferenceRange",
    "ResultStatus",
    "Setting",
    "Sex",
    "UnreadableProblem",
    "UnreadableResult",
    "completed_years",
]


class Patient(CaseModel):
    """The patient the order is for; every prior result must be theirs."""

    id: Id = Field(description="the patient's id; every prior result's patient_id must equal it")
    sex: SexInput | None = Field(
        default=None,
        description="male, female or unknown (男, 女, M, F, m, f accepted): chooses "
        "sex-specific reference intervals and conditions; absent or unknown: those fail closed",
    )
    birth_date: Day | None = Field(
        default=None,
        description="YYYY-MM-DD, not after the order: the age (completed years at ordered_at) "
        "for age bands; absent: age-banded intervals and conditions fail closed",
    )


class Context(CaseModel):
    """Where and why the order is placed: what conditions and exceptions read."""

    setting: Setting | None = Field(
        default=None,
        description="outpatient, inpatient, emergency or checkup; conditions may depend on it",
    )
    department: StrictStr | None = Field(
        default=None, description="the ordering department; shown, not used by the checks"
    )
    flags: tuple[Flag, ...] = Field(
        default=(),
        description="flags for the whole order, declared by the rule set (exceptions such "
        "as emergency force a re-test; other flags feed conditions); an unknown flag is an "
        "input error",
    )
    encounter: Id | None = Field(
        default=None,
        description="the visit (encounter) the order is placed in; an authorisation bound "
        "to a visit holds only for orders that name that visit here",
    )


# --- the patient's authorisation, per visit (issue 11; check/_authorization.py) ----------
AuthCode = Annotated[str, Strict(), Field(min_length=1, max_length=256)]


class Authorization(CaseModel):
    """The patient's permission to use their results from elsewhere for this order.

    ``{"granted": true}`` is the simplest form. The rest says when and for what it holds;
    labrecog checks it against the order's time and visit (docs/case.md). The code is
    recorded, never verified (its issuer does that), and never shown: it is left out of
    ``repr`` and of every message.
    """

    granted: Annotated[bool, Strict()] = Field(
        default=False,
        description="the patient authorised the use of their results; details may be "
        "recorded for an authorisation not (or no longer) granted",
    )
    code: AuthCode | None = Field(
        default=None,
        repr=False,
        description="the dynamic authorisation code the patient gave; recorded, never shown",
    )
    encounter: Id | None = Field(
        default=None,
        description="the visit it is bound to: it holds only for orders whose "
        "context.encounter is this visit",
    )
    granted_at: Timestamp | None = Field(
        default=None, description="when it was given: it holds for orders placed then or later"
    )
    expires_at: Timestamp | None = Field(
        default=None,
        description="the first instant it no longer holds: orders placed before it only",
    )
    ends_with_visit: Annotated[bool, Strict()] = Field(
        default=False,
        description="it lasts as long as its visit (encounter, required) and no longer",
    )
    institutions: tuple[Id, ...] | None = Field(
        default=None,
        min_length=1,
        description="only results performed by these institutions may be used; absent: all",
    )
    results: tuple[Id, ...] | None = Field(
        default=None,
        min_length=1,
        description="only these prior results (by id) may be used; absent: all",
    )

    @model_validator(mode="after")
    def _coherent(self) -> Authorization:
        if (
            self.granted_at is not None
            and self.expires_at is not None
            and self.expires_at <= self.granted_at
        ):
            raise PydanticCustomError(
                "chronology", "expires_at is not after granted_at", {"field": "expires_at"}
            )
        if self.ends_with_visit and self.encounter is None:
            raise PydanticCustomError(
                "visit",
                "ends_with_visit needs the visit it ends with: give encounter",
                {"field": "ends_with_visit"},
            )
        return self


# --- end of the patient's authorisation --------------------------------------------------


class OrderedItem(CaseModel):
    """One ordered line: a test or panel of the rule set's catalogue."""

    code: Id = Field(
        description="catalogue code or alias of a test or panel (matched exactly after "
        "Unicode NFKC and trimming); an unknown code is re-tested as unknown_test"
    )
    flags: tuple[Flag, ...] = Field(
        default=(), description="flags for this line only, as context.flags"
    )


class Case(CaseModel):
    """One order, its patient and that patient's prior external results: the input of
    ``Engine.evaluate``. The contract is docs/case.md; ``labrecog schema case`` prints it.

    Unknown fields are input errors (integrators' own data goes under ``ext``), values are
    never coerced, and a prior result of another patient or a duplicate result id makes
    the whole case an input error rather than a re-test.
    """

    order_id: Id = Field(description="the order's id, copied into the decision")
    ordered_at: Timestamp = Field(
        description="when the order was placed (ISO 8601 with UTC offset, or local time in "
        "the rule set's timezone): the reference time of every check, never the clock"
    )
    patient: Patient = Field(description="the patient the order is for")
    institution: Institution = Field(
        description="the ordering institution: region and level for the mark-scope, region "
        "and level checks and for conditions"
    )
    context: Context = Field(default=Context(), description="setting, visit and order flags")
    authorization: Authorization = Field(
        default=Authorization(),
        description="the patient's authorisation to use their results from elsewhere; "
        "absent: not granted",
    )
    tests: tuple[OrderedItem, ...] = Field(
        min_length=1, max_length=500, description="the ordered tests and panels (1 to 500)"
    )
    prior_results: tuple[PriorResult, ...] = Field(
        default=(),
        max_length=100_000,
        description="the patient's results from other institutions; input order never matters",
    )
    unreadable_results: tuple[UnreadableResult, ...] = Field(
        default=(),
        max_length=100_000,
        description="results an adapter found but could not read: never used, but they "
        "withhold a waiver they might contradict (unreadable_result)",
    )

    @model_validator(mode="after")
    def _integrity(self, info: ValidationInfo) -> Case:
        birth = self.patient.birth_date
        tz: tzinfo | None = (info.context or {}).get("timezone")
        ordered = self.ordered_at.astimezone(tz) if tz is not None else self.ordered_at
        if birth is not None and birth > ordered.date():
            raise PydanticCustomError(
                "chronology", "birth_date is after the order", {"path": "patient.birth_date"}
            )
        # Mixed-up patients are a data-integrity fault, never a re-test.
        priors, patient = self.prior_results, self.patient.id
        if not priors or (
            [p.patient_id for p in priors].count(patient) == len(priors)
            and len({p.id for p in priors}) == len(priors)
        ):
            return self  # the common case, two C-speed passes; else find the first fault
        seen: dict[str, int] = {}
        for i, prior in enumerate(priors):
            if prior.patient_id != self.patient.id:
                raise PydanticCustomError(
                    "patient_mismatch",
                    "prior result belongs to patient {other}, not {patient}",
                    {
                        "other": prior.patient_id,
                        "patient": self.patient.id,
                        "path": f"prior_results[{i}].patient_id",
                    },
                )
            if prior.id in seen:
                raise PydanticCustomError(
                    "duplicate_result",
                    "result id {id} also used by prior_results[{first}]",
                    {"id": prior.id, "first": seen[prior.id], "path": f"prior_results[{i}].id"},
                )
            seen[prior.id] = i
        return self
