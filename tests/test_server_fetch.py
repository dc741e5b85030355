"""Missing prefetch fetched from the client's FHIR server: a fake one on loopback.

The fake FHIR server (Starlette under uvicorn on 127.0.0.1, like the service itself)
serves the example's prefetch as reads and searchset Bundles, records every request with
its Authorization header, and can be told to be slow, fail, send too much, paginate,
redirect or point ``next`` at another origin (a second fake server, which must never be
asked anything).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from labrecog.server import INSECURE_NO_AUTH, JsonFormatter, SQLiteFeedbackStore, create_app
from labrecog.server._discovery import expand_template, prefetch_tokens
from labrecog.server._fetch import FetchLimits, allowed_server
from tests.test_server_support import (
    INSTITUTION,
    MAX_BODY,
    SELECT,
    example_request,
    extra_server,
    lab,
    live_server,
    serve_in_thread,
)

TOKEN = "tok-5f2c9e0b-NEVER-LOG-ME-a81d77"
TIMEOUT = 1.0
MAX_PAGES = 3
FHIR_JSON = "application/fhir+json"

GLU = "Glucose: no need to re-test"
K = "Potassium: no need to re-test"
LFT = "Liver function panel: 2 of 4 components recognised"


# --------------------------------------------------------------------------- fake FHIR


class FakeFhir:
    """Serves ``data`` (``"Type/id"`` for reads, ``"Type"`` for searches) under /fhir."""

    def __init__(self) -> None:
        self.url = ""
        self.data: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        self.behave: dict[str, dict[str, Any]] = {}  # resource type -> what to do
        self.app = Starlette(routes=[Route("/fhir/{path:path}", self.handle)])

    def reset(self) -> None:
        self.data, self.requests, self.behave = {}, [], {}

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]

    async def handle(self, request: Request) -> Response:
        path = request.path_params["path"]
        query = dict(parse_qsl(request.url.query))
        self.requests.append((path, query, request.headers.get("authorization")))
        kind = path.partition("/")[0]
        how = self.behave.get(kind, {})
        if how.get("delay"):
            await asyncio.sleep(how["delay"])
        if "status" in how:
            outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
            return Response(orjson.dumps(outcome), how["status"], media_type=FHIR_JSON)
        if "redirect" in how:
            return Response(status_code=302, headers={"location": how["redirect"]})
        if how.get("big"):  # announced by Content-Length
            body = b'{"resourceType": "Bundle", "type": "searchset", "x": "' + b"x" * MAX_BODY
            return Response(body + b'"}', media_type=FHIR_JSON)
        if how.get("endless"):  # chunked, no Content-Length: must be cut off while read
            return StreamingResponse(_endless(), media_type=FHIR_JSON)
        resource = self.data.get(path if "/" in path else kind)
        if resource is None:
            return Response(b"{}", 404, media_type=FHIR_JSON)
        if "/" not in path:
            resource = self._page(kind, resource, query, how)
        return Response(orjson.dumps(resource), media_type=FHIR_JSON)

    def _page(
        self, kind: str, bundle: dict[str, Any], query: dict[str, str], how: dict[str, Any]
    ) -> Any:
        pages = how.get("pages", 1)
        entries = bundle.get("entry", [])
        size = math.ceil(len(entries) / pages)
        number = int(query.get("_page", "0"))
        page = {**bundle, "entry": entries[number * size : (number + 1) * size], "link": []}
        if number + 1 < pages:
            following = urlencode({**query, "_page": str(number + 1)})
            page["link"] = [{"relation": "next", "url": f"{self.url}/fhir/{kind}?{following}"}]
        if "next" in how:
            page["link"] = [{"relation": "next", "url": how["next"]}]
        return page


async def _endless() -> AsyncIterator[bytes]:
    yield b'{"resourceType": "Bundle", "type": "searchset", "x": "'
    for _ in range(800):  # 50 MiB at most, should a fetch not stop
        yield b"x" * 65536
        await asyncio.sleep(0)
    yield b'"}'


def _start(fake: FakeFhir) -> Iterator[FakeFhir]:
    url, server, thread = serve_in_thread(fake.app)
    fake.url = url
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def _fhir_server() -> Iterator[FakeFhir]:
    yield from _start(FakeFhir())


@pytest.fixture(scope="module")
def _elsewhere_server() -> Iterator[FakeFhir]:
    yield from _start(FakeFhir())


@pytest.fixture
def fhir(_fhir_server: FakeFhir, _elsewhere_server: FakeFhir) -> FakeFhir:
    _fhir_server.reset()
    _elsewhere_server.reset()
    return _fhir_server


@pytest.fixture
def elsewhere(_elsewhere_server: FakeFhir) -> FakeFhir:
    """Another origin (another port): it must never hear from the service."""
    return _elsewhere_server


# --------------------------------------------------------------------------- the service


class _Capture(logging.Handler):
    """Every log record of every logger, formatted as the service formats them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + repr(record.__dict__))


