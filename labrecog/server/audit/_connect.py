"""Where the store is and how to connect: SQLite file or PostgreSQL URL, writer or reader.

SQLite writers: WAL (readers never block the service, nor it them), ``busy_timeout`` on
every connection (another process holding the write lock is waited for, not an error),
and ``BEGIN IMMEDIATE`` (a transaction takes the write lock before it reads, so two
writers never deadlock upgrading a read lock). Readers open the file read-only and read
one snapshot (``BEGIN``), so a report adds up even while the service writes.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "StoreError",
    "describe",
    "is_postgresql",
    "reader_engine",
    "store_url",
    "writer_engine",
]

#: How long an SQLite connection waits for another's write lock before failing.
BUSY_TIMEOUT_MS = 30_000

_POSTGRES = ("postgresql", "postgres")
_PSYCOPG_HINT = "a postgresql:// store needs psycopg: pip install 'psycopg[binary]'"


class StoreError(Exception):
    """The store cannot be used as it is (missing, unreadable, of an unknown or newer
    schema). The message never holds a password."""


def store_url(target: str | Path | None, default: str) -> URL:
    """A path, ``sqlite:///path``, or ``postgresql://`` (``postgres://``) URL → a URL
    for SQLAlchemy; PostgreSQL goes through psycopg 3."""
    text = str(target) if target is not None else default
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreError("the store URL cannot be parsed") from None
    backend = url.drivername.partition("+")[0]
    if backend in _POSTGRES:
        return url.set(drivername="postgresql+psycopg")
    if backend != "sqlite":
        raise StoreError(f"a store is an SQLite file or a postgresql:// URL, not {backend}://")
    return url


def is_postgresql(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


def describe(url: URL) -> str:
    """How messages name the store: the SQLite path, or the PostgreSQL host and database
    (never the user or the password)."""
    if is_postgresql(url):
        return f"PostgreSQL {url.host or 'localhost'}/{url.database or ''}"
    return url.database or ""


def writer_engine(url: URL) -> Engine:
    if is_postgresql(url):
        return _postgresql(url)
    engine = create_engine(url)
    _sqlite_session(engine, write=True)
    return engine


def reader_engine(url: URL) -> Engine:
    """Read-only, one snapshot per transaction; an SQLite file must exist (reading never
    creates one)."""
    if is_postgresql(url):
        return _postgresql(url).execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    path = url.database or ""
    if not path or path == ":memory:" or not Path(path).is_file():
        raise StoreError(f"cannot read the store {path}: no such file")
    readonly = URL.create(
        "sqlite",
        database=f"file:{quote(str(Path(path).resolve()))}",
        query={"mode": "ro", "uri": "true"},
    )
    engine = create_engine(readonly)
    _sqlite_session(engine, write=False)
    return engine


def _postgresql(url: URL) -> Engine:
    try:
        return create_engine(url, pool_pre_ping=True)
    except ImportError:
        raise StoreError(_PSYCOPG_HINT) from None


def _into_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``, waiting for other connections as busy_timeout would.

    Switching a file into WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, when another connection holds a lock it
    would otherwise wait on (many processes opening a fresh file together: seen under
    load). So the switch is retried with a growing pause, for as long as busy_timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


def _sqlite_session(engine: Engine, *, write: bool) -> None:
    """Settings on every new connection, and how every transaction begins."""

    def connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN: ``begin`` says which
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if write:
                _into_wal(cursor)
                # WAL + NORMAL: a commit survives the process crashing; only a power cut or
                # OS crash may lose the last commits (FULL would fsync every one).
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    def begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    event.listen(engine, "connect", connect)
    event.listen(engine, "begin", begin)
