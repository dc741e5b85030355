"""Observations (and the DiagnosticReports listing them) as the case's prior results.

A result inherits what its report or grouping Observation says when it says nothing
itself (subject, times, performer, specimen): ``_lineage`` is that chain, upwards. A
usable status holds only if every report or group above is signed off too: a final
result of a preliminary report is not final.
"""

from __future__ import annotations

from typing import Any

from labrecog.check import NOT_RESULTS, USABLE_STATUSES
from labrecog.fhir._codes import (
    EXT_RECOGNITION_MARK,
    EXT_SHARED,
    V3_CONFIDENTIALITY,
    code_of,
    is_loinc,
)
from labrecog.fhir._patient import same_patient
from labrecog.fhir._performer import performing_lab
from labrecog.fhir._problems import ReadState
from labrecog.fhir._refs import MAPS, Res, codings, extension
from labrecog.fhir._time import widen
from labrecog.fhir._unmapped import Checkpoint, is_laboratory, unmapped_identity, valid_prior
from labrecog.fhir._values import (
    concept_text,
    read_collected_at,
    read_reference_range,
    read_specimen,
    read_value,
)

__all__ = ["read_priors"]

# A report (or grouping Observation) that is not (yet) final makes its members unusable,
# whatever they say. A parent status missing or not listed here counts as "unknown".
USABLE_PARENT_STATUSES = USABLE_STATUSES | {"appended"}
PARENT_STATUS_OVERRIDES = {
    **{status: status for status in NOT_RESULTS},
    "partial": "preliminary",
    "preliminary": "preliminary",
    "unknown": "unknown",
}


def read_priors(st: ReadState) -> list[dict[str, Any]]:
    """The prior results: mapped ones first, then unmapped laboratory results."""
    # Reports' results and observations' members, first: a member inherits from the
    # first report or group that lists it, whatever the entry order.
    contained: list[Res] = []
    for res in (*st.index.of_type("DiagnosticReport"), *st.index.of_type("Observation")):
        key = "result" if res.type == "DiagnosticReport" else "hasMember"
        members = res.data.get(key)
        if not isinstance(members, list):
            continue
        for k, member in enumerate(members):
            found, _ = st.index.resolve(member, f"{res.path}.{key}[{k}]", res, st.problems)
            if found is None or found.type != "Observation" or found.data is res.data:
                continue
            st.parents.setdefault(id(found.data), res)
            if found.container is not None:
                contained.append(found)
    priors: list[dict[str, Any]] = []
    unmapped: list[Res] = []
    seen: set[int] = set()
    for res in (*st.index.of_type("Observation"), *contained):
        if id(res.data) in seen:
            continue
        seen.add(id(res.data))
        prefix = f"prior_results[{len(priors)}]"
        identity = _identity(st, res, prefix)
        if identity is None:
            unmapped.append(res)
            continue
        prior = _prior(st, res, prefix, identity)
        if prior is not None:
            priors.append(prior)
    # Last, so that none of them can take the id of a result that is mapped.
    for res in unmapped:
        prior = _unmapped(st, res, f"prior_results[{len(priors)}]")
        if prior is not None:
            priors.append(prior)
    return priors


def _unmapped(st: ReadState, res: Res, prefix: str) -> dict[str, Any] | None:
    """A laboratory result no catalogue test claims, read leniently: any problem leaves
    it out (and is forgotten) rather than refusing the order."""
    if not is_laboratory(_lineage(st, res)):
        return None  # a vital sign, a survey: not a lab result
    named = unmapped_identity(res, st.rules)
    rid = _result_id(res)
    if named is None or rid is None or rid in st.observations:
        return None
    identity, where = named
    checkpoint = Checkpoint(st)
    for key, path in where.items():
        st.where[f"{prefix}.{key}"] = path
    prior = _prior(st, res, prefix, identity, mapped=False)
    if prior is None or checkpoint.troubled or not valid_prior(prior, st.tz, st.patient_id):
        checkpoint.undo()
        return None
    return prior


def _lineage(st: ReadState, res: Res) -> list[Res]:
    """The observation, then the report or group observation it belongs to, upwards."""
    chain = [res]
    while (parent := st.parents.get(id(chain[-1].data))) is not None and len(chain) < 8:
        chain.append(parent)
    return chain


def _result_id(res: Res) -> str | None:
    rid = res.id if res.container is None else f"{res.container.ref}#{res.id or ''}"
    return rid or res.full_url


