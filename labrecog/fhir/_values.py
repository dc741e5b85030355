"""What an Observation measured: value, unit, reference range, specimen, collection time.

Mapped, not judged: a value the Case model refuses is refused there, and named by the
path recorded here. Nothing is guessed: a value with a comparator stays text, a range that
cannot be told from others is not used, effectiveTiming is refused.
"""

from __future__ import annotations

from typing import Any

from labrecog.fhir._codes import REFERENCE_RANGE_MEANING, SPECIMEN_CODES, UCUM
from labrecog.fhir._problems import ReadState
from labrecog.fhir._refs import MAPS, Json, Res, codings

__all__ = [
    "collection_time",
    "concept_text",
    "lineage",
    "read_collected_at",
    "read_reference_range",
    "read_specimen",
    "read_value",
]

_EFFECTIVE = ("effectiveDateTime", "effectiveInstant", "effectivePeriod", "effectiveTiming")


def read_value(st: ReadState, res: Res, prior: dict[str, Any], prefix: str) -> None:
    """``value`` (and ``unit``) or ``value_text`` from the Observation's value[x]."""
    d, at = res.data, res.path
    if "valueQuantity" in d:
        q = d["valueQuantity"]
        qat = f"{at}.valueQuantity"
        if not isinstance(q, MAPS):
            st.problem(qat, "expected a Quantity")
            return
        unit, uat = _unit(q, qat)
        comparator = q.get("comparator")
        if comparator is not None:
            # "<0.05" is not the number 0.05: kept as text, which no number check uses.
            text = f"{comparator}{q.get('value')}" + (f" {unit}" if unit else "")
            prior["value_text"] = text
            st.where[f"{prefix}.value_text"] = f"{qat}.comparator"
            return
        if "value" in q:
            value = q["value"]
            prior["value"] = float(value) if type(value) is int else value
            st.where[f"{prefix}.value"] = f"{qat}.value"
        if unit is not None:
            prior["unit"], st.where[f"{prefix}.unit"] = unit, uat
    elif "valueString" in d:
        prior["value_text"] = d["valueString"]
        st.where[f"{prefix}.value_text"] = f"{at}.valueString"
    elif "valueCodeableConcept" in d:
        shown = concept_text(d["valueCodeableConcept"])
        if shown is not None:
            prior["value_text"] = shown
            st.where[f"{prefix}.value_text"] = f"{at}.valueCodeableConcept"
    elif "valueInteger" in d:
        integer = d["valueInteger"]
        prior["value"] = float(integer) if type(integer) is int else integer
        st.where[f"{prefix}.value"] = f"{at}.valueInteger"
    # Any other value[x] (Range, Ratio, boolean, ...) or a dataAbsentReason: no value,
    # and the engine answers value_unrecognised for that result.


def read_specimen(st: ReadState, chain: list[Res], prefix: str) -> str | None:
    """The specimen name a rule set uses (serum, plasma...), else the type as written."""
    found = _specimen_res(st, chain, report=True)
    if found is None:
        return None
    name = _specimen_name(found.data.get("type"))
    if name is not None:
        st.where[f"{prefix}.specimen"] = f"{found.path}.type"
    return name


def read_reference_range(st: ReadState, res: Res, prefix: str) -> dict[str, Any] | None:
    """The one normal reference range, if exactly one can be told apart."""
    ranges = res.data.get("referenceRange")
    if not isinstance(ranges, list):
        return None
    # A therapeutic or recommended range is not the reference interval.
    normal = [
        (k, rr)
        for k, rr in enumerate(ranges)
        if isinstance(rr, MAPS)
        and (
            rr.get("type") is None
            or any(
                c.get("system") == REFERENCE_RANGE_MEANING and c.get("code") == "normal"
                for _, c in codings(rr["type"])
            )
        )
    ]
    # Several candidates (by sex or age: appliesTo/age are not read) cannot be told
    # apart: none is used, so a test that needs the range is re-tested.
    if len(normal) != 1:
        return None
    k, rr = normal[0]
    at = f"{res.path}.referenceRange[{k}]"
    rprefix = f"{prefix}.reference_range"
    st.where[rprefix] = at
    out: dict[str, Any] = {}
    units: list[tuple[str, str]] = []
    for bound in ("low", "high"):
        q = rr.get(bound)
        if not isinstance(q, MAPS):
            continue
        if "value" in q:
            v = q["value"]
            out[bound] = float(v) if type(v) is int else v
            st.where[f"{rprefix}.{bound}"] = f"{at}.{bound}.value"
        unit, uat = _unit(q, f"{at}.{bound}")
        if unit is not None:
            units.append((unit, uat))
    if units:
        out["unit"], st.where[f"{rprefix}.unit"] = units[0]
        if any(u != units[0][0] for u, _ in units):
            st.problem(
                f"{at}.high",
                f"low and high are in different units ({units[0][0]}, {units[-1][0]})",
            )
    if isinstance(rr.get("text"), str):
        out["text"] = rr["text"]
    return out


