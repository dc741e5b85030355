"""What reading one Bundle has found so far, shared by the readers of each resource.

Every value put into the case records the FHIR path it came from (``where``), so that a
complaint of the Case model or the engine about a case path names the element to fix.
Problems are collected, not raised one by one: a user sees every problem of a Bundle.

A problem found while reading one result makes only that result unreadable (``_unreadable``
sets it aside with its problems); a ``refusal`` (a result of another patient) refuses the
Bundle even then. ``sources`` names where each entry came from in the caller's document
(a CDS request's ``prefetch.labResults.entry[0].resource``): paths shown to people use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from pydantic import TypeAdapter, ValidationError

from labrecog._errors import InputError, InputProblem
from labrecog.engine import Engine
from labrecog.fhir._refs import BundleIndex, Res
from labrecog.model import Timestamp

__all__ = ["FhirInputError", "ReadState", "Stop"]

_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)
_ENTRY = re.compile(r"entry\[([0-9]+)\](\.resource(?![A-Za-z]))?")
_QUOTED = re.compile(r"(?<![A-Za-z.\]])entry\[[0-9]+\](?:\.resource(?![A-Za-z]))?")


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
        self.refusals: list[InputProblem] = []  # whole-Bundle problems found in one result
        self.unreadable: list[dict[str, Any]] = []  # case unreadable_results, as read
        self.unreadable_ids: dict[str, str] = {}  # their result ids -> FHIR path of the id
        self.collected: list[Res] = []  # per prior result: the Observation it was read from
        self.sources: Sequence[str] | None = None  # entry index -> its path for the caller
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

    def refuse(self, path: str, message: str) -> None:
        """A problem that refuses the Bundle even when found while reading one result."""
        self.refusals.append(InputProblem(path, message))

    def outside(self, path: str) -> str:
        """A Bundle path as the caller's document names it: ``entry[4].resource.performer``
        becomes ``sources[4]`` + ``.performer``; unchanged without ``sources``."""
        match = _ENTRY.match(path) if self.sources is not None else None
        if match is None or self.sources is None or int(match[1]) >= len(self.sources):
            return path
        source, rest = self.sources[int(match[1])], path[match.end() :]
        if match[2] is None and source.endswith(".resource"):
            source = source[: -len(".resource")]  # the entry, not its resource
        return source + rest

    def outside_text(self, message: str) -> str:
        """A message with the Bundle paths it quotes named as :meth:`outside` names them."""
        if self.sources is None or "entry[" not in message:
            return message
        return _QUOTED.sub(lambda m: self.outside(m[0]), message)

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

    def instant(self, value: Any) -> datetime | None:
        """A point in time if the Case model would read ``value`` as one, else None."""
        try:
            parsed: datetime = _TIMESTAMP.validate_python(value, context={"timezone": self.tz})
        except ValidationError:
            return None
        return parsed

    @property
    def patient_id(self) -> str | None:
        return None if self.patient is None else (self.patient.id or self.patient.full_url)