@pytest.fixture(scope="module")
def capture() -> Iterator[_Capture]:
    handler = _Capture()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@pytest.fixture(scope="module")
def service(capture: _Capture, _fhir_server: FakeFhir) -> Iterator[tuple[httpx.Client, Path]]:
    engine = live_server().engine  # also sets the labrecog.server logger to INFO
    folder = Path(tempfile.mkdtemp(prefix="labrecog-fetch-"))
    store = SQLiteFeedbackStore(folder / "feedback.sqlite3")
    limits = FetchLimits(
        servers=(f"{_fhir_server.url}/fhir",),
        timeout=TIMEOUT,
        max_bytes=MAX_BODY,
        max_pages=MAX_PAGES,
    )
    app = create_app(
        engine,
        feedback_store=store,
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
        fetch_limits=limits,
        cards="items",
    )
    with extra_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, folder
    store.close()


@pytest.fixture
def client(service: tuple[httpx.Client, Path]) -> httpx.Client:
    return service[0]


def post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post(f"/cds-services/{SELECT}", json=body)


def summaries(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [card["summary"].split(" —")[0] for card in response.json()["cards"]]


def outcome_text(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    text: str = body["issue"][0]["details"]["text"]
    return text


# --------------------------------------------------------------------------- data


def full_request() -> dict[str, Any]:
    """The example plus a potassium order whose prior result has its collection time only
    on its DiagnosticReport (labReports) and whose window depends on the setting
    (rules/demo: inpatient electrolytes 24 h), which only the Encounter gives."""
    request = example_request()
    k = copy.deepcopy(lab(request, "obs-glu-88"))
    k["id"] = "obs-k-5"
    del k["effectiveDateTime"], k["issued"]
    k["code"] = {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]}
    ucum = {"unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}
    k["valueQuantity"] = {"value": 4.1, **ucum}
    k["referenceRange"] = [{"low": {"value": 3.5, **ucum}, "high": {"value": 5.3, **ucum}}]
    base = "https://ehr.example.org/fhir"
    results = request["prefetch"]["labResults"]["entry"]
    results.insert(1, {"fullUrl": f"{base}/Observation/obs-k-5", "resource": k})
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dr-k-5",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
        "subject": {"reference": "Patient/P-001"},
        "effectiveDateTime": "2025-02-28T08:00:00+08:00",
        "issued": "2025-02-28T10:00:00+08:00",
        "performer": [{"reference": "Organization/org-lxrm"}],
        "result": [{"reference": "Observation/obs-k-5"}],
    }
    request["prefetch"]["labReports"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": f"{base}/DiagnosticReport/dr-k-5", "resource": report}],
    }
    order = copy.deepcopy(request["context"]["draftOrders"]["entry"][0])
    order["resource"]["id"] = "sr-k"
    order["resource"]["code"] = {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]}
    request["context"]["draftOrders"]["entry"].append(order)
    request["context"]["selections"].append("ServiceRequest/sr-k")
    return request


SERVED = {
    "patient": "Patient/P-001",
    "labResults": "Observation",
    "labReports": "DiagnosticReport",
    "consent": "Consent",
    "encounter": "Encounter/E-2025-0302",
}


