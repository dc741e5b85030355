"""The audit store: Alembic migrations, the audit columns, and nothing lost under load.

Migrations run on a fresh SQLite file, on a file made by the hand-written DDL of the first
store (copied below as it was), and down and up again; 50 threads and 50 processes write
cards and feedback at once and every row is counted. The PostgreSQL variants run only when
``LABRECOG_TEST_POSTGRES_URL`` names a database (as in test_server_postgres.py).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from labrecog import Engine
from labrecog.server import (
    INSECURE_NO_AUTH,
    Caller,
    FeedbackItem,
    IssuedCard,
    SQLiteFeedbackStore,
    create_app,
    open_feedback_store,
)
from labrecog.server.audit import (
    HEAD_REVISION,
    StoreError,
    department_of,
    downgrade_store,
    store_revision,
)
from tests.test_server_support import (
    DEMO,
    INSTITUTION,
    ROOT,
    SELECT,
    accepted,
    demo_service,
    example_request,
    extra_server,
)

LEGACY_CARD = [
    "card_uuid",
    "service_id",
    "hook_instance",
    "order_id",
    "item_code",
    "status",
    "service_request",
    "observations",
    "suggestion_uuid",
    "ruleset",
    "ruleset_digest",
    "issued_at",
]
LEGACY_FEEDBACK = [
    "id",
    "received_at",
    "service_id",
    "card_uuid",
    "order_id",
    "item_code",
    "outcome",
    "accepted_suggestions",
    "override_system",
    "override_code",
    "override_display",
    "user_comment",
    "outcome_timestamp",
]
AUDIT = ["user_id", "department", "caller_issuer", "caller_subject", "caller_tenant", "caller_jti"]

# The first store's hand-written DDL for SQLite, exactly as labrecog 0.1 ran it.
OLD_SQLITE_DDL = (
    """
    CREATE TABLE IF NOT EXISTS cds_card (
        card_uuid       TEXT PRIMARY KEY,
        service_id      TEXT NOT NULL,
        hook_instance   TEXT NOT NULL,
        order_id        TEXT NOT NULL,
        item_code       TEXT NOT NULL,
        status          TEXT NOT NULL,
        service_request TEXT NOT NULL,
        observations    TEXT NOT NULL,
        suggestion_uuid TEXT,
        ruleset         TEXT NOT NULL,
        ruleset_digest  TEXT NOT NULL,
        issued_at       TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cds_feedback (
        id                   INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at          TEXT NOT NULL,
        service_id           TEXT NOT NULL,
        card_uuid            TEXT NOT NULL,
        order_id             TEXT,
        item_code            TEXT,
        outcome              TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
        accepted_suggestions TEXT NOT NULL,
        override_system      TEXT,
        override_code        TEXT,
        override_display     TEXT,
        user_comment         TEXT,
        outcome_timestamp    TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS cds_feedback_card ON cds_feedback (card_uuid)",
    "CREATE INDEX IF NOT EXISTS cds_card_order ON cds_card (order_id)",
)

CALLER = Caller(
    issuer="https://ehr.lzu2.example.cn", subject="ehr-client-7", tenant="LZU2", jti="j-1"
)


def card(n: int, order: str = "O-1", **fields: Any) -> IssuedCard:
    return IssuedCard(
        card_uuid=fields.pop("card_uuid", f"00000000-0000-4000-8000-{n:012d}"),
        service_id=SELECT,
        hook_instance="hi-1",
        order_id=order,
        item_code=fields.pop("item_code", "GLU"),
        status=fields.pop("status", "waive"),
        service_request=f"ServiceRequest/sr-{n}",
        observations=(f"Observation/obs-{n}",),
        suggestion_uuid=f"10000000-0000-4000-8000-{n:012d}",
        ruleset="demo 2025.1",
        ruleset_digest="sha256:00",
        **fields,
    )


def feedback(card_uuid: str, outcome: str = "overridden", **fields: Any) -> FeedbackItem:
    return FeedbackItem(
        card_uuid=card_uuid,
        outcome=outcome,
        accepted_suggestions=fields.pop("accepted", ("s-1",) if outcome == "accepted" else ()),
        override_system=fields.pop("system", None),
        override_code=fields.pop("code", None),
        override_display=fields.pop("display", None),
        user_comment=fields.pop("comment", None),
        outcome_timestamp=fields.pop("at", "2025-03-02T01:31:05+00:00"),
    )


def columns(db: Path, table: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


def old_file(path: Path) -> Path:
    """An SQLite file as the first store left it: its DDL, a card and a feedback row."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in OLD_SQLITE_DDL:
        conn.execute(statement)
    conn.execute(
        f"INSERT INTO cds_card ({', '.join(LEGACY_CARD)}) VALUES ({', '.join('?' * 12)})",
        (
            "c-old",
            SELECT,
            "hi-0",
            "O-OLD",
            "GLU",
            "waive",
            "ServiceRequest/sr-glu",
            '["Observation/obs-1"]',
            "s-old",
            "demo 2025.1",
            "sha256:00",
            "2025-01-05T02:00:00.000+00:00",
        ),
    )
    conn.execute(
        f"INSERT INTO cds_feedback ({', '.join(LEGACY_FEEDBACK[1:])}) "
        f"VALUES ({', '.join('?' * 12)})",
        (
            "2025-01-05T02:01:00.000+00:00",
            SELECT,
            "c-old",
            "O-OLD",
            "GLU",
            "overridden",
            "[]",
            "https://labrecog.dev/fhir/CodeSystem/flag",
            "condition_changed",
            "condition has changed",
            "jaundice",
            "2025-01-05T02:00:30+00:00",
        ),
    )
    conn.close()
    return path


# --------------------------------------------------------------------------- migrations


def test_a_fresh_file_is_migrated_to_head_with_the_audit_columns(tmp_path: Path) -> None:
    db = tmp_path / "fresh.sqlite3"
    store = SQLiteFeedbackStore(db)
    store.close()
    assert columns(db, "cds_card") == [*LEGACY_CARD, *AUDIT]
    assert columns(db, "cds_feedback") == [*LEGACY_FEEDBACK, *AUDIT]
    assert query(db, "SELECT version_num FROM labrecog_alembic_version") == [(HEAD_REVISION,)]
    assert store_revision(str(db)) == HEAD_REVISION
    assert query(db, "PRAGMA journal_mode") == [("wal",)]
    # Opening again is a no-op: same revision, nothing recreated.
    SQLiteFeedbackStore(db).close()
    assert query(db, "SELECT count(*) FROM labrecog_alembic_version") == [(1,)]


def test_a_file_made_by_the_old_ddl_is_adopted_and_upgraded(tmp_path: Path) -> None:
    db = old_file(tmp_path / "old.sqlite3")
    assert store_revision(str(db)) is None  # no version table: the hand-written schema
    store = SQLiteFeedbackStore(db)
    try:
        assert columns(db, "cds_card") == [*LEGACY_CARD, *AUDIT]
        assert columns(db, "cds_feedback") == [*LEGACY_FEEDBACK, *AUDIT]
        assert query(db, "SELECT version_num FROM labrecog_alembic_version") == [(HEAD_REVISION,)]
        # the old rows are kept, their audit columns empty
        assert query(db, "SELECT card_uuid, order_id, user_id, caller_tenant FROM cds_card") == [
            ("c-old", "O-OLD", None, None)
        ]
        # new rows go in next to them, and feedback ids go on from the old ones
        store.record_cards([card(1)], caller=CALLER)
        store.record_feedback(SELECT, [feedback(card(1).card_uuid)], caller=CALLER)
    finally:
        store.close()
    assert query(db, "SELECT id, card_uuid, caller_tenant FROM cds_feedback ORDER BY id") == [
        (1, "c-old", None),
        (2, card(1).card_uuid, "LZU2"),
    ]
    # the query docs/cds-hooks.md shows still runs
    assert query(
        db,
        "SELECT c.item_code, f.outcome, f.override_code, count(*) "
        "FROM cds_feedback f JOIN cds_card c USING (card_uuid) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    ) == [("GLU", "overridden", None, 1), ("GLU", "overridden", "condition_changed", 1)]


def test_a_table_of_another_shape_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE cds_card (card_uuid TEXT PRIMARY KEY, note TEXT)")
    with pytest.raises(StoreError, match="cds_card"):
        SQLiteFeedbackStore(db)
    assert columns(db, "cds_card") == ["card_uuid", "note"]
    assert query(db, "SELECT name FROM sqlite_master WHERE name LIKE '%version%'") == []


def test_a_store_from_a_newer_labrecog_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newer.sqlite3"
    SQLiteFeedbackStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE labrecog_alembic_version SET version_num = 'ffff_from_the_future'")
    with pytest.raises(StoreError, match="ffff_from_the_future"):
        SQLiteFeedbackStore(db)


def test_the_audit_revision_goes_down_to_the_old_tables_and_up_again(tmp_path: Path) -> None:
    db = tmp_path / "down.sqlite3"
    store = SQLiteFeedbackStore(db)
    store.record_cards([card(1)], caller=CALLER)
    store.close()
    downgrade_store(str(db), "0001")
    assert columns(db, "cds_card") == LEGACY_CARD
    assert columns(db, "cds_feedback") == LEGACY_FEEDBACK
    assert store_revision(str(db)) == "0001"
    SQLiteFeedbackStore(db).close()
    assert columns(db, "cds_card") == [*LEGACY_CARD, *AUDIT]
    assert query(db, "SELECT card_uuid FROM cds_card") == [(card(1).card_uuid,)]


def test_the_schema_the_code_uses_is_what_the_migrations_make(tmp_path: Path) -> None:
    """_schema.py and migrations/ say the same: a change to one alone fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from labrecog.server.audit._schema import METADATA

    db = tmp_path / "compare.sqlite3"
    SQLiteFeedbackStore(db).close()
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), METADATA)
    finally:
        engine.dispose()
    assert [d for d in differences if "alembic_version" not in str(d)] == []


