"""One CDS Service call: check the request, gather the FHIR data, decide, answer cards.

The FHIR data comes from ``context.draftOrders`` and ``prefetch``; a prefetch key the
client left out (or replaced by an error) is fetched from ``fhirServer`` when the request
also gives ``fhirAuthorization`` (:mod:`labrecog.server._fetch`, before this module's
worker-thread part runs). Following CDS Hooks 2.0 §"Prefetch Template":

- a required prefetch key that is still missing, or whose value is an OperationOutcome
  (the client could not fetch it and neither could the service), means the service cannot
  obtain required data: HTTP 412 with an OperationOutcome naming the keys and why;
- a key whose value is ``null`` means "no data": no lab results, no consent (so no
  authorisation, and nothing is waived when the rule set requires it). Only the patient
  cannot be null: there is no case without a patient;
- a paginated search result (``Bundle.link`` ``next``) is used as given. Results on
  later pages are not considered; a missing result can only remove a candidate, never
  add one, so this can turn a waiver into a re-test but never the reverse.

The draft ServiceRequests and the prefetched resources are merged into one FHIR
``collection`` Bundle for :func:`labrecog.fhir.read_bundle`, told where each entry came
from: every path shown (a 422's ``expression``, a reason naming a result that cannot be
read) points into the request sent (``prefetch.labResults.entry[0].resource.performer``)
or says the service fetched it (``fetched:labResults.entry[0].resource``). A result that
cannot be read costs only its own tests their waiver.

The reference time is the ServiceRequests' (latest) ``authoredOn``; only when no draft
order has one does the request's receipt time stand in (a draft order is being placed
now) — the one place where the wall clock enters a decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from labrecog._errors import InputError
from labrecog.engine import Engine
from labrecog.fhir import FhirCase, read_bundle
from labrecog.model import Decision
from labrecog.server._cards import render_cards
from labrecog.server._discovery import (
    CONSENT,
    ENCOUNTER,
    LAB_REPORTS,
    LAB_RESULTS,
    PATIENT,
    Service,
    prefetch_tokens,
    required_prefetch,
)
from labrecog.server._errors import ServiceError
from labrecog.server._feedback import IssuedCard
from labrecog.server._fetch import (
    NO_ACCESS,
    FhirAccess,
    client_failed,
    failed_outcome,
    fhir_access,
)
from labrecog.server._summary_card import if_authorised
from labrecog.server.audit import department_of

__all__ = ["HookCall", "HookResult", "decide_call", "evaluate_call", "parse_hook_request"]

MAX_ID = 256
MAX_URL = 2048
HOOK_INSTANCE_SYSTEM = "https://labrecog.dev/cds-hooks/hookInstance"


@dataclass(frozen=True, slots=True)
class HookCall:
    service: Service
    hook_instance: str
    patient_id: str
    # draft ServiceRequests: (fullUrl, resource, its path in the request)
    requests: tuple[tuple[str | None, dict[str, Any], str], ...]
    prefetch: Mapping[str, Any]
    access: FhirAccess | str = NO_ACCESS  # or why there is none
    tokens: Mapping[str, str] = field(default_factory=dict)  # prefetch token -> value
    unavailable: Mapping[str, str] = field(default_factory=dict)  # key -> why not fetched
    sent: frozenset[str] = frozenset()  # prefetch keys the client sent data for


@dataclass(slots=True)
class HookResult:
    cards: list[dict[str, Any]]
    issued: list[IssuedCard]
    order_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    paginated: bool = False


_MISSING: Any = object()


def _bad(message: str, *paths: str) -> ServiceError:
    return ServiceError(400, "bad_request", message, code="structure", expression=paths)


def _string(value: Any, path: str, limit: int = MAX_ID) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _bad(f"{path} must be a non-empty string of at most {limit} characters", path)
    return value


def _present(obj: Mapping[str, Any], key: str, path: str) -> Any:
    """An optional member: ``_MISSING`` when absent; ``null`` is refused (CDS Hooks:
    "JSON elements SHALL NOT be null, unless otherwise specified")."""
    value = obj.get(key, _MISSING)
    if value is None:
        raise _bad(f"{path} must not be null (omit it instead)", path)
    return value


def _resource_type(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("resourceType")
        if isinstance(kind, str) and kind:
            return kind
    return None


def parse_hook_request(body: Any, service: Service) -> HookCall:
    """The CDS Hooks request envelope, checked; problems are HTTP 400."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", "$")
    hook = _string(body.get("hook"), "hook")
    if hook != service.hook:
        raise _bad(f"service {service.id} answers the {service.hook} hook, not {hook}", "hook")
    hook_instance = _string(body.get("hookInstance"), "hookInstance")
    server = _present(body, "fhirServer", "fhirServer")
    if server is not _MISSING:
        _string(server, "fhirServer", MAX_URL)
    auth = _present(body, "fhirAuthorization", "fhirAuthorization")
    if auth is not _MISSING:
        if not isinstance(auth, dict):
            raise _bad("fhirAuthorization must be an object", "fhirAuthorization")
        if server is _MISSING:
            raise _bad("fhirAuthorization requires fhirServer (cds-r-1)", "fhirServer")
    context = body.get("context")
    if not isinstance(context, dict):
        raise _bad("context must be an object", "context")
    _string(context.get("userId"), "context.userId")
    patient_id = _string(context.get("patientId"), "context.patientId")
    encounter = _present(context, "encounterId", "context.encounterId")
    if encounter is not _MISSING:
        _string(encounter, "context.encounterId")
    selections = _present(context, "selections", "context.selections")
    if selections is not _MISSING or service.requires_selections:
        if not isinstance(selections, list) or not selections:
            raise _bad("context.selections must be a non-empty array", "context.selections")
        for i, sel in enumerate(selections):
            _string(sel, f"context.selections[{i}]")
    draft = context.get("draftOrders")
    if _resource_type(draft) != "Bundle":
        raise _bad("context.draftOrders must be a FHIR Bundle", "context.draftOrders")
    assert isinstance(draft, dict)
    entries = _present(draft, "entry", "context.draftOrders.entry")
    if entries is _MISSING:
        entries = []
    if not isinstance(entries, list):
        raise _bad("context.draftOrders.entry must be an array", "context.draftOrders.entry")
    requests: list[tuple[str | None, dict[str, Any], str]] = []
    for i, entry in enumerate(entries):
        at = f"context.draftOrders.entry[{i}]"
        if not isinstance(entry, dict) or _resource_type(entry.get("resource")) is None:
            raise _bad(f"{at} must hold a resource with a resourceType", f"{at}.resource")
        if entry["resource"]["resourceType"] == "ServiceRequest":
            rid = entry["resource"].get("id")
            if isinstance(rid, str) and any(r.get("id") == rid for _, r, _ in requests):
                # Two drafts with one id: a delete could not say which one it means.
                raise _bad(
                    f"{at}.resource.id repeats a draft ServiceRequest id", f"{at}.resource.id"
                )
            full_url = entry.get("fullUrl")
            url = full_url if isinstance(full_url, str) else None
            requests.append((url, entry["resource"], f"{at}.resource"))
    prefetch = _present(body, "prefetch", "prefetch")
    if prefetch is _MISSING:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise _bad("prefetch must be an object", "prefetch")
    for key, value in prefetch.items():
        if value is not None and _resource_type(value) is None:
            raise _bad(
                f"prefetch.{key} must be a FHIR resource (with a resourceType) or null",
                f"prefetch.{key}",
            )
    return HookCall(
        service,
        hook_instance,
        patient_id,
        tuple(requests),
        prefetch,
        access=fhir_access(
            None if server is _MISSING else server, None if auth is _MISSING else auth
        ),
        tokens=prefetch_tokens(context),
        sent=frozenset(key for key, value in prefetch.items() if not client_failed(value)),
    )


