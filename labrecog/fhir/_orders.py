"""ServiceRequests: the order's tests, flags, time, setting and ordering institution.

Only draft and active requests of the bundle's patient are the new order; a completed or
revoked one is history. All of them must be one requisition, one setting and one ordering
institution: one Bundle is one order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from labrecog.fhir._codes import FHIR_FLAG_SYSTEM, SETTINGS, code_of, is_loinc
from labrecog.fhir._organizations import organization
from labrecog.fhir._patient import same_patient
from labrecog.fhir._problems import ReadState, Stop
from labrecog.fhir._refs import MAPS, Res, codings

__all__ = ["Requests", "read_ordered_at", "read_ordering_institution", "read_requests"]

ORDER_STATUSES = ("draft", "active")
INTENTS = frozenset(
    {
        "proposal",
        "plan",
        "directive",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
    }
)

#: The ordering institution a request names (None: it names none), and where it was read.
Named = tuple[dict[str, Any] | None, dict[str, str]]


class Requests(NamedTuple):
    """What the ServiceRequests say, for the case and for the checks across them."""

    tests: list[dict[str, Any]]
    times: list[tuple[datetime, str, str]]  # (authoredOn, as written, path)
    ordering: list[Named]  # one per test
    setting: str | None
    requisition: str | None


def read_requests(st: ReadState, patient: dict[str, Any]) -> Requests:
    """The draft and active ServiceRequests of the patient: the order's tests."""
    tests: list[dict[str, Any]] = []
    times: list[tuple[datetime, str, str]] = []
    ordering: list[Named] = []
    settings: list[tuple[str, str]] = []
    requisitions: list[tuple[str, str]] = []
    considered = 0
    for res in st.index.of_type("ServiceRequest"):
        d, at = res.data, res.path
        considered += 1
        status = d.get("status")
        if not isinstance(status, str):
            st.problem(f"{at}.status", "required: a ServiceRequest needs a status")
            continue
        if status not in ORDER_STATUSES:
            continue  # completed, revoked, on-hold...: not part of the new order
        intent = d.get("intent")
        if not isinstance(intent, str) or intent not in INTENTS:
            st.problem(f"{at}.intent", f"expected an order intent, got {intent!r}")
            continue
        other = same_patient(st, d.get("subject"), f"{at}.subject", res)
        if other is not None:
            st.problem(f"{at}.subject", f"the order is for patient {other}, not {patient['id']}")
            continue
        i = len(tests)
        prefix = f"tests[{i}]"
        st.where[prefix] = at
        item: dict[str, Any] = {"code": _order_code(st, res, prefix)}
        flags = _flags(st, res, prefix)
        if flags:
            item["flags"] = flags
        item["ext"] = {"request": res.ref}
        tests.append(item)
        st.requests.append(res.ref)
        authored = d.get("authoredOn")
        if authored is not None:
            when = st.time(authored, f"{at}.authoredOn")
            if when is not None:
                times.append((when, authored, f"{at}.authoredOn"))
        ordering.append(_requester(st, res))
        found_setting = _setting(st, res)
        if found_setting is not None:
            settings.append(found_setting)
        req = d.get("requisition")
        if isinstance(req, MAPS) and isinstance(req.get("value"), str):
            requisitions.append((str(req["value"]), f"{at}.requisition.value"))
    if not tests and not st.problems:
        what = "no ServiceRequest" if not considered else "no draft or active ServiceRequest"
        st.problem("entry", f"the Bundle holds {what}: there is no order to decide")
    if st.problems:
        raise Stop
    setting = _agreed(
        st,
        settings,
        "context.setting",
        "the orders' encounters disagree on the setting ({first} at {where}, {other} here)",
    )
    requisition = _agreed(
        st,
        requisitions,
        "order_id",
        "the ServiceRequests belong to different requisitions ({first}, {other}): "
        "one Bundle is one order",
    )
    return Requests(tests, times, ordering, setting, requisition)


def _agreed(st: ReadState, found: list[tuple[str, str]], field: str, disagree: str) -> str | None:
    """The one value every order gives (the first's path recorded for ``field``); each
    order that says otherwise is a problem, worded by ``disagree``."""
    if not found:
        return None
    first, where = found[0]
    st.where[field] = where
    for other, at in found[1:]:
        if other != first:
            st.problem(at, disagree.format(first=first, where=where, other=other))
    return first