def test_the_migrations_ship_inside_the_package() -> None:
    folder = ROOT / "labrecog" / "server" / "audit" / "migrations"
    assert (folder / "env.py").is_file() and (folder / "__init__.py").is_file()
    versions = sorted(p.name for p in (folder / "versions").glob("*.py"))
    assert versions == ["0001_first_tables.py", "0002_audit_columns.py", "__init__.py"]


# --------------------------------------------------------------------------- what is recorded


def test_caller_user_and_department_are_recorded_with_cards_and_feedback(
    tmp_path: Path,
) -> None:
    db = tmp_path / "audit.sqlite3"
    store = SQLiteFeedbackStore(db)
    try:
        store.record_cards(
            [card(1, user_id="PractitionerRole/PR-LZU2-ENDO-07", department="内分泌科门诊")],
            caller=CALLER,
        )
        store.record_cards([card(2)])  # no caller (insecure mode), no user or department
        stored = store.record_feedback(
            SELECT,
            [
                feedback(
                    card(1).card_uuid,
                    system="https://labrecog.dev/fhir/CodeSystem/flag",
                    code="patient_request",
                    display="patient or family requests a re-test",
                ),
                feedback(card(2).card_uuid, "accepted"),
            ],
            caller=CALLER,
        )
    finally:
        store.close()
    assert stored == 2
    assert query(
        db,
        "SELECT card_uuid, user_id, department, caller_issuer, caller_subject, caller_tenant, "
        "caller_jti FROM cds_card ORDER BY card_uuid",
    ) == [
        (
            card(1).card_uuid,
            "PractitionerRole/PR-LZU2-ENDO-07",
            "内分泌科门诊",
            "https://ehr.lzu2.example.cn",
            "ehr-client-7",
            "LZU2",
            "j-1",
        ),
        (card(2).card_uuid, None, None, None, None, None, None),
    ]
    assert query(
        db,
        "SELECT card_uuid, order_id, item_code, user_id, department, caller_tenant, "
        "override_code FROM cds_feedback ORDER BY id",
    ) == [
        (
            card(1).card_uuid,
            "O-1",
            "GLU",
            "PractitionerRole/PR-LZU2-ENDO-07",
            "内分泌科门诊",
            "LZU2",
            "patient_request",
        ),
        (card(2).card_uuid, "O-1", "GLU", None, None, "LZU2", None),
    ]


