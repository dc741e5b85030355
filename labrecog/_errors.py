"""Every error labrecog raises on purpose, under one base class.

``except labrecog.LabrecogError`` catches all of them; each family says who must act::

    LabrecogError                  (Exception)
    ├── RulesetError               a rule set that never loads; every problem, file:line:col
    │   └── CaseError              a rule set's test file that cannot run (labrecog.authoring)
    ├── InputError                 a case that is never decided; also a ValueError
    │   └── FhirInputError         a FHIR Bundle that cannot become a case (labrecog.fhir)
    ├── UnitError                  a unit that cannot be read, or a pair that must not be
    │                              converted (labrecog.units); code + message, pickles
    ├── InternalError              a failure labrecog cannot recover from (a broken worker
    │                              pool): the CLI exits 3 with one line, never a traceback
    └── ServiceError               a request the CDS Hooks service refuses, with its HTTP
                                   status (labrecog.server, needs the ``server`` extra)

A rule set's tests are rule-set material, so a bad test file is a :class:`RulesetError`
(with one problem) and ``labrecog test`` exits as for a bad rule set. ``InputError`` stays
a ``ValueError`` so code written before this family keeps catching it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "InputError",
    "InputProblem",
    "InternalError",
    "LabrecogError",
    "RulesetError",
    "RulesetProblem",
    "UnitError",
    "UnitErrorCode",
]


class LabrecogError(Exception):
    """Base of every error labrecog raises on purpose (see the module docstring)."""


class InternalError(LabrecogError):
    """Something labrecog cannot recover from (a worker pool that broke twice): not the
    input's fault nor the rule set's, so the CLI gives it its own exit code (3)."""


@dataclass(frozen=True, slots=True)
class RulesetProblem:
    """One problem in a rule set, located so an editor can jump to it."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class RulesetError(LabrecogError):
    """A rule set failed to load; carries every problem found, not just the first."""

    def __init__(self, problems: list[RulesetProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col, p.message))
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid rule set")

    def __reduce__(self) -> tuple[object, ...]:
        # args holds only the text; rebuild from the problems so a copy keeps them.
        return (type(self), (self.problems,))


@dataclass(frozen=True, slots=True)
class InputProblem:
    """One problem in a case, named by its JSON path (``prior_results[3].collected_at``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(LabrecogError, ValueError):
    """A case cannot be decided at all (malformed, mixed-up patients, unknown flags)."""

    code = "invalid_input"

    def __init__(self, problems: list[InputProblem], order_id: str | None = None) -> None:
        self.problems = problems
        self.order_id = order_id
        super().__init__("; ".join(str(p) for p in problems) or "invalid input")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.problems, self.order_id))

    @property
    def path(self) -> str:
        """Path of the first problem: batch error records name one field."""
        return self.problems[0].path if self.problems else ""

    def to_record(self, line: int | None = None) -> dict[str, object]:
        """The batch error record (docs/decision.md, "Errors")."""
        return {
            "line": line,
            "order_id": self.order_id,
            "error": {"code": self.code, "message": str(self), "path": self.path},
        }


UnitErrorCode = Literal["unit_unknown", "unit_incompatible"]


class UnitError(LabrecogError):
    """A unit that cannot be read, or a pair of units that must not be converted."""

    code: UnitErrorCode
    message: str

    def __init__(self, code: UnitErrorCode, message: str) -> None:
        # Both in args so the error survives pickling (batch workers).
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