def _prior(
    st: ReadState, res: Res, prefix: str, identity: dict[str, Any], *, mapped: bool = True
) -> dict[str, Any] | None:
    d, at = res.data, res.path
    chain = _lineage(st, res)
    rid = _result_id(res)
    if rid is None:
        st.problem(f"{at}.id", "the Observation has neither id nor fullUrl")
        return None
    st.where[prefix] = at
    st.where[f"{prefix}.id"] = f"{at}.id"
    st.observations[rid] = res.ref
    prior: dict[str, Any] = {"id": rid, "patient_id": _subject(st, chain, prefix)}
    prior.update(identity)
    _status(st, chain, prior, prefix)
    read_value(st, res, prior, prefix)
    specimen = read_specimen(st, chain, prefix)
    if specimen is not None:
        prior["specimen"] = specimen
    rr = read_reference_range(st, res, prefix)
    if rr is not None:
        prior["reference_range"] = rr
    prior["collected_at"] = read_collected_at(st, chain, prefix)
    issued = _inherited(chain, "issued")
    if issued is not None:
        prior["reported_at"], st.where[f"{prefix}.reported_at"] = (
            issued[0],
            f"{issued[1]}.issued",
        )
    # An unmapped result is never used, only named when newer than the one used: its
    # earliest instant, always (docs/fhir.md, "Dates without a time").
    ordered = st.ordered if mapped else None
    for field, message in widen(prior, ordered).items():
        st.problem(st.where.get(f"{prefix}.{field}", at), message)
    institution = performing_lab(st, chain, prefix)
    if institution is not None:
        prior["institution"] = institution
    for node in chain:
        mark = extension(node.data, EXT_RECOGNITION_MARK, node.path)
        if mark is not None:
            prior["mark"], st.where[f"{prefix}.mark"] = mark
            break
    method = concept_text(d.get("method"), prefer_code=True)
    if method is not None:
        prior["method"], st.where[f"{prefix}.method"] = method, f"{at}.method"
    _shared(st, chain, prior, prefix)
    return prior


def _identity(st: ReadState, res: Res, prefix: str) -> dict[str, Any] | None:
    """``loinc`` and ``code`` from the codings; None if none names a catalogue test."""
    at = f"{res.path}.code"
    tests = st.rules.tests
    loinc: tuple[str, str] | None = None
    loinc_tests: dict[str, str] = {}
    local: tuple[str, str] | None = None
    local_tests: dict[tuple[str, ...], str] = {}
    for j, coding in codings(res.data.get("code")):
        code = code_of(coding)
        if code is None:
            continue
        where = f"{at}.coding[{j}].code"
        if is_loinc(coding.get("system")):
            target = st.rules.loinc.get(code)
            if target in tests:
                if not loinc_tests:  # the first mapped LOINC beats any unmapped one
                    loinc = (code, where)
                loinc_tests.setdefault(target, where)
            elif loinc is None:
                loinc = (code, where)
        else:
            names = st.rules.resolve_result_code(code)
            if names:
                local_tests.setdefault(names, where)
                local = local or (code, where)
    if len(loinc_tests) > 1:
        st.problem(
            at,
            "the LOINC codings name different tests: "
            + ", ".join(f"{t} ({w})" for t, w in loinc_tests.items()),
        )
    if len(local_tests) > 1:
        st.problem(
            at,
            "the local codings name different tests: "
            + ", ".join(f"{'/'.join(t)} ({w})" for t, w in local_tests.items()),
        )
    if not loinc_tests and local is None:
        return None
    out: dict[str, Any] = {}
    if local is not None:
        out["code"], st.where[f"{prefix}.code"] = local
    if loinc is not None:
        out["loinc"], st.where[f"{prefix}.loinc"] = loinc
    return out


def _subject(st: ReadState, chain: list[Res], prefix: str) -> str:
    assert st.patient is not None
    for node in chain:
        if "subject" in node.data:
            at = f"{node.path}.subject"
            st.where[f"{prefix}.patient_id"] = at
            other = same_patient(st, node.data["subject"], at, node)
            return other if other is not None else str(st.patient_id)
    st.problem(
        f"{chain[0].path}.subject",
        "required: whose result is it? (no subject on the Observation or its report)",
    )
    return str(st.patient_id)


def _status(st: ReadState, chain: list[Res], prior: dict[str, Any], prefix: str) -> None:
    """The Observation's status, unless a report or group above makes it unusable."""
    res = chain[0]
    status = res.data.get("status")
    if status is None:
        st.problem(f"{res.path}.status", "required: an Observation needs a status")
        return
    prior["status"], st.where[f"{prefix}.status"] = status, f"{res.path}.status"
    if not isinstance(status, str) or status not in USABLE_STATUSES:
        return
    for node in chain[1:]:
        parent_status = node.data.get("status")
        if isinstance(parent_status, str) and parent_status in USABLE_PARENT_STATUSES:
            continue
        override = (
            PARENT_STATUS_OVERRIDES.get(parent_status, "unknown")
            if isinstance(parent_status, str)
            else "unknown"
        )
        prior["status"] = override
        st.where[f"{prefix}.status"] = f"{node.path}.status"
        return


def _shared(st: ReadState, chain: list[Res], prior: dict[str, Any], prefix: str) -> None:
    """Withheld by the patient (Consent), marked not shared, or restricted: not used."""
    for node in chain:
        if id(node.data) in st.unshared:
            prior["shared"] = False
            st.where[f"{prefix}.shared"] = node.path
            return
        value = extension(node.data, EXT_SHARED, node.path)
        if value is not None and value[0] is not True:
            prior["shared"], st.where[f"{prefix}.shared"] = value
            return
        meta = node.data.get("meta")
        labels = meta.get("security") if isinstance(meta, MAPS) else None
        if isinstance(labels, list):
            for k, label in enumerate(labels):
                if (
                    isinstance(label, MAPS)
                    and label.get("system") == V3_CONFIDENTIALITY
                    and label.get("code") in ("R", "V")
                ):
                    prior["shared"] = False
                    st.where[f"{prefix}.shared"] = f"{node.path}.meta.security[{k}]"
                    return


def _inherited(chain: list[Res], key: str) -> tuple[Any, str] | None:
    for node in chain:
        if key in node.data:
            return node.data[key], node.path
    return None