def test_a_reissued_card_is_one_row_carrying_the_latest_issue(tmp_path: Path) -> None:
    db = tmp_path / "again.sqlite3"
    times = iter(
        [datetime(2025, 3, 1, 2, 0, tzinfo=UTC), datetime(2025, 3, 1, 2, 5, 30, tzinfo=UTC)]
    )
    store = SQLiteFeedbackStore(db, clock=lambda: next(times))
    try:
        store.record_cards([card(1, user_id="PractitionerRole/A")])
        store.record_cards([card(1, user_id="PractitionerRole/B")], caller=CALLER)
    finally:
        store.close()
    assert query(db, "SELECT user_id, caller_tenant, issued_at FROM cds_card") == [
        ("PractitionerRole/B", "LZU2", "2025-03-01T02:05:30.000+00:00")
    ]


@pytest.mark.parametrize(
    ("encounter", "department"),
    [
        ({"resourceType": "Encounter", "serviceType": {"text": "内分泌科门诊"}}, "内分泌科门诊"),
        (
            {
                "resourceType": "Encounter",
                "serviceType": {
                    "coding": [{"system": "http://x/dept", "code": "ENDO", "display": "内分泌科"}]
                },
            },
            "内分泌科",
        ),
        (
            {"resourceType": "Encounter", "serviceType": {"coding": [{"code": "ENDO"}]}},
            "ENDO",
        ),
        (  # R5: a list of CodeableReference
            {"resourceType": "Encounter", "serviceType": [{"concept": {"text": "Cardiology"}}]},
            "Cardiology",
        ),
        ({"resourceType": "Encounter", "status": "in-progress"}, None),
        ({"resourceType": "Encounter", "serviceType": {"text": ""}}, None),
        ({"resourceType": "Encounter", "serviceType": "ENDO"}, None),
        ({"resourceType": "OperationOutcome"}, None),
        (None, None),
    ],
)
def test_the_department_is_the_encounters_service_type(
    encounter: dict[str, Any] | None, department: str | None
) -> None:
    assert department_of(encounter) == department