def serve(fhir: FakeFhir, request: dict[str, Any]) -> None:
    for key, path in SERVED.items():
        fhir.data[path] = copy.deepcopy(request["prefetch"][key])


def with_fhir(request: dict[str, Any], fhir: FakeFhir, *drop: str, **auth: Any) -> dict[str, Any]:
    out = copy.deepcopy(request)
    for key in drop:
        del out["prefetch"][key]
    out["fhirServer"] = auth.pop("server", f"{fhir.url}/fhir")
    out["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Observation.read patient/DiagnosticReport.read",
        "subject": "labrecog",
        **auth,
    }
    return out


# --------------------------------------------------------------------------- fetching


def test_fetched_keys_give_the_cards_of_a_full_prefetch(
    client: httpx.Client, fhir: FakeFhir
) -> None:
    request = full_request()
    serve(fhir, request)
    expected = post(client, request)
    assert summaries(expected) == [GLU, LFT, K]
    # Today's answers without the optional keys and without a FHIR server to ask:
    partial = copy.deepcopy(request)
    del partial["prefetch"]["labReports"]
    # The potassium's collection time is on its report: unreadable, so K alone is re-tested.
    assert summaries(post(client, partial)) == [GLU, LFT]
    del request["prefetch"]["encounter"]
    assert summaries(post(client, request)) == [GLU, LFT]  # the setting is unknown
    assert fhir.requests == []

    fetched = post(client, with_fhir(full_request(), fhir, "labReports", "encounter"))
    assert fetched.json() == expected.json()
    assert sorted(fhir.requests) == [
        (
            "DiagnosticReport",
            {
                "patient": "P-001",
                "category": "LAB",
                "_sort": "-date",
                "_include": "DiagnosticReport:performer",
            },
            f"Bearer {TOKEN}",
        ),
        ("Encounter/E-2025-0302", {}, f"Bearer {TOKEN}"),
    ]


def test_every_template_is_expanded_from_the_context(client: httpx.Client, fhir: FakeFhir) -> None:
    request = full_request()
    serve(fhir, request)
    expected = post(client, request).json()
    bare = with_fhir(request, fhir)
    del bare["prefetch"]
    assert post(client, bare).json() == expected
    templates = client.get("/cds-services").json()["services"][0]["prefetch"]
    asked = {}
    for template in templates.values():
        relative = template.replace("{{context.patientId}}", "P-001").replace(
            "{{context.encounterId}}", "E-2025-0302"
        )
        path, _, query = relative.partition("?")
        asked[path] = dict(parse_qsl(query))
    assert {path: query for path, query, _ in fhir.requests} == asked
    assert {auth for _, _, auth in fhir.requests} == {f"Bearer {TOKEN}"}


def test_a_key_the_client_failed_to_fetch_is_fetched_again(
    client: httpx.Client, fhir: FakeFhir
) -> None:
    request = full_request()
    serve(fhir, request)
    expected = post(client, request).json()
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    request = with_fhir(request, fhir)
    request["prefetch"]["labResults"] = failed
    assert post(client, request).json() == expected
    assert fhir.paths() == ["Observation"]


def test_null_means_no_data_and_is_not_fetched(client: httpx.Client, fhir: FakeFhir) -> None:
    request = full_request()
    serve(fhir, request)
    request = with_fhir(request, fhir)
    request["prefetch"]["encounter"] = None
    assert summaries(post(client, request)) == [GLU, LFT]
    request["prefetch"]["labResults"] = None
    assert post(client, request).json() == {"cards": []}
    assert fhir.requests == []


def test_a_token_without_a_value_means_that_key_is_not_fetched(
    client: httpx.Client, fhir: FakeFhir
) -> None:
    request = full_request()
    serve(fhir, request)
    request = with_fhir(request, fhir, "encounter", "patient")
    del request["context"]["encounterId"]
    assert summaries(post(client, request)) == [GLU, LFT]
    assert fhir.paths() == ["Patient/P-001"]