# --------------------------------------------------------------------------- prefetch


def _unavailable(keys: list[str], why: Mapping[str, str]) -> ServiceError:
    """412, naming each key and why it is missing, keys with the same reason together."""
    reasons: dict[str, list[str]] = {}
    for key in keys:
        reasons.setdefault(why[key], []).append(key)
    text = "; ".join(f"{', '.join(names)} ({reason})" for reason, names in reasons.items())
    return ServiceError(
        412,
        "missing_prefetch",
        f"required prefetch data is not available: {text}",
        code="processing",
        expression=[f"prefetch.{k}" for k in keys],
    )


Entry = tuple[str | None, dict[str, Any], str]  # (fullUrl, resource, where it came from)


def _root(call: HookCall, key: str) -> str:
    """Where a prefetch key's data is: the request's ``prefetch.<key>``, or, when the
    service fetched it, ``fetched:<key>`` (not in anything the client sent)."""
    return f"prefetch.{key}" if key in call.sent else f"fetched:{key}"


def _entries(
    key: str, value: dict[str, Any], why: Mapping[str, str], root: str
) -> tuple[list[Entry], bool]:
    """The resources of one prefetch value (a resource or a searchset Bundle), with the
    fullUrls that absolute references inside them may use and their paths."""
    if value.get("resourceType") != "Bundle":
        return [(None, value, root)], False
    raw = value.get("entry", [])
    if not isinstance(raw, list):
        raise ServiceError(
            422,
            "bad_prefetch",
            f"prefetch.{key}.entry must be an array",
            expression=[f"prefetch.{key}.entry"],
        )
    out: list[Entry] = []
    for i, entry in enumerate(raw):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if _resource_type(resource) is None:
            raise ServiceError(
                422,
                "bad_prefetch",
                f"prefetch.{key}.entry[{i}] must hold a resource with a resourceType",
                expression=[f"prefetch.{key}.entry[{i}].resource"],
            )
        assert isinstance(resource, dict)
        if resource["resourceType"] == "OperationOutcome":
            if failed_outcome(resource):
                reason = why.get(key, "the client reported an error fetching it")
                raise _unavailable([key], {key: reason})
            continue  # warnings and information about the search
        full_url = entry.get("fullUrl")
        url = full_url if isinstance(full_url, str) else None
        out.append((url, resource, f"{root}.entry[{i}].resource"))
    links = value.get("link", [])
    paginated = isinstance(links, list) and any(
        isinstance(link, dict) and link.get("relation") == "next" for link in links
    )
    return out, paginated


