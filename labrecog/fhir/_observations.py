"""Observations (and the DiagnosticReports listing them) as the case's prior results.

A result inherits what its report or grouping Observation says when it says nothing
itself (subject, times, performer, specimen): ``lineage`` is that chain, upwards. A
usable status holds only if every report or group above is signed off too: a final
result of a preliminary report is not final.

A mapped result whose read raises a problem (no laboratory, no time, a malformed value,
codings naming different tests) is set aside as unreadable (``_unreadable``), with its
problems: only that result is lost. A result of another patient refuses the Bundle.
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
from labrecog.fhir._unreadable import report_identity, set_aside
from labrecog.fhir._values import (
    collection_time,
    concept_text,
    lineage,
    read_collected_at,
    read_reference_range,
    read_specimen,
    read_value,
)

__all__ = ["read_priors"]

UNIDENTIFIED = "(unidentified)"  # what same_patient answers for a subject naming nobody

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
    """The prior results: mapped ones first, then unmapped laboratory results; the mapped
    ones that cannot be read go to ``st.unreadable``."""
    contained = _members(st)
    priors: list[dict[str, Any]] = []
    unmapped: list[Res] = []
    seen: set[int] = set()
    for res in (*st.index.of_type("Observation"), *contained):
        if id(res.data) in seen:
            continue
        seen.add(id(res.data))
        prefix = f"prior_results[{len(priors)}]"
        checkpoint = Checkpoint(st)
        named = _identity(st, res, prefix)
        if named is None:
            unmapped.append(res)
            continue
        identity, others = named
        prior = _prior(st, res, prefix, identity)
        if not checkpoint.troubled:
            priors.append(prior)
            st.collected.append(res)
            continue
        problems = checkpoint.take()
        if prior.get("shared", True) is not True:
            continue  # withheld by the patient: neither used nor shown, readable or not
        when = collection_time(st, lineage(st, res))
        set_aside(st, res, _result_id(res), problems, [identity, *others], when)
    # Last, so that none of them can take the id of a result that is mapped.
    for res in unmapped:
        passed = _unmapped(st, res, f"prior_results[{len(priors)}]")
        if passed is not None:
            priors.append(passed)
            st.collected.append(res)
    for k, prior in enumerate(priors):
        other = st.unreadable_ids.get(prior["id"])
        if other is not None:
            first = st.where.get(f"prior_results[{k}].id", "")
            st.refuse(other, f"result id {prior['id']} is also used by {first}")
    return priors


def _members(st: ReadState) -> list[Res]:
    """Link reports' results and observations' members to them (a member inherits from
    the first report or group that lists it, whatever the entry order); the members that
    are contained resources. A report whose member list cannot be read is unreadable: a
    member it meant may have lost what it would inherit (its status among them)."""
    contained: list[Res] = []
    for res in (*st.index.of_type("DiagnosticReport"), *st.index.of_type("Observation")):
        key = "result" if res.type == "DiagnosticReport" else "hasMember"
        members = res.data.get(key)
        if not isinstance(members, list):
            continue
        checkpoint = Checkpoint(st)
        for k, member in enumerate(members):
            found, _ = st.index.resolve(member, f"{res.path}.{key}[{k}]", res, st.problems)
            if found is None or found.type != "Observation" or found.data is res.data:
                continue
            st.parents.setdefault(id(found.data), res)
            if found.container is not None:
                contained.append(found)
        if checkpoint.troubled:
            problems = checkpoint.take()
            if _withheld(st, lineage(st, res)) is not None:
                continue
            when = collection_time(st, [res])
            set_aside(st, res, res.ref, problems, [report_identity(res)], when, result=False)
    return contained


def _unmapped(st: ReadState, res: Res, prefix: str) -> dict[str, Any] | None:
    """A laboratory result no catalogue test claims, read leniently: any problem leaves
    it out (and is forgotten) rather than refusing the order."""
    if not is_laboratory(lineage(st, res)):
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
    if checkpoint.troubled or not valid_prior(prior, st.tz, st.patient_id):
        checkpoint.undo()
        return None
    return prior


def _result_id(res: Res) -> str | None:
    rid = res.id if res.container is None else f"{res.container.ref}#{res.id or ''}"
    return rid or res.full_url


def _prior(
    st: ReadState, res: Res, prefix: str, identity: dict[str, Any], *, mapped: bool = True
) -> dict[str, Any]:
    """The prior result as read; problems are recorded, and the result read on, so that an
    unreadable one is known as well as it can be (its collection time, above all)."""
    d, at = res.data, res.path
    chain = lineage(st, res)
    rid = _result_id(res)
    if rid is None:
        st.problem(f"{at}.id", "the Observation has neither id nor fullUrl")
    else:
        st.observations[rid] = res.ref
    st.where[prefix] = at
    st.where[f"{prefix}.id"] = f"{at}.id"
    prior: dict[str, Any] = {"id": rid, "patient_id": _subject(st, chain, prefix, mapped)}
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


def _identity(
    st: ReadState, res: Res, prefix: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """``loinc`` and ``code`` from the codings; None if none names a catalogue test. When
    codings name different tests (a problem), the others too: the result is unreadable
    for each of the tests it may be."""
    at = f"{res.path}.code"
    tests = st.rules.tests
    loinc: tuple[str, str] | None = None
    loinc_tests: dict[str, tuple[str, str]] = {}
    local: tuple[str, str] | None = None
    local_tests: dict[tuple[str, ...], tuple[str, str]] = {}
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
                loinc_tests.setdefault(target, (code, where))
            elif loinc is None:
                loinc = (code, where)
        else:
            names = st.rules.resolve_result_code(code)
            if names:
                local_tests.setdefault(names, (code, where))
                local = local or (code, where)
    if len(loinc_tests) > 1:
        st.problem(
            at,
            "the LOINC codings name different tests: "
            + ", ".join(f"{t} ({w})" for t, (_, w) in loinc_tests.items()),
        )
    if len(local_tests) > 1:
        st.problem(
            at,
            "the local codings name different tests: "
            + ", ".join(f"{'/'.join(t)} ({w})" for t, (_, w) in local_tests.items()),
        )
    if not loinc_tests and local is None:
        return None
    out: dict[str, Any] = {}
    if local is not None:
        out["code"], st.where[f"{prefix}.code"] = local
    if loinc is not None:
        out["loinc"], st.where[f"{prefix}.loinc"] = loinc
    others = [{"loinc": code} for code, _ in list(loinc_tests.values())[1:]]
    others += [{"code": code} for code, _ in list(local_tests.values())[1:]]
    return out, others


def _subject(st: ReadState, chain: list[Res], prefix: str, mapped: bool) -> str:
    """The patient's id; another patient's refuses the Bundle (mixed-up patients are a
    data-integrity fault), except for an unmapped result, which is only left out."""
    assert st.patient is not None
    for node in chain:
        if "subject" in node.data:
            at = f"{node.path}.subject"
            st.where[f"{prefix}.patient_id"] = at
            other = same_patient(st, node.data["subject"], at, node)
            if other == UNIDENTIFIED:
                st.problem(at, "whose result is it? the subject names no patient")
            elif other is not None and mapped:
                st.refuse(at, f"prior result belongs to patient {other}, not {st.patient_id}")
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
    found = _withheld(st, chain)
    if found is not None:
        prior["shared"], st.where[f"{prefix}.shared"] = found


def _withheld(st: ReadState, chain: list[Res]) -> tuple[Any, str] | None:
    """The ``shared`` value (anything but true) and where it was read, if not shared."""
    for node in chain:
        if id(node.data) in st.unshared:
            return False, node.path
        value = extension(node.data, EXT_SHARED, node.path)
        if value is not None and value[0] is not True:
            return value
        meta = node.data.get("meta")
        labels = meta.get("security") if isinstance(meta, MAPS) else None
        if isinstance(labels, list):
            for k, label in enumerate(labels):
                if (
                    isinstance(label, MAPS)
                    and label.get("system") == V3_CONFIDENTIALITY
                    and label.get("code") in ("R", "V")
                ):
                    return False, f"{node.path}.meta.security[{k}]"
    return None


def _inherited(chain: list[Res], key: str) -> tuple[Any, str] | None:
    for node in chain:
        if key in node.data:
            return node.data[key], node.path
    return None
