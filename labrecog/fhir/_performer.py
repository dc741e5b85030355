"""The laboratory that performed a result: which institution's result is it?

Recognition depends on who produced a result, so an unknown laboratory is an input error
(never a guess). Real feeds (point-of-care tests, Synthea) often leave ``performer`` out
and say where the patient was seen instead; the order of evidence, most specific first:

1. the Observation's ``performer``;
2. the ``performer`` of the report or grouping Observation that lists it (upwards);
3. the ``serviceProvider`` of the Encounter the Observation (else its report, upwards)
   belongs to: the organisation responsible for that encounter ran, or sent out, the test.

The reader's ``where`` map records the element the institution was read from, so that an
error about it names that element.
"""

from __future__ import annotations

from typing import Any

from labrecog._errors import InputProblem
from labrecog.fhir._organizations import Found, organization
from labrecog.fhir._problems import ReadState
from labrecog.fhir._refs import Res

__all__ = ["performing_lab"]


def performing_lab(reader: ReadState, chain: list[Res], prefix: str) -> dict[str, Any] | None:
    """The institution of the result ``chain[0]`` (its lineage upwards: ``chain[1:]``)."""
    for node in chain:
        performers = node.data.get("performer")
        if not isinstance(performers, list) or not performers:
            continue
        labs: list[tuple[Found, str]] = []
        for k, value in enumerate(performers):
            at = f"{node.path}.performer[{k}]"
            found = organization(reader, value, at, node)
            if found is not None:
                labs.append((found, at))
        if not labs:
            continue
        # Compared pairwise, not as a set: an id may be junk (a list) the Case model refuses.
        first_id = labs[0][0][0]["id"]
        if any(inst["id"] != first_id for (inst, _), _ in labs[1:]):
            reader.problem(
                f"{node.path}.performer",
                "performers name different laboratories: which one produced the "
                "result is ambiguous",
            )
            return None
        found, at = labs[0]
        return _record(reader, prefix, found, at)
    provider = _encounter_provider(reader, chain)
    if provider is not None:
        return _record(reader, prefix, *provider)
    reader.problem(
        f"{chain[0].path}.performer",
        "no performing laboratory: no performer "
        "of the Observation or its report is an Organization (in the Bundle, "
        "or referenced by identifier) or a PractitionerRole with one, and no "
        "Encounter of theirs has a serviceProvider that is",
    )
    return None


def _encounter_provider(reader: ReadState, chain: list[Res]) -> tuple[Found, str] | None:
    """The serviceProvider of the first Encounter along the lineage that names one."""
    for node in chain:
        if "encounter" not in node.data:
            continue
        # A reference that does not resolve (or is malformed) is no evidence: the caller
        # reports the missing laboratory if nothing else names one.
        ignored: list[InputProblem] = []
        encounter, _ = reader.index.resolve(
            node.data["encounter"], f"{node.path}.encounter", node, ignored
        )
        if encounter is None or encounter.type != "Encounter":
            continue
        if "serviceProvider" not in encounter.data:
            continue
        at = f"{encounter.path}.serviceProvider"
        found = organization(reader, encounter.data["serviceProvider"], at, encounter)
        if found is not None:
            return found, at
    return None


def _record(reader: ReadState, prefix: str, found: Found, at: str) -> dict[str, Any]:
    inst, where = found
    base = f"{prefix}.institution"
    for suffix, path in where.items():
        reader.where[f"{base}{suffix}"] = path
    reader.where[base] = at  # the element that named the laboratory
    return inst