def gather_resources(call: HookCall, engine: Engine) -> tuple[list[Entry], bool]:
    """Every prefetched resource the case needs, checked against the 412 rule."""
    prefetch = call.prefetch
    why = dict(call.unavailable)
    problems: list[str] = []
    for key in required_prefetch(engine.rules):
        if key not in prefetch:
            why.setdefault(key, "absent from the request")
        elif _resource_type(prefetch[key]) == "OperationOutcome" and failed_outcome(prefetch[key]):
            why.setdefault(key, "the client reported an error fetching it")
        else:
            continue
        problems.append(key)
    if problems:
        raise _unavailable(problems, why)
    patient = prefetch[PATIENT]
    if patient is None:
        raise _unavailable([PATIENT], {PATIENT: "null: the client has no Patient resource"})
    if _resource_type(patient) != "Patient":
        raise ServiceError(
            422,
            "bad_prefetch",
            "prefetch.patient must be a Patient resource",
            expression=["prefetch.patient"],
        )
    if patient.get("id") != call.patient_id:
        raise ServiceError(
            422,
            "patient_mismatch",
            "prefetch.patient.id is not context.patientId",
            expression=["prefetch.patient.id", "context.patientId"],
        )
    resources: list[Entry] = [(None, patient, _root(call, PATIENT))]
    paginated = False
    for key in (LAB_RESULTS, LAB_REPORTS, CONSENT, ENCOUNTER):
        value = prefetch.get(key)
        if value is None:
            continue
        if _resource_type(value) == "OperationOutcome":
            continue  # an optional key the client could not fetch (required ones: above)
        found, more = _entries(key, value, why, _root(call, key))
        resources.extend(found)
        paginated = paginated or more
    return resources, paginated


