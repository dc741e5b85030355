"""Opening a store to read it, to see its revision, or to move it between revisions.

Reading never writes: an SQLite file is opened read-only (and must exist), and a store
not at the head revision is refused with the way forward (``--migrate``) rather than read
with columns missing. Errors become :class:`StoreError` with a message fit to print: the
database's own first line, never a password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine
from sqlalchemy.exc import SQLAlchemyError

from labrecog.server.audit import _migrate
from labrecog.server.audit._connect import (
    StoreError,
    describe,
    is_postgresql,
    reader_engine,
    store_url,
    writer_engine,
)
from labrecog.server.audit._queries import Period, audit_data
from labrecog.server.audit._records import DEFAULT_FEEDBACK_DB

__all__ = ["downgrade_store", "read_audit", "store_revision", "upgrade_store"]


def _why(exc: SQLAlchemyError, url: URL) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    first = lines[0] if lines else type(original).__name__
    if url.password:
        first = first.replace(str(url.password), "***")
    return first


def _fail(exc: SQLAlchemyError, url: URL) -> StoreError:
    return StoreError(f"cannot read the store {describe(url)}: {_why(exc, url)}")


def _existing(target: str | Path | None) -> URL:
    url = store_url(target, DEFAULT_FEEDBACK_DB)
    path = url.database or ""
    if not is_postgresql(url) and not Path(path).is_file():
        raise StoreError(f"cannot read the store {path}: no such file")
    return url


def _writer(url: URL) -> Engine:
    try:
        return writer_engine(url)
    except SQLAlchemyError as exc:
        raise _fail(exc, url) from None


def upgrade_store(target: str | Path | None) -> str:
    """Upgrade an existing store to head; returns the revision it had ("" if none)."""
    url = _existing(target)
    engine = _writer(url)
    try:
        return _migrate.upgrade(engine)
    except SQLAlchemyError as exc:
        raise _fail(exc, url) from None
    finally:
        engine.dispose()


def downgrade_store(target: str | Path | None, revision: str) -> None:
    """Downgrade an existing store to ``revision``, dropping what later revisions added."""
    url = _existing(target)
    engine = _writer(url)
    try:
        _migrate.downgrade(engine, revision)
    except SQLAlchemyError as exc:
        raise _fail(exc, url) from None
    finally:
        engine.dispose()


def store_revision(target: str | Path | None) -> str | None:
    """The revision of an existing store; None when it has no version table."""
    url = _existing(target)
    engine = reader_engine(url)
    try:
        with engine.begin() as conn:
            return _migrate.current_revision(conn)
    except SQLAlchemyError as exc:
        raise _fail(exc, url) from None
    finally:
        engine.dispose()


def read_audit(target: str | Path | None, period: Period) -> dict[str, Any]:
    """The audit of ``period`` (see :mod:`._queries`), from one snapshot of the store."""
    url = _existing(target)
    engine = reader_engine(url)
    try:
        with engine.begin() as conn:
            revision = _migrate.current_revision(conn)
            if revision != _migrate.HEAD_REVISION:
                had = (
                    f"revision {revision}"
                    if revision
                    else "no revision (an empty file, or labrecog 0.1's tables)"
                )
                raise StoreError(
                    f"the store {describe(url)} has {had}; this labrecog reads revision "
                    f"{_migrate.HEAD_REVISION}: add --migrate to upgrade it first (this writes "
                    "to the store), or start labrecog serve on it once"
                )
            data = audit_data(conn, period)
    except SQLAlchemyError as exc:
        raise _fail(exc, url) from None
    finally:
        engine.dispose()
    return {"store": describe(url), **data}
