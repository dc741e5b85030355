"""``labrecog audit``: override rates from the store, exact, over a half-open date range.

The store is filled through the store API with a clock the test sets, so every card's
issue time is known: one just inside each edge of March 2025 and one just outside, in UTC
and in Asia/Shanghai. A last test fills it through the real service over HTTP.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

pytest.importorskip("sqlalchemy")

from labrecog.cli import main
from labrecog.fhir import FHIR_FLAG_SYSTEM
from labrecog.server import (
    Caller,
    FeedbackItem,
    IssuedCard,
    PostgresFeedbackStore,
    SQLiteFeedbackStore,
)
from labrecog.server.audit import downgrade_store
from tests.test_server_support import SELECT, accepted, demo_service, example_request

ENDO = "PractitionerRole/PR-LZU2-ENDO-07"
CARDIO = "PractitionerRole/PR-LZU2-CARD-02"
CALLER = Caller(issuer="https://ehr.example", subject="ehr", tenant="LZU2", jti="j")
CHANGED = ("condition_changed", "condition has changed")
REQUEST = ("patient_request", "patient or family requests a re-test")


def _card(uuid: str, order: str, code: str, status: str, user: str, dept: str | None) -> IssuedCard:
    return IssuedCard(
        card_uuid=uuid,
        service_id=SELECT,
        hook_instance=f"hi-{order}",
        order_id=order,
        item_code=code,
        status=status,
        service_request="" if code == "*" else f"ServiceRequest/sr-{uuid}",
        observations=(),
        suggestion_uuid=None,
        ruleset="demo 2025.1",
        ruleset_digest="sha256:00",
        user_id=user,
        department=dept,
    )


def _feedback(
    uuid: str, outcome: str, at: str, reason: tuple[str, str] | None = None
) -> FeedbackItem:
    return FeedbackItem(
        card_uuid=uuid,
        outcome=outcome,
        accepted_suggestions=("s",) if outcome == "accepted" else (),
        override_system=FHIR_FLAG_SYSTEM if reason else None,
        override_code=reason[0] if reason else None,
        override_display=reason[1] if reason else None,
        user_comment="seen" if outcome == "overridden" else None,
        outcome_timestamp=at,
    )


# (issued at UTC, cards of one order); then the feedback, each (card, outcome, reason)
ORDERS: list[tuple[datetime, list[IssuedCard]]] = [
    (  # just before March in UTC, but March 1st in Shanghai
        datetime(2025, 2, 28, 23, 59, 59, 999000, tzinfo=UTC),
        [_card("c8", "O-0", "GLU", "waive", ENDO, "内分泌科")],
    ),
    (  # the first instant of March (UTC): inside
        datetime(2025, 3, 1, 0, 0, tzinfo=UTC),
        [
            _card("c1", "O-1", "GLU", "waive", ENDO, "内分泌科"),
            _card("c2", "O-1", "HBA1C", "waive", ENDO, "内分泌科"),
            _card("c3", "O-1", "LFT", "partial", ENDO, "内分泌科"),
            _card("s1", "O-1", "*", "summary", ENDO, "内分泌科"),
        ],
    ),
    (
        datetime(2025, 3, 15, 10, 0, tzinfo=UTC),
        [
            _card("c4", "O-2", "GLU", "waive", CARDIO, None),
            _card("c5", "O-2", "CREA", "waive", CARDIO, None),
        ],
    ),
    (  # the last second of March in UTC; April 1st in Shanghai
        datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC),
        [_card("c6", "O-3", "GLU", "waive", ENDO, "内分泌科")],
    ),
    (  # April 1st 00:00 UTC: the --to edge, outside
        datetime(2025, 4, 1, 0, 0, tzinfo=UTC),
        [_card("c7", "O-4", "GLU", "waive", ENDO, "内分泌科")],
    ),
]
FEEDBACK = [
    _feedback("c8", "overridden", "2025-03-01T00:01:00+00:00", CHANGED),
    _feedback("c1", "accepted", "2025-03-01T00:01:00+00:00"),
    _feedback("c2", "overridden", "2025-03-01T00:01:00+00:00", CHANGED),
    _feedback("c3", "overridden", "2025-03-01T00:01:00+00:00"),  # a comment, no coded reason
    _feedback("s1", "overridden", "2025-03-01T00:01:00+00:00"),
    _feedback("c4", "overridden", "2025-03-15T10:01:00+00:00", REQUEST),
    # c5: no feedback. c6: accepted, then overridden a minute later: the latest counts
    _feedback("c6", "overridden", "2025-04-01T00:00:59+00:00", CHANGED),
    _feedback("c6", "accepted", "2025-03-31T23:59:59.500000+00:00"),
    _feedback("c7", "accepted", "2025-04-01T00:01:00+00:00"),
    _feedback("nobody-issued-this", "overridden", "2025-03-20T08:00:00+00:00"),
]


def fill(db: Path) -> Path:
    fill_store(SQLiteFeedbackStore, str(db))
    return db


def fill_store(kind: Any, target: str) -> None:
    now = [datetime(2025, 1, 1, tzinfo=UTC)]
    store = kind(target, clock=lambda: now[0])
    try:
        for at, cards in ORDERS:
            now[0] = at
            store.record_cards(cards, caller=CALLER)
        now[0] = datetime(2025, 3, 20, 8, 0, 1, tzinfo=UTC)
        store.record_feedback(SELECT, FEEDBACK, caller=CALLER)
    finally:
        store.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield fill(tmp_path_factory.mktemp("audit") / "audit.sqlite3")


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["audit", *args], catch_exceptions=False)


def audit_json(store: Path, *args: str) -> dict[str, Any]:
    result = run("--db", str(store), "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def counts(cards: int, accepted: int, overridden: int, none: int, rate: str | None) -> Any:
    return {
        "cards": cards,
        "accepted": accepted,
        "overridden": overridden,
        "no_feedback": none,
        "override_rate": rate,
    }


MARCH = ("--from", "2025-03-01", "--to", "2025-04-01")
PG_URL = os.environ.get("LABRECOG_TEST_POSTGRES_URL")


def test_march_in_utc_exact_rates(store: Path) -> None:
    data = audit_json(store, *MARCH)
    assert data["period"] == {"from": "2025-03-01", "to": "2025-04-01", "timezone": "UTC"}
    assert data["totals"] == {
        **counts(6, 1, 4, 1, "0.8000"),
        "order_cards": 1,
        "order_cards_dismissed": 1,
        "feedback_on_unknown_cards": 1,
    }
    assert data["by_test"] == [
        {"test": "GLU", **counts(3, 1, 2, 0, "0.6667")},
        {"test": "CREA", **counts(1, 0, 0, 1, None)},
        {"test": "HBA1C", **counts(1, 0, 1, 0, "1.0000")},
        {"test": "LFT", **counts(1, 0, 1, 0, "1.0000")},
    ]
    assert data["by_reason"] == [
        {
            "system": FHIR_FLAG_SYSTEM,
            "code": "condition_changed",
            "display": "condition has changed",
            "overridden": 2,
            "share": "0.5000",
        },
        {
            "system": FHIR_FLAG_SYSTEM,
            "code": "patient_request",
            "display": "patient or family requests a re-test",
            "overridden": 1,
            "share": "0.2500",
        },
        {"system": None, "code": None, "display": None, "overridden": 1, "share": "0.2500"},
    ]
    assert data["by_department"] == [
        {"department": "内分泌科", **counts(4, 1, 3, 0, "0.7500")},
        {"department": None, **counts(2, 0, 1, 1, "1.0000")},
    ]
    assert data["by_user"] == [
        {"user": ENDO, **counts(4, 1, 3, 0, "0.7500")},
        {"user": CARDIO, **counts(2, 0, 1, 1, "1.0000")},
    ]


def test_march_in_shanghai_moves_both_edges(store: Path) -> None:
    data = audit_json(store, *MARCH, "--tz", "Asia/Shanghai")
    assert data["period"]["timezone"] == "Asia/Shanghai"
    # c8 (Feb 28 23:59:59.999 UTC = Mar 1 07:59 in Shanghai) comes in; c6 (Apr 1 07:59) goes
    assert data["totals"]["cards"] == 6
    assert {r["test"]: r["cards"] for r in data["by_test"]} == {
        "GLU": 3,
        "CREA": 1,
        "HBA1C": 1,
        "LFT": 1,
    }
    glu = next(r for r in data["by_test"] if r["test"] == "GLU")
    assert glu == {"test": "GLU", **counts(3, 1, 2, 0, "0.6667")}  # c8, c1, c4


@pytest.mark.parametrize(
    ("args", "cards"),
    [
        (("--from", "2025-03-01", "--to", "2025-03-02"), 3),  # c1-c3 at 00:00 exactly
        (("--from", "2025-03-02", "--to", "2025-03-31"), 2),  # c4, c5
        (("--from", "2025-03-31", "--to", "2025-04-01"), 1),  # c6 at 23:59:59
        (("--from", "2025-04-01", "--to", "2025-04-02"), 1),  # c7 at 00:00 exactly
        (("--to", "2025-03-01"), 1),  # from the start: c8 only
        (("--from", "2025-03-01"), 7),  # to the end
        ((), 8),
    ],
)
def test_the_range_is_half_open(store: Path, args: tuple[str, ...], cards: int) -> None:
    assert audit_json(store, *args)["totals"]["cards"] == cards


def test_terminal_tables(store: Path) -> None:
    result = run("--db", str(store), *MARCH)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "labrecog audit" in out and "2025-03-01 ≤ issued < 2025-04-01 (UTC)" in out
    lines = out.splitlines()

    def row(first: str) -> list[str]:
        found = [line.split() for line in lines if line.split()[:1] == [first]]
        assert found, first
        return found[0]

    assert row("GLU") == ["GLU", "3", "1", "2", "0", "66.7%"]
    assert row("CREA") == ["CREA", "1", "0", "0", "1", "–"]
    assert row("condition_changed") == [
        *("condition_changed", "condition", "has", "changed"),
        *("2", "50.0%"),
    ]
    assert row("内分泌科") == ["内分泌科", "4", "1", "3", "0", "75.0%"]
    assert row(ENDO) == [ENDO, "4", "1", "3", "0", "75.0%"]
    assert "(not recorded)" in out and "(no coded reason)" in out
    assert "override rate = overridden / (accepted + overridden)" in out


def test_terminal_tables_in_chinese(store: Path) -> None:
    result = run("--db", str(store), *MARCH, "--lang", "zh")
    assert result.exit_code == 0, result.output
    out = result.output
    for words in (
        "labrecog 互认建议审计",
        "按项目",
        "按否决原因",
        "按科室",
        "按开单医生",
        "否决率",
    ):
        assert words in out, words
    assert "（未记录）" in out and "66.7%" in out


def test_html_page(store: Path, tmp_path: Path) -> None:
    page = tmp_path / "audit.html"
    result = run("--db", str(store), *MARCH, "--html", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="en">' in html
    assert "<style>" in html and "<script" not in html
    assert (
        "<tr><td>GLU</td><td class=n>3</td><td class=n>1</td><td class=n>2</td>"
        "<td class=n>0</td><td class=n>66.7%</td></tr>"
    ) in html
    assert "<td>condition_changed</td>" in html and "<td class=n>50.0%</td>" in html
    assert "2025-03-01 ≤ issued &lt; 2025-04-01 (UTC)" in html
    # the terminal tables are printed too, as with report
    assert "GLU" in result.output
    zh = tmp_path / "zh.html"
    assert run("--db", str(store), *MARCH, "--html", str(zh), "--lang", "zh").exit_code == 0
    assert '<html lang="zh">' in zh.read_text(encoding="utf-8")
    assert "按开单医生" in zh.read_text(encoding="utf-8")


def test_html_to_stdout(store: Path) -> None:
    result = run("--db", str(store), *MARCH, "--html", "-")
    assert result.exit_code == 0
    assert result.output.startswith("<!DOCTYPE html>")


def test_top_cuts_tables_not_json(store: Path) -> None:
    result = run("--db", str(store), *MARCH, "--top", "1")
    assert result.exit_code == 0
    assert "CREA" not in result.output and "… and 3 more rows" in result.output
    assert len(audit_json(store, *MARCH, "--top", "1")["by_test"]) == 4


# --------------------------------------------------------------------------- exit 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2025-04-01", "--to", "2025-03-01"), "--from must be before --to"),
        (("--from", "2025-04-01", "--to", "2025-04-01"), "--from must be before --to"),
        (("--from", "2025-02-30"), "2025-02-30"),
        (("--from", "1 March"), "1 March"),
        (("--tz", "Mars/Olympus"), "Mars/Olympus"),
    ],
)
def test_usage_errors_exit_2(store: Path, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(main, ["audit", "--db", str(store), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_missing_store_exits_2_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite3"
    result = CliRunner().invoke(main, ["audit", "--db", str(missing)])
    assert result.exit_code == 2
    assert "cannot read the store" in result.output
    assert not missing.exists()


def test_not_a_database_exits_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not sqlite" * 100)
    result = CliRunner().invoke(main, ["audit", "--db", str(junk)])
    assert result.exit_code == 2
    assert "cannot read the store" in result.output


def test_an_older_schema_exits_2_until_migrated(tmp_path: Path) -> None:
    db = fill(tmp_path / "old.sqlite3")
    downgrade_store(str(db), "0001")
    result = CliRunner().invoke(main, ["audit", "--db", str(db), "--json"])
    assert result.exit_code == 2
    assert "0001" in result.output and "--migrate" in result.output
    result = CliRunner().invoke(main, ["audit", "--db", str(db), "--json", "--migrate", *MARCH])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # the downgrade dropped users and departments: what is left is counted, not guessed
    assert data["totals"]["cards"] == 6
    assert data["by_user"] == [{"user": None, **counts(6, 1, 4, 1, "0.8000")}]


def test_an_unreachable_postgresql_store_exits_2_without_the_password() -> None:
    url = "postgresql://labrecog:s3cret@127.0.0.1:1/x"
    result = CliRunner().invoke(main, ["audit", "--db", url])
    assert result.exit_code == 2
    assert "s3cret" not in result.output
    # unreachable (psycopg installed), or psycopg missing: said either way
    assert "PostgreSQL 127.0.0.1/x" in result.output or "needs psycopg" in result.output


def test_the_store_is_read_not_written(store: Path) -> None:
    before = store.read_bytes()
    audit_json(store, *MARCH)
    assert store.read_bytes() == before


@pytest.mark.skipif(not PG_URL, reason="LABRECOG_TEST_POSTGRES_URL is not set")
def test_the_same_audit_from_postgresql(store: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    assert PG_URL is not None
    name = f"labrecog_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{name}"
    try:
        fill_store(PostgresFeedbackStore, url)
        result = run("--db", url, "--json", *MARCH, "--tz", "Asia/Shanghai")
        assert result.exit_code == 0, result.output
        from_pg = json.loads(result.output)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")
    from_sqlite = audit_json(store, *MARCH, "--tz", "Asia/Shanghai")
    assert from_pg["store"].startswith("PostgreSQL ")
    assert {k: v for k, v in from_pg.items() if k != "store"} == {
        k: v for k, v in from_sqlite.items() if k != "store"
    }


# --------------------------------------------------------------------------- end to end


def test_a_store_filled_by_the_real_service(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    with demo_service(SQLiteFeedbackStore(db)) as url:
        response = httpx.post(f"{url}/cds-services/{SELECT}", json=example_request())
        glu, lft = response.json()["cards"]
        overridden = {
            "card": lft["uuid"],
            "outcome": "overridden",
            "overrideReason": {"reason": lft["overrideReasons"][1]},
            "outcomeTimestamp": "2025-03-02T01:31:40Z",
        }
        body = {"feedback": [accepted(glu), overridden]}
        stored = httpx.post(f"{url}/cds-services/{SELECT}/feedback", json=body)
        assert stored.json() == {"stored": 2}
    data = audit_json(db)
    assert data["totals"]["cards"] == 2 and data["totals"]["override_rate"] == "0.5000"
    assert [(r["test"], r["override_rate"]) for r in data["by_test"]] == [
        ("GLU", "0.0000"),
        ("LFT", "1.0000"),
    ]
    assert [r["code"] for r in data["by_reason"]] == ["condition_changed"]
    assert data["by_user"][0]["user"] == "PractitionerRole/PR-LZU2-ENDO-07"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM cds_card").fetchone() == (2,)


def test_percentages_are_rounded_once_from_the_counts() -> None:
    from labrecog.server.audit import audit_tables

    row = {"cards": 12, "accepted": 6, "overridden": 5, "no_feedback": 1}
    data = {
        "totals": {
            **row,
            "override_rate": "0.4545",
            "order_cards": 0,
            "order_cards_dismissed": 0,
            "feedback_on_unknown_cards": 0,
        },
        "by_test": [{"test": "GLU", **row, "override_rate": "0.4545"}],
        "by_reason": [],
        "by_department": [],
        "by_user": [],
    }
    totals, by_test, *_ = audit_tables(data, 20)
    assert ("override rate", "45.5%") in totals.rows  # 5/11, not 45.4% from 0.4545
    assert by_test.rows == (("GLU", "12", "6", "5", "1", "45.5%"),)


def test_docs_show_what_the_audit_of_the_example_store_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/security.md's month, made by examples/audit/fill_demo_store.py, is real."""
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location(
        "fill_demo_store", root / "examples" / "audit" / "fill_demo_store.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    db = tmp_path / "audit-demo.sqlite3"
    assert module.main(db) == 0
    shown_db = "/tmp/audit-demo.sqlite3"
    args = ["--db", shown_db, *MARCH, "--tz", "Asia/Shanghai"]
    lines = (root / "docs" / "security.md").read_text(encoding="utf-8").splitlines()
    start = lines.index(f"$ .venv/bin/labrecog audit {' '.join(args)}") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
    monkeypatch.delenv("COLUMNS", raising=False)
    result = run(*(str(db) if a == shown_db else a for a in args))
    assert result.exit_code == 0
    printed = [line.rstrip() for line in result.output.replace(str(db), shown_db).splitlines()]
    assert printed == lines[start:end]