def _bundle(call: HookCall, resources: list[Entry]) -> tuple[dict[str, Any], list[str]]:
    """The Bundle to read, and for each of its entries the path of its resource in the
    request (``read_bundle``'s ``sources``)."""
    seen: set[tuple[str, str]] = set()
    entries: list[dict[str, Any]] = []
    sources: list[str] = []
    # The orders are the draft orders only: a ServiceRequest that came in prefetch (an
    # earlier order, an _include) must never become an item to waive and delete.
    prefetched = [e for e in resources if e[1]["resourceType"] != "ServiceRequest"]
    for full_url, resource, source in (*call.requests, *prefetched):
        rid = resource.get("id")
        if isinstance(rid, str):
            key = (str(resource["resourceType"]), rid)
            if key in seen:  # the same Organization included by several searches
                continue
            seen.add(key)
        entry: dict[str, Any] = {"resource": resource}
        if full_url is not None:
            entry["fullUrl"] = full_url
        entries.append(entry)
        sources.append(source)
    # The order id is the ServiceRequests' requisition when they carry one; otherwise the
    # adapter falls back to Bundle.identifier, which names this hook call.
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"system": HOOK_INSTANCE_SYSTEM, "value": call.hook_instance},
        "entry": entries,
    }
    return bundle, sources


def decide_call(
    call: HookCall,
    engine: Engine,
    *,
    received_at: datetime,
    institution: Mapping[str, Any] | None,
) -> tuple[Decision, FhirCase, bool]:
    """The decision on the draft orders of a call that has some, the case it was read
    into, and whether a search result was paginated. Raises ServiceError (412, 422)."""
    resources, paginated = gather_resources(call, engine)
    bundle, sources = _bundle(call, resources)
    try:
        fhir_case = read_bundle(
            bundle,
            engine,
            ordered_at=received_at,
            institution=institution,
            sources=sources,
        )
        decision = engine.evaluate(fhir_case.case)
    except InputError as exc:
        raise ServiceError(
            422,
            "invalid_input",
            "the FHIR data cannot be evaluated: " + str(exc),
            code="invalid",
            expression=[p.path for p in exc.problems if p.path][:50],
            order_id=exc.order_id,
        ) from None
    return decision, fhir_case, paginated


def evaluate_call(
    call: HookCall,
    engine: Engine,
    *,
    received_at: datetime,
    institution: Mapping[str, Any] | None,
) -> HookResult:
    """Decide the draft orders of one call and render the cards (runs in a worker thread)."""
    if not call.requests:
        return HookResult(cards=[], issued=[])
    decision, fhir_case, paginated = decide_call(
        call, engine, received_at=received_at, institution=institution
    )
    cards, issued = render_cards(
        decision,
        fhir_case,
        engine.rules,
        engine.lang,
        service_id=call.service.id,
        hook_instance=call.hook_instance,
        cards=call.service.cards,
        if_authorised=if_authorised(engine, fhir_case.case, decision),
    )
    # For the audit trail: who was ordering (context.userId), and in which department (the
    # Encounter's serviceType; None when it does not say).
    user = call.tokens.get("context.userId")
    department = department_of(call.prefetch.get(ENCOUNTER))
    issued = [replace(card, user_id=user, department=department) for card in issued]
    counts = {"waive": 0, "partial": 0, "retest": 0}
    for item in decision.items:
        counts[item.status] += 1
    return HookResult(
        cards=cards,
        issued=issued,
        order_id=decision.order_id,
        counts=counts,
        paginated=paginated,
    )