def test_when_a_required_key_cannot_be_fetched_nothing_is(
    client: httpx.Client, fhir: FakeFhir
) -> None:
    request = full_request()
    serve(fhir, request)
    request = with_fhir(request, fhir, "labResults", "encounter")
    request["context"]["patientId"] = "P 001"  # not a FHIR id: no URL can be built with it
    text = outcome_text(post(client, request), 412)
    assert "labResults" in text and "{{context.patientId}}" in text and "not a FHIR id" in text
    assert fhir.requests == []  # not even the encounter: the answer is 412 whatever comes


def test_a_call_without_draft_service_requests_fetches_nothing(
    client: httpx.Client, fhir: FakeFhir
) -> None:
    request = with_fhir(full_request(), fhir)
    del request["prefetch"]
    request["context"]["draftOrders"]["entry"] = []
    request["context"]["selections"] = ["MedicationRequest/m-1"]
    assert post(client, request).json() == {"cards": []}
    assert fhir.requests == []


def test_prefetch_tokens_follow_cds_hooks() -> None:
    context = {
        "userId": "PractitionerRole/PR-7",
        "patientId": "P-001",
        "selections": ["ServiceRequest/a"],
        "draftOrders": {"resourceType": "Bundle"},
    }
    tokens = prefetch_tokens(context)
    assert tokens == {
        "context.userId": "PractitionerRole/PR-7",
        "context.patientId": "P-001",
        "userPractitionerRoleId": "PR-7",
    }
    assert expand_template("PractitionerRole?_id={{userPractitionerRoleId}}", tokens) == (
        "PractitionerRole?_id=PR-7"
    )
    assert expand_template("Practitioner/{{userPractitionerId}}", tokens)[0] == (
        "userPractitionerId"
    )
    assert expand_template("Encounter/{{context.encounterId}}", tokens)[0] == (
        "context.encounterId"
    )
    assert expand_template("{{context.userId}}", tokens) == "PractitionerRole/PR-7"
    for bad in ("P-001&_include=*", "..", "a/b", "Patient/..", "P-001?x=1", "P 1", "%2F"):
        assert isinstance(
            expand_template("Patient/{{context.patientId}}", {**tokens, "context.patientId": bad}),
            tuple,
        )


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("auth", "said"),
    [
        ({"drop": ["fhirServer", "fhirAuthorization"]}, "no fhirServer and fhirAuthorization"),
        ({"drop": ["fhirAuthorization"]}, "no fhirAuthorization"),
        ({"token_type": "MAC"}, "not Bearer"),
        ({"server": "http://user:pa55word@127.0.0.1:9/fhir"}, "credentials"),
        ({"server": "ftp://127.0.0.1/fhir"}, "not an http(s) URL"),
    ],
)
def test_without_usable_access_nothing_is_fetched_and_required_keys_are_412(
    client: httpx.Client, fhir: FakeFhir, auth: dict[str, Any], said: str
) -> None:
    request = full_request()
    serve(fhir, request)
    auth = dict(auth)
    drop = auth.pop("drop", [])
    request = with_fhir(request, fhir, "labResults", **auth)
    for field in drop:
        del request[field]
    text = outcome_text(post(client, request), 412)
    assert "labResults" in text and said in text
    assert "pa55word" not in text and TOKEN not in text
    assert post(client, request).json()["issue"][0]["expression"] == ["prefetch.labResults"]
    assert fhir.requests == []


def test_a_fhir_server_off_the_allow_list_is_never_queried(
    client: httpx.Client, fhir: FakeFhir, elsewhere: FakeFhir
) -> None:
    """The caller names fhirServer: only configured servers are queried (no SSRF)."""
    request = full_request()
    serve(elsewhere, request)
    for server in (f"{elsewhere.url}/fhir", f"{fhir.url}/fhirx", f"{fhir.url}/fhir/../admin"):
        sent = with_fhir(request, fhir, "labResults", server=server)
        text = outcome_text(post(client, sent), 412)
        assert "not one this service may query" in text
    assert fhir.requests == [] and elsewhere.requests == []


