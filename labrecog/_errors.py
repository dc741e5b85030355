"""The two ways labrecog refuses: a bad rule set (never loads) and a bad case (never decided)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["InputError", "InputProblem", "RulesetError", "RulesetProblem"]


@dataclass(frozen=True, slots=True)
class RulesetProblem:
    """One problem in a rule set, located so an editor can jump to it."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class RulesetError(Exception):
    """A rule set failed to load; carries every problem found, not just the first."""

    def __init__(self, problems: list[RulesetProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col, p.message))
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid rule set")


@dataclass(frozen=True, slots=True)
class InputProblem:
    """One problem in a case, named by its JSON path (``prior_results[3].collected_at``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InputError(ValueError):
    """A case cannot be decided at all (malformed, mixed-up patients, unknown flags)."""

    code = "invalid_input"

    def __init__(self, problems: list[InputProblem], order_id: str | None = None) -> None:
        self.problems = problems
        self.order_id = order_id
        super().__init__("; ".join(str(p) for p in problems) or "invalid input")

    @property
    def path(self) -> str:
        """Path of the first problem: batch error records name one field."""
        return self.problems[0].path if self.problems else ""

    def to_record(self, line: int | None = None) -> dict[str, object]:
        """The batch error record of PRODUCT.md §5."""
        return {
            "line": line,
            "order_id": self.order_id,
            "error": {"code": self.code, "message": str(self), "path": self.path},
        }