def _order_code(st: ReadState, res: Res, prefix: str) -> str:
    """The ordered code: a local code as written (the engine resolves aliases), else the
    catalogue code a LOINC maps to, else the first code as it is (``unknown_test``)."""
    at = f"{res.path}.code"
    resolved: dict[str, tuple[str, str]] = {}  # catalogue code -> (ordered code, path)
    local: tuple[str, str] | None = None
    first: tuple[str, str] | None = None
    for j, coding in codings(res.data.get("code")):
        code = code_of(coding)
        if code is None:
            continue
        where = f"{at}.coding[{j}].code"
        first = first or (code, where)
        if is_loinc(coding.get("system")):
            target = st.rules.loinc.get(code)
            if target is not None:
                resolved.setdefault(target, (target, where))
        else:
            target = st.rules.order_codes.get(code)
            if target is not None:
                resolved.setdefault(target, (code, where))
                local = local or (code, where)
    if len(resolved) > 1:
        names = ", ".join(f"{code} ({where})" for code, (_, where) in resolved.items())
        st.problem(at, f"the codings name different catalogue items: {names}")
        return ""
    chosen = local or next(iter(resolved.values()), None) or first
    if chosen is None:
        st.problem(at, "the ServiceRequest has no coding with a code")
        return ""
    st.where[f"{prefix}.code"] = chosen[1]
    return chosen[0]


def _flags(st: ReadState, res: Res, prefix: str) -> list[str]:
    flags: list[str] = []
    for element in ("orderDetail", "reasonCode"):
        concepts = res.data.get(element)
        if not isinstance(concepts, list):
            continue
        for k, concept in enumerate(concepts):
            for j, coding in codings(concept):
                if coding.get("system") != FHIR_FLAG_SYSTEM:
                    continue
                code = coding.get("code")
                if code in flags:
                    continue
                st.where[f"{prefix}.flags[{len(flags)}]"] = (
                    f"{res.path}.{element}[{k}].coding[{j}].code"
                )
                flags.append(code)  # type: ignore[arg-type]  # the Case checks the type
    return flags


def _requester(st: ReadState, res: Res) -> Named:
    """The ordering institution from requester, else the encounter's serviceProvider."""
    d, at = res.data, res.path
    if "requester" in d:
        org = organization(st, d["requester"], f"{at}.requester", res)
        if org is not None:
            return org
    encounter = _encounter(st, res)
    if encounter is not None and "serviceProvider" in encounter.data:
        org = organization(
            st, encounter.data["serviceProvider"], f"{encounter.path}.serviceProvider", encounter
        )
        if org is not None:
            return org
    return None, {}


def _encounter(st: ReadState, res: Res) -> Res | None:
    if "encounter" not in res.data:
        return None
    found, _ = st.index.resolve(res.data["encounter"], f"{res.path}.encounter", res, st.problems)
    return found if found is not None and found.type == "Encounter" else None


def _setting(st: ReadState, res: Res) -> tuple[str, str] | None:
    encounter = _encounter(st, res)
    if encounter is None:
        return None
    klass = encounter.data.get("class")
    if isinstance(klass, MAPS) and isinstance(klass.get("code"), str):
        setting = SETTINGS.get(str(klass["code"]))
        if setting is not None:
            return setting, f"{encounter.path}.class.code"
    return None


def read_ordered_at(
    st: ReadState, times: list[tuple[datetime, str, str]], fallback: datetime | None
) -> Any:
    """The latest authoredOn: the order is placed when its last line is."""
    if times:
        st.ordered, raw, where = max(times, key=lambda t: t[0])
        st.where["ordered_at"] = where
        return raw
    first = st.requests[0] if st.requests else ""
    at = st.where.get("tests[0]", "entry")
    if fallback is None:
        st.problem(
            f"{at}.authoredOn",
            f"required: no ServiceRequest says when the order "
            f"was placed ({first} has no authoredOn)",
        )
        raise Stop
    st.where["ordered_at"] = f"{at}.authoredOn"
    if fallback.tzinfo is None and st.tz is not None:
        fallback = fallback.replace(tzinfo=st.tz)
    st.ordered = fallback if fallback.tzinfo is not None else None
    return fallback


def read_ordering_institution(
    st: ReadState,
    found: list[Named],
    fallback: Mapping[str, Any] | None,
) -> Any:
    named = [(inst, where) for inst, where in found if inst is not None]
    if named:
        inst, where = named[0]
        for other, other_where in named[1:]:
            if other["id"] != inst["id"]:
                st.problem(
                    other_where[""],
                    f"the orders name different ordering "
                    f"institutions ({inst['id']}, {other['id']})",
                )
        for suffix, path in where.items():
            st.where[f"institution{suffix}"] = path
        return inst
    if fallback is None:
        at = st.where.get("tests[0]", "entry")
        st.problem(
            f"{at}.requester",
            "no ordering institution: neither the requester "
            "(Organization or PractitionerRole.organization) nor the encounter's "
            "serviceProvider names one",
        )
        raise Stop
    st.where["institution"] = f"{st.where.get('tests[0]', 'entry')}.requester"
    return dict(fallback)