def test_the_service_records_the_ordering_user_and_department(tmp_path: Path) -> None:
    """Through the real app: context.userId and the prefetched Encounter's serviceType."""
    import json

    visit = json.loads((ROOT / "examples" / "cds" / "visit-gansu.json").read_text("utf-8"))
    db = tmp_path / "app.sqlite3"
    store = SQLiteFeedbackStore(db)
    app = create_app(
        Engine.from_path(DEMO),
        feedback_store=store,
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
    )
    try:
        with extra_server(app) as url:
            for request in (visit, example_request()):
                response = httpx.post(f"{url}/cds-services/{SELECT}", json=request, timeout=30)
                assert response.status_code == 200, response.text
    finally:
        store.close()
    found = set(query(db, "SELECT order_id, user_id, department FROM cds_card"))
    assert found == {
        ("O-2025-030217", "PractitionerRole/PR-LZU2-ENDO-07", "内分泌科门诊"),
        # order-select.json's Encounter has no serviceType: no department, never a guess
        ("O-2025-000123", "PractitionerRole/PR-LZU2-ENDO-07", None),
    }


def test_cards_and_feedback_through_the_demo_app_keep_their_columns(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    with demo_service(SQLiteFeedbackStore(db)) as url:
        response = httpx.post(f"{url}/cds-services/{SELECT}", json=example_request(), timeout=30)
        body = {"feedback": [accepted(response.json()["cards"][0])]}
        stored = httpx.post(f"{url}/cds-services/{SELECT}/feedback", json=body)
        assert stored.json() == {"stored": 1}
    assert query(db, "SELECT order_id, item_code, outcome, user_id FROM cds_feedback") == [
        ("O-2025-000123", "GLU", "accepted", "PractitionerRole/PR-LZU2-ENDO-07")
    ]


# --------------------------------------------------------------------------- concurrency

WRITERS = 50
PER_WRITER = 20


def _write(store: Any, writer: int) -> None:
    """One writer's share: PER_WRITER cards, one transaction each, and feedback on each."""
    for i in range(PER_WRITER):
        issued = card(0, order=f"O-{writer}", card_uuid=f"w{writer}-c{i}")
        store.record_cards([issued], caller=CALLER)
        assert store.record_feedback(SELECT, [feedback(issued.card_uuid)], caller=CALLER) == 1


def _counts(db: Path) -> tuple[int, int, int]:
    [(cards, feedbacks, joined)] = query(
        db,
        "SELECT (SELECT count(*) FROM cds_card), (SELECT count(*) FROM cds_feedback), "
        "(SELECT count(*) FROM cds_feedback WHERE order_id IS NOT NULL)",
    )
    return cards, feedbacks, joined


def _threads_write(store: Any) -> list[BaseException]:
    """WRITERS threads write through one store at once; what they raised (the store is
    closed after)."""
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            start.wait()
            _write(store, writer)
        except BaseException as exc:  # reported by the caller, with the counts
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    return errors


def test_50_threads_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite3"
    assert _threads_write(SQLiteFeedbackStore(db)) == []
    sent = WRITERS * PER_WRITER
    assert _counts(db) == (sent, sent, sent)
    print(f"\n50 threads: cards written {sent}/{sent}, feedback written {sent}/{sent}")


def _process_writer(db: str, writer: int, start: Any) -> None:
    start.wait()
    store = open_feedback_store(db)  # each process opens (and migrates) the fresh file
    try:
        _write(store, writer)
    finally:
        store.close()


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="needs forkserver"
)
def test_50_processes_opening_a_fresh_file_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "processes.sqlite3"
    # forkserver, not fork: the writers must not inherit this test process's threads and
    # their locks (a live demo service may run in it, from another module on the same
    # pytest-xdist worker); a fork taken while one of them holds a lock hangs the child.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # imported once in the server, not 50 times
    start = context.Barrier(WRITERS)
    workers = [
        context.Process(target=_process_writer, args=(str(db), w, start)) for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0] * WRITERS
    sent = WRITERS * PER_WRITER
    assert _counts(db) == (sent, sent, sent)
    assert store_revision(str(db)) == HEAD_REVISION
    print(f"\n50 processes: cards written {sent}/{sent}, feedback written {sent}/{sent}")