@pytest.mark.parametrize(
    ("base", "ok"),
    [
        ("https://ehr.example/fhir", True),
        ("https://ehr.example/fhir/", True),
        ("https://ehr.example/fhir/r4", True),
        ("https://ehr.example/fhirx", False),
        ("https://ehr.example/fhir/%2e%2e/admin", False),
        ("http://ehr.example/fhir", False),
        ("https://ehr.example:8443/fhir", False),
        ("https://evil.example/fhir", False),
    ],
)
def test_allowed_server_is_the_configured_base_or_below_it(base: str, ok: bool) -> None:
    assert allowed_server(base, ("https://ehr.example/fhir/",)) is ok
    assert allowed_server(base, ()) is False


def test_a_slow_server_is_given_up_on(client: httpx.Client, fhir: FakeFhir) -> None:
    request = full_request()
    serve(fhir, request)
    fhir.behave = {"Observation": {"delay": 3}, "Encounter": {"delay": 3}}
    started = time.monotonic()
    text = outcome_text(post(client, with_fhir(request, fhir, "labResults")), 412)
    assert time.monotonic() - started < 2.5
    assert "labResults" in text and "Observation" in text and "within 1 s" in text
    assert "P-001" not in text and "patient=" not in text
    started = time.monotonic()
    optional = post(client, with_fhir(request, fhir, "encounter"))
    assert time.monotonic() - started < 2.5
    assert summaries(optional) == [GLU, LFT]  # encounter treated as absent


@pytest.mark.parametrize(("status", "said"), [(500, "HTTP 500"), (401, "refused the access")])
def test_a_failing_server_is_412_for_a_required_key_only(
    client: httpx.Client, fhir: FakeFhir, status: int, said: str
) -> None:
    request = full_request()
    serve(fhir, request)
    fhir.behave = {"Observation": {"status": status}, "Encounter": {"status": status}}
    text = outcome_text(post(client, with_fhir(request, fhir, "labResults")), 412)
    assert "labResults" in text and said in text
    assert summaries(post(client, with_fhir(request, fhir, "encounter"))) == [GLU, LFT]


@pytest.mark.parametrize("how", ["big", "endless"])
def test_an_oversized_answer_is_refused(client: httpx.Client, fhir: FakeFhir, how: str) -> None:
    request = full_request()
    serve(fhir, request)
    fhir.behave = {"Observation": {how: True}}
    text = outcome_text(post(client, with_fhir(request, fhir, "labResults")), 412)
    # "exceeds", not "did not answer": the endless body was cut off, not waited for
    assert f"exceeds the limit of {MAX_BODY} bytes" in text


def test_pages_are_followed_up_to_the_limit(
    client: httpx.Client, fhir: FakeFhir, service: tuple[httpx.Client, Path]
) -> None:
    request = full_request()
    serve(fhir, request)
    expected = post(client, request).json()
    fhir.behave = {"Observation": {"pages": MAX_PAGES}}
    assert post(client, with_fhir(request, fhir, "labResults")).json() == expected
    assert fhir.paths() == ["Observation"] * MAX_PAGES
    assert {auth for _, _, auth in fhir.requests} == {f"Bearer {TOKEN}"}

    # Seven pages, one entry each, glucose last: pages past the limit are not read, so
    # glucose is not seen (fail closed: a missing result only removes a candidate).
    fhir.requests.clear()
    entries = fhir.data["Observation"]["entry"]
    entries.sort(key=lambda e: e["resource"]["resourceType"] != "Organization")
    entries.append(entries.pop(next(i for i, e in enumerate(entries) if "glu" in e["fullUrl"])))
    fhir.behave = {"Observation": {"pages": len(entries)}}
    hook_instance = "0f3c2b1a-0000-4000-8000-00000000fe7c"
    paged = with_fhir(request, fhir, "labResults")
    paged["hookInstance"] = hook_instance
    assert GLU not in summaries(post(client, paged))
    assert len(fhir.requests) == MAX_PAGES
    lines = [r for r in live_server().log_records() if r.get("hook_instance") == hook_instance]
    fetch = [r for r in lines if r["event"] == "prefetch_fetch"]
    assert fetch[0]["page_limit"] is True and fetch[0]["pages"] == MAX_PAGES
    assert lines[-1]["event"] == "request" and lines[-1]["prefetch_paginated"] is True


