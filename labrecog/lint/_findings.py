"""What the linter reports: one finding, its code and severity, and where it points."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["CODES", "NAMES", "SEVERITY_RANK", "Finding", "Severity", "select"]

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK: Final[dict[str, int]] = {"info": 0, "warning": 1, "error": 2}

#: code -> severity. The words for each are in labrecog/words/_lint.py; docs/lint.md shows
#: an example of each. C: conditions (reasoned over the condition language); P: policy.
CODES: Final[dict[str, Severity]] = {
    "C001": "error",
    "C002": "warning",
    "C003": "warning",
    "P001": "error",
    "P002": "warning",
    "P003": "warning",
    "P004": "warning",
    "P005": "info",
    "P006": "info",
    "P007": "warning",
}

#: code -> a short name, as ruff's (SARIF's rule name; docs/lint.md's headings)
NAMES: Final[dict[str, str]] = {
    "C001": "never-applies",
    "C002": "no-effect",
    "C003": "overlap",
    "P001": "max-age-over-cap",
    "P002": "unused-flag",
    "P003": "no-price",
    "P004": "panel-never-whole",
    "P005": "no-loinc",
    "P006": "assumed-value",
    "P007": "look-alike-codes",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding at ``file:line:col``; ``subject`` identifies it across edits (diff)."""

    code: str
    file: str
    line: int
    col: int
    message: str
    subject: tuple[str, ...]
    witness: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def severity(self) -> Severity:
        return CODES[self.code]

    def sort_key(self) -> tuple[str, int, int, str, tuple[str, ...]]:
        return (self.file, self.line, self.col, self.code, self.subject)


def _matches(finding: Finding, patterns: Iterable[str]) -> bool:
    """``C`` selects every C code, ``C00`` C001–C009, ``C003`` just that one (as ruff);
    ``C003 a b`` only the C003 finding about conditions ``a`` and ``b``."""
    for pattern in patterns:
        code, *subject = pattern.split() if pattern else ("",)
        if finding.code.startswith(code) and (not subject or tuple(subject) == finding.subject):
            return True
    return False


def select(
    findings: Iterable[Finding],
    chosen: Iterable[str] = ("",),
    ignored: Iterable[str] = (),
) -> tuple[list[Finding], list[Finding]]:
    """(kept, dropped): kept are selected by some prefix in ``chosen`` and by none ignored."""
    chosen, ignored = tuple(chosen), tuple(ignored)
    kept: list[Finding] = []
    dropped: list[Finding] = []
    for f in findings:
        (kept if _matches(f, chosen) and not _matches(f, ignored) else dropped).append(f)
    return kept, dropped
