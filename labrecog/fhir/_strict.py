"""Optional full validation of a Bundle with ``fhir.resources`` (R4B models).

The reader checks the elements it reads; this checks the whole Bundle against the FHIR
R4 structure definitions (unknown elements, cardinalities, primitive formats). It costs
several times more than reading and deciding (docs/fhir.md), so it is opt-in:
``labrecog evaluate --format fhir --strict-fhir``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labrecog._errors import InputProblem

__all__ = ["available", "validate_bundle"]

_MAX_PROBLEMS = 20


def available() -> bool:
    try:
        import fhir.resources.R4B.bundle  # noqa: F401
    except ImportError:
        return False
    return True


def validate_bundle(bundle: Mapping[str, Any]) -> list[InputProblem]:
    """Problems fhir.resources finds in the Bundle, named by FHIR path (none if valid)."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [
            InputProblem(_path(err["loc"]), f"not valid FHIR R4: {err['msg']}")
            for err in errors[:_MAX_PROBLEMS]
        ]
        if len(errors) > _MAX_PROBLEMS:
            problems.append(InputProblem("", f"... and {len(errors) - _MAX_PROBLEMS} more"))
        return problems
    return []


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function") or "[" in part:
            continue
        else:
            out += f".{part}" if out else part
    return out