def test_a_next_link_to_another_origin_is_not_followed(
    client: httpx.Client, fhir: FakeFhir, elsewhere: FakeFhir
) -> None:
    request = full_request()
    serve(fhir, request)
    serve(elsewhere, request)
    expected = post(client, request).json()
    fhir.behave = {"Observation": {"next": f"{elsewhere.url}/fhir/Observation?_page=1"}}
    assert post(client, with_fhir(request, fhir, "labResults")).json() == expected
    assert fhir.paths() == ["Observation"]
    fhir.behave = {"Observation": {"redirect": f"{elsewhere.url}/fhir/Observation"}}
    text = outcome_text(post(client, with_fhir(request, fhir, "labResults")), 412)
    assert "redirect" in text
    assert elsewhere.requests == []


def test_the_token_is_never_logged_or_stored(
    client: httpx.Client,
    fhir: FakeFhir,
    capture: _Capture,
    service: tuple[httpx.Client, Path],
) -> None:
    for name in ("httpx", "httpcore"):  # their most talkative level, for this test
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        start = len(capture.lines)
        request = full_request()
        serve(fhir, request)
        hook_instance = "5e7d1c2b-0000-4000-8000-0000000070c3"
        fetched = with_fhir(request, fhir, "labReports", "encounter")
        fetched["hookInstance"] = hook_instance
        answers = [post(client, fetched)]
        fhir.behave = {"Observation": {"status": 500}}
        answers.append(post(client, with_fhir(request, fhir, "labResults")))
        fhir.behave = {"Encounter": {"delay": 3}}
        answers.append(post(client, with_fhir(request, fhir, "encounter")))
        lines = capture.lines[start:]
    finally:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert [a.status_code for a in answers] == [200, 412, 200]
    assert [auth for _, _, auth in fhir.requests] == [f"Bearer {TOKEN}"] * 4
    assert any("httpx" in line for line in lines)  # the capture does see httpx
    assert not [line for line in lines if TOKEN in line]
    assert not [a for a in answers if TOKEN in a.text]
    folder = service[1]
    stored = b"".join(p.read_bytes() for p in folder.iterdir())
    assert b"Potassium" not in stored  # not values, only ids, are stored ...
    assert b"sr-k" in stored  # ... and the cards of the fetched call are there
    assert TOKEN.encode() not in stored
    own = [
        orjson.loads(line.partition(" {")[0])
        for line in lines
        if '"logger":"labrecog.server"' in line
    ]
    fetch = [r for r in own if r["event"] == "prefetch_fetch"]
    ok = [r for r in fetch if r["hook_instance"] == hook_instance]
    assert {r["key"] for r in ok} == {"labReports", "encounter"}
    assert all(r["status"] == 200 and r["bytes"] > 0 and r["latency_ms"] >= 0 for r in ok)
    assert {r.get("error") for r in fetch} == {None, "http_status", "timeout"}
    assert not [r for r in own if "P-001" in orjson.dumps(r).decode()]


# --------------------------------------------------------------------------- discovery


def test_discovery_says_which_keys_are_required_and_what_is_lost(
    client: httpx.Client, fhir: FakeFhir
) -> None:
    for service in client.get("/cds-services").json()["services"]:
        text = service["description"]
        assert "Required prefetch: patient, labResults, consent" in text
        assert "labReports" in text and "collection time" in text
        assert "encounter" in text and "inpatient-electrolytes" in text
        assert "fetched from fhirServer" in text

    engine = live_server().engine
    store = SQLiteFeedbackStore(Path(tempfile.mkdtemp()) / "feedback.sqlite3")
    app = create_app(
        engine,
        feedback_store=store,
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
        fetch_limits=FetchLimits(enabled=False),
        cards="items",
    )
    request = full_request()
    serve(fhir, request)
    with extra_server(app) as url, httpx.Client(base_url=url, timeout=30) as other:
        for service in other.get("/cds-services").json()["services"]:
            assert "does not query the FHIR server" in service["description"]
        text = outcome_text(post(other, with_fhir(request, fhir, "labResults")), 412)
        assert "configured not to query" in text
    store.close()
    assert fhir.requests == []
