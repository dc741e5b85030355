"""What reading one Bundle has found so far, shared by the readers of each resource.

Every value put into the case records the FHIR path it came from (``where``), so that a
complaint of the Case model or the engine about a case path names the element to fix.
Problems are collected, not raised one by one: a user sees every problem of a Bundle.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from pydantic import TypeAdapter, ValidationError

from labrecog._errors import InputError, InputProblem
from labrecog.engine import Engine
from labrecog.fhir._refs import BundleIndex, Res
from labrecog.model import Timestamp

__all__ = ["FhirInputError", "ReadState", "Stop"]

_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


class FhirInputError(InputError):
    """A Bundle that cannot become a case; problems are named by FHIR path
    (``entry[3].resource.effectiveDateTime``)."""


class Stop(Exception):
    """The bundle cannot be read further; the problems collected so far say why."""


class ReadState:
    """The bundle, the problems and the case-path -> FHIR-path map of one read."""

    def __init__(self, engine: Engine, bundle: Mapping[str, Any]) -> None:
        self.rules = engine.rules
        self.tz: tzinfo | None = engine.rules.timezone
        self.bundle = bundle
        self.problems: list[InputProblem] = []
        self.where: dict[str, str] = {}  # case path -> FHIR path it was read from
        self.requests: list[str] = []
        self.observations: dict[str, str] = {}
        self.order_id: str | None = None
        self.index = BundleIndex([])
        self.patient: Res | None = None
        self.parents: dict[int, Res] = {}  # id(observation data) -> report or group
        self.unshared: set[int] = set()  # id(observation data) the patient withheld
        self.ordered: datetime | None = None
        self.orgs: dict[int, tuple[dict[str, Any], dict[str, str]] | None] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(InputProblem(path, message))

    def fhir_path(self, case_path: str) -> str:
        """The FHIR path a case path was read from (the longest recorded prefix)."""
        path = case_path
        while True:
            found = self.where.get(path)
            if found is not None:
                return found
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                return self.where.get("", "")
            path = path[:cut]

    def fail(self) -> FhirInputError:
        return FhirInputError(self.problems, self.order_id)

    def time(self, value: Any, at: str) -> datetime | None:
        """A point in time, read exactly as the Case model reads one; a problem at ``at``
        if it would refuse it."""
        try:
            parsed: datetime = _TIMESTAMP.validate_python(value, context={"timezone": self.tz})
        except ValidationError as exc:
            self.problem(at, exc.errors(include_url=False)[0]["msg"])
            return None
        return parsed

    @property
    def patient_id(self) -> str | None:
        return None if self.patient is None else (self.patient.id or self.patient.full_url)
