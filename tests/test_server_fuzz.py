"""Schema-based fuzzing of the live server with schemathesis (OpenAPI 3.1 from /openapi.json).

Every operation of the served document is exercised by schemathesis' examples, coverage
and fuzzing phases, with schema-valid (positive) and schema-invalid (negative) data; each
answer must be no 5xx, a documented status and media type, a body matching the documented
response schema, and every schema-invalid request must be refused with a 4xx. The coverage
phase's deterministic boundary cases are most of the ~1,000 requests; fuzzing is bounded
to ``EXAMPLES`` derandomised examples per operation, so the run is repeatable and takes
seconds. A second test breaks the FHIR content of the example request at random (the
schema leaves FHIR resources open, so the first test rarely reaches the engine).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from tests.test_server_support import example_request, live_server

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 10
PHASES = ["examples", "coverage", "fuzzing"]

# The document is fetched from the running server: what is fuzzed is what it serves.
schema = schemathesis.openapi.from_url(f"{live_server().url}/openapi.json")
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES
)
schema.config.phases.update(phases=PHASES)

STATS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report_stats() -> Any:
    yield
    total = sum(v for k, v in STATS.items() if k.startswith("status "))
    print(
        f"\nschemathesis: {total} requests; "
        + ", ".join(f"{k}: {v}" for k, v in sorted(STATS.items()))
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_openapi_fuzz(case: Any) -> None:
    response = case.call_and_validate(
        base_url=live_server().url,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ],
        timeout=30,
    )
    STATS[f"status {response.status_code}"] += 1
    mode = case.meta.generation.mode.value if case.meta else "explicit"
    STATS[f"{mode} {response.status_code}"] += 1
    STATS[f"{case.operation.label}"] += 1


def test_the_served_document_is_the_one_fuzzed() -> None:
    served = httpx.get(f"{live_server().url}/openapi.json").json()
    assert set(served["paths"]) == {
        "/cds-services",
        "/healthz",
        "/cds-services/labrecog-order-select",
        "/cds-services/labrecog-order-select/feedback",
        "/cds-services/labrecog-order-sign",
        "/cds-services/labrecog-order-sign/feedback",
    }


# --------------------------------------------------------------------------- FHIR content
# The schema leaves FHIR resources open (the adapter judges them), so schema-generated
# bodies rarely reach the engine. This fuzz starts from the example request instead and
# breaks one to three of its elements at random: each answer must still be documented
# (200, or 412/422 with an OperationOutcome), never a 5xx.

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "2025-03-02", "2025-03-02T09:30:00", "P-001", "mmol/L", "#specimen"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_DELETE = object()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


_BASE = example_request()
_TARGETS = [p for p in _paths(_BASE) if p[0] in ("context", "prefetch")]


def _mutate(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    if value is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    st.lists(
        st.tuples(st.sampled_from(_TARGETS), st.one_of(st.just(_DELETE), _JSON)),
        min_size=1,
        max_size=3,
    )
)
def test_broken_fhir_content_is_refused_not_crashed(mutations: list[Any]) -> None:
    body = example_request()
    for path, value in mutations:
        try:
            _mutate(body, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the parent
    operation = schema["/cds-services/labrecog-order-select"]["POST"]
    case = operation.Case(body=body, media_type="application/json")
    response = case.call_and_validate(
        base_url=live_server().url,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
        timeout=30,
    )
    STATS[f"fhir-mutation {response.status_code}"] += 1
    if response.status_code == 200:
        # Fail closed: a delete only ever names one of the draft orders sent.
        drafts = {
            f"ServiceRequest/{e['resource'].get('id')}"
            for e in body["context"]["draftOrders"].get("entry", [])
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "ServiceRequest"
        }
        for card in response.json()["cards"]:
            for suggestion in card.get("suggestions", []):
                for action in suggestion["actions"]:
                    assert action["resourceId"] in drafts, action
