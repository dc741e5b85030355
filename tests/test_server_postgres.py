"""The PostgreSQL feedback store, end to end over HTTP. Skipped unless a database is given:

    LABRECOG_TEST_POSTGRES_URL=postgresql://user@127.0.0.1:5432/db \\
        .venv/bin/python -m pytest tests/test_server_postgres.py

(Not run in CI, which has no PostgreSQL server; it needs ``psycopg`` installed too.)
The tables are created (by the migrations) in a fresh schema that is dropped afterwards.
More PostgreSQL cases (the first DDL upgraded, 50 writers) are in test_audit_store.py.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from labrecog.server import (
    PostgresFeedbackStore,
    open_feedback_store,
)
from labrecog.server.audit import HEAD_REVISION
from tests.test_server_support import (
    SELECT,
    accepted,
    demo_service,
    example_request,
)

URL = os.environ.get("LABRECOG_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="LABRECOG_TEST_POSTGRES_URL is not set")


@pytest.fixture
def schema_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    assert URL is not None
    name = f"labrecog_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in URL else "?"
    try:
        yield f"{URL}{sep}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def test_cards_and_feedback_go_to_postgresql(schema_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    store = open_feedback_store(schema_url)
    assert isinstance(store, PostgresFeedbackStore)
    with demo_service(store) as url:
        for _ in range(2):  # the same order twice: the card rows are updated, not doubled
            response = httpx.post(
                f"{url}/cds-services/{SELECT}", json=example_request(), timeout=30
            )
            assert response.status_code == 200
        glu = response.json()["cards"][0]
        feedback = {"feedback": [accepted(glu)]}
        response = httpx.post(f"{url}/cds-services/{SELECT}/feedback", json=feedback)
        assert response.json() == {"stored": 1}
    with psycopg.connect(schema_url) as conn:
        assert conn.execute("SELECT count(*) FROM cds_card").fetchone() == (2,)
        row = conn.execute(
            "SELECT order_id, item_code, outcome, accepted_suggestions, user_id FROM cds_feedback"
        ).fetchone()
        [version] = conn.execute("SELECT version_num FROM labrecog_alembic_version").fetchall()
    assert row[:3] == ("O-2025-000123", "GLU", "accepted")
    assert json.loads(row[3]) == [glu["suggestions"][0]["uuid"]]
    assert row[4] == "PractitionerRole/PR-LZU2-ENDO-07"
    assert version == (HEAD_REVISION,)
