"""The live CDS Hooks server the test_server_* modules talk to, over real HTTP on loopback.

One uvicorn server per test session, in a background thread, on a free port, with the
demo rule set, an SQLite feedback file in a temporary folder and a log handler that keeps
every JSON line the service writes. Started on first use, stopped at exit. (A helper
module rather than a conftest: every module asks :func:`live_server` for the same one.)
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import uvicorn

from labrecog import Engine
from labrecog.server import INSECURE_NO_AUTH, JsonFormatter, SQLiteFeedbackStore, create_app

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "rules" / "demo"
EXAMPLE = ROOT / "examples" / "cds" / "order-select.json"
INSTITUTION = {"id": "LZU2", "region": "620102", "level": 3}
MAX_BODY = 256 * 1024
SELECT = "labrecog-order-select"
SIGN = "labrecog-order-sign"

# Patient values of the example request: none of them may appear in a log line.
PATIENT_VALUES = ("6.4", "1961-05-14", "临夏市人民医院", "甘肃省人民医院", "本省HR", "mmol/L")
_TIMINGS = frozenset({"latency_ms", "ts"})  # clock readings, not data


def leaks(records: list[dict[str, Any]], values: tuple[str, ...] = PATIENT_VALUES) -> list[str]:
    """Patient values found in log records: in any string, or as any number but a timing."""
    found: list[str] = []

    def visit(key: str, item: Any) -> None:
        if isinstance(item, dict):
            for k, v in item.items():
                visit(k, v)
        elif isinstance(item, list):
            for v in item:
                visit(key, v)
        elif isinstance(item, str) and key not in _TIMINGS:
            found.extend(f"{key}={item!r}" for v in values if v in item)
        elif isinstance(item, int | float) and key not in _TIMINGS:
            found.extend(f"{key}={item!r}" for v in values if str(item) == v)

    for record in records:
        visit("", record)
    return found


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self._lock_lines = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._lock_lines:
            self.lines.append(line)

    def snapshot(self) -> list[str]:
        with self._lock_lines:
            return list(self.lines)


@dataclass
class LiveServer:
    url: str
    db_path: Path
    engine: Engine
    logs: _Lines
    server: uvicorn.Server
    thread: threading.Thread
    store: SQLiteFeedbackStore
    _stopped: bool = field(default=False)

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.snapshot()]

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.store.close()


_SERVER: LiveServer | None = None
_LOCK = threading.Lock()


def live_server() -> LiveServer:
    global _SERVER
    with _LOCK:
        if _SERVER is None:
            _SERVER = _start()
            atexit.register(_SERVER.stop)
        return _SERVER


def _start() -> LiveServer:
    engine = Engine.from_path(DEMO)
    folder = Path(tempfile.mkdtemp(prefix="labrecog-server-"))
    db_path = folder / "feedback.sqlite3"
    store = SQLiteFeedbackStore(db_path)
    handler = _Lines()
    logger = logging.getLogger("labrecog.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # Item cards only: these modules test the per-item cards; the default set (the order's
    # summary card first, then the items) is tested in test_server_summary.py.
    # Insecure, said here so it shows: these modules are not about authentication, which
    # test_server_auth.py tests with real tokens. CORS open to any origin, also explicitly
    # (the default is closed): test_server_hooks.py checks the headers a browser client sees.
    app = create_app(
        engine,
        feedback_store=store,
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
        max_body_bytes=MAX_BODY,
        cors_origins=("*",),
        cards="items",
    )
    url, server, thread = serve_in_thread(app)
    return LiveServer(url, db_path, engine, handler, server, thread, store)


def serve_in_thread(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Run an ASGI app with uvicorn on a free loopback port; returns once it listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        backlog=1024,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="labrecog-live", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@contextlib.contextmanager
def extra_server(app: Any) -> Iterator[str]:
    """A second live server for one test (a different app configuration)."""
    url, server, thread = serve_in_thread(app)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def demo_service(store: Any) -> Iterator[str]:
    """The demo rule set served (item cards, no auth) into ``store``, closed afterwards."""
    app = create_app(
        Engine.from_path(DEMO),
        feedback_store=store,
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
        cards="items",
    )
    try:
        with extra_server(app) as url:
            yield url
    finally:
        store.close()


def accepted(card: dict[str, Any], at: str = "2025-03-02T01:31:05Z") -> dict[str, Any]:
    """The feedback item accepting ``card``'s (first) suggestion."""
    return {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": at,
    }


def example_request() -> dict[str, Any]:
    """A fresh copy of examples/cds/order-select.json (a GLU waive, an LFT partial)."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def as_order_sign(request: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(request)
    out["hook"] = "order-sign"
    out["context"].pop("selections", None)
    return out


def draft(request: dict[str, Any], sr_id: str) -> dict[str, Any]:
    for entry in request["context"]["draftOrders"]["entry"]:
        if entry["resource"]["id"] == sr_id:
            resource: dict[str, Any] = entry["resource"]
            return resource
    raise KeyError(sr_id)


def lab(request: dict[str, Any], obs_id: str) -> dict[str, Any]:
    for entry in request["prefetch"]["labResults"]["entry"]:
        if entry["resource"]["id"] == obs_id:
            resource: dict[str, Any] = entry["resource"]
            return resource
    raise KeyError(obs_id)