# --------------------------------------------------------------------------- PostgreSQL

PG_URL = os.environ.get("LABRECOG_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not PG_URL, reason="LABRECOG_TEST_POSTGRES_URL is not set")

# The first store's PostgreSQL DDL: the SQLite one with a BIGSERIAL id.
OLD_PG_DDL = tuple(
    s.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY") for s in OLD_SQLITE_DDL
)


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, Any]]:
    psycopg = pytest.importorskip("psycopg")
    assert PG_URL is not None
    name = f"labrecog_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{name}", psycopg
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def _pg_columns(psycopg: Any, url: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = current_schema() ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [r[0] for r in rows]


@needs_postgres
def test_postgresql_fresh_and_old_ddl_schemas_reach_head(pg_schema: tuple[str, Any]) -> None:
    url, psycopg = pg_schema
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in OLD_PG_DDL:
            conn.execute(statement)
        conn.execute(
            f"INSERT INTO cds_card ({', '.join(LEGACY_CARD)}) VALUES ({', '.join(['%s'] * 12)})",
            ("c-old", SELECT, "h", "O-OLD", "GLU", "waive", "", "[]", None, "d 1", "x", "t"),
        )
    store = open_feedback_store(url)
    try:
        store.record_cards([card(1)], caller=CALLER)
        store.record_feedback(SELECT, [feedback(card(1).card_uuid)], caller=CALLER)
    finally:
        store.close()
    assert _pg_columns(psycopg, url, "cds_card") == [*LEGACY_CARD, *AUDIT]
    assert _pg_columns(psycopg, url, "cds_feedback") == [*LEGACY_FEEDBACK, *AUDIT]
    assert store_revision(url) == HEAD_REVISION
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM cds_card").fetchone() == (2,)
        assert conn.execute("SELECT caller_tenant FROM cds_feedback").fetchone() == ("LZU2",)


@needs_postgres
def test_postgresql_50_threads_lose_nothing(pg_schema: tuple[str, Any]) -> None:
    url, psycopg = pg_schema
    assert _threads_write(open_feedback_store(url)) == []
    sent = WRITERS * PER_WRITER
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM cds_card").fetchone() == (sent,)
        assert conn.execute("SELECT count(*) FROM cds_feedback").fetchone() == (sent,)