def lineage(st: ReadState, res: Res) -> list[Res]:
    """The observation, then the report or group observation it belongs to, upwards: what
    it says of itself first, then what it inherits."""
    chain = [res]
    while (parent := st.parents.get(id(chain[-1].data))) is not None and len(chain) < 8:
        chain.append(parent)
    return chain


def read_collected_at(st: ReadState, chain: list[Res], prefix: str) -> Any:
    """effective[x] along the lineage, else the Specimen's collection time (as written)."""
    value, at, problem = _collection(st, chain)
    if problem is not None:
        st.problem(at, problem)
        return None
    st.where[f"{prefix}.collected_at"] = at
    return value


def collection_time(st: ReadState, chain: list[Res]) -> Any:
    """The collection time as written, or None; no problem recorded (an unreadable
    result's time, as far as it can be told)."""
    return _collection(st, chain)[0]


def _collection(st: ReadState, chain: list[Res]) -> tuple[Any, str, str | None]:
    """(value, path, None), or (None, path, the problem)."""
    for node in chain:
        for key in _EFFECTIVE:
            if key not in node.data:
                continue
            at = f"{node.path}.{key}"
            value = node.data[key]
            if key == "effectivePeriod":
                start = value.get("start") if isinstance(value, MAPS) else None
                if start is None:
                    return None, at, "a collection period needs a start"
                return start, f"{at}.start", None
            if key == "effectiveTiming":
                return (
                    None,
                    at,
                    "effectiveTiming is not a collection time: use "
                    "effectiveDateTime, effectiveInstant or effectivePeriod",
                )
            return value, at, None
    # No effective[x] anywhere: the specimen's collection time, if it has one.
    specimen = _specimen_res(st, chain)
    if specimen is not None:
        collection = specimen.data.get("collection")
        if isinstance(collection, MAPS):
            if "collectedDateTime" in collection:
                at = f"{specimen.path}.collection.collectedDateTime"
                return collection["collectedDateTime"], at, None
            period = collection.get("collectedPeriod")
            if isinstance(period, MAPS) and "start" in period:
                return period["start"], f"{specimen.path}.collection.collectedPeriod.start", None
    return (
        None,
        f"{chain[0].path}.effective[x]",
        "required: when was the specimen "
        "collected? (no effective[x] on the Observation or its report, and no "
        "Specimen.collection.collected[x])",
    )


def _specimen_res(st: ReadState, chain: list[Res], *, report: bool = False) -> Res | None:
    """The Specimen of the first node that names one (DiagnosticReport.specimen is a
    list: its first); malformed references are problems only if ``report``."""
    for node in chain:
        value = node.data.get("specimen")
        at = f"{node.path}.specimen"
        if isinstance(value, list):
            if not value:
                continue
            value, at = value[0], f"{at}[0]"
        if value is None:
            continue
        found, _ = st.index.resolve(value, at, node, st.problems if report else [])
        return found if found is not None and found.type == "Specimen" else None
    return None


def concept_text(concept: Any, *, prefer_code: bool = False) -> str | None:
    """A CodeableConcept as one string: text, else the first coding's display or code."""
    if not isinstance(concept, MAPS):
        return None
    if isinstance(concept.get("text"), str) and concept["text"]:
        return str(concept["text"])
    for _, coding in codings(concept):
        keys = ("code", "display") if prefer_code else ("display", "code")
        for key in keys:
            if isinstance(coding.get(key), str) and coding[key]:
                return str(coding[key])
    return None


def _unit(q: Json, at: str) -> tuple[str | None, str]:
    """The UCUM code when the Quantity says it is UCUM, else the human-readable unit."""
    if q.get("system") == UCUM and isinstance(q.get("code"), str) and q["code"]:
        return str(q["code"]), f"{at}.code"
    if isinstance(q.get("unit"), str) and q["unit"]:
        return str(q["unit"]), f"{at}.unit"
    return None, f"{at}.unit"


def _specimen_name(concept: Any) -> str | None:
    for _, coding in codings(concept):
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str):
            name = SPECIMEN_CODES.get((system, code))
            if name is not None:
                return name
    return concept_text(concept)
