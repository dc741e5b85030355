"""``labrecog serve`` as a user runs it: a real process, a real port, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench.bench_server import free_port, wait_healthy
from tests.test_server_support import DEMO, EXAMPLE, ROOT, leaks

pytest.importorskip("uvicorn")


def _labrecog(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labrecog", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_serve_answers_the_documented_example(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "feedback.sqlite3"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labrecog",
            "serve",
            "--insecure-no-auth",  # not about authentication: test_server_config.py is
            "--rules",
            str(DEMO),
            "--port",
            str(port),
            "--feedback-db",
            str(db),
            "--institution",
            "LZU2",
            "--region",
            "620102",
            "--level",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process=process)
        services = httpx.get(f"{url}/cds-services").json()["services"]
        assert [s["id"] for s in services] == ["labrecog-order-select", "labrecog-order-sign"]
        response = httpx.post(
            f"{url}/cds-services/labrecog-order-select",
            content=EXAMPLE.read_bytes(),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200
        cards = response.json()["cards"]
        # the default card set: the order's summary card, then one card per recognised item
        topics = [c["source"]["topic"]["code"] for c in cards]
        assert topics == ["lab-order-summary", *["lab-result-recognition"] * 2]
        assert cards[1]["suggestions"][0]["actions"][0]["resourceId"] == "ServiceRequest/sr-glu"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    starting = next(r for r in lines if r["event"] == "starting")
    assert starting["ruleset"] == "demo 2025.1" and starting["feedback_store"] == "sqlite"
    calls = [r for r in lines if r.get("service") == "labrecog-order-select"]
    assert calls and calls[-1]["order_id"] == "O-2025-000123"
    # Judged per field: a latency of 26.4 ms is not the glucose value 6.4.
    assert leaks(lines) == []
    assert db.exists()


def test_an_invalid_rule_set_exits_2_before_listening(tmp_path: Path) -> None:
    (tmp_path / "ruleset.yaml").write_text("id: broken\nversion: 1\ntests: [\n", encoding="utf-8")
    result = _labrecog(
        "serve", "--insecure-no-auth", "--rules", str(tmp_path), "--port", str(free_port())
    )
    assert result.returncode == 2
    assert "invalid" in result.stderr
    assert "Uvicorn running" not in result.stderr and '"starting"' not in result.stderr


def test_region_needs_the_institution() -> None:
    result = _labrecog("serve", "--rules", str(DEMO), "--region", "620102")
    assert result.returncode == 2
    assert "--institution" in result.stderr


def test_without_the_server_extra_serve_says_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('uvicorn', 'starlette'):\n"
        "            raise ImportError(name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from labrecog.cli import main\n"
        "main(['serve', '--rules', 'rules/demo'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 2
    assert "pip install 'labrecog[server]'" in result.stderr
    # the rest of the CLI does not need the extra
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code.replace("['serve', '--rules', 'rules/demo']", "['validate', 'rules/demo']"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_an_unusable_postgresql_store_exits_2_without_echoing_the_url() -> None:
    env = dict(os.environ, LABRECOG_FEEDBACK_DB="postgresql://labrecog:s3cret@127.0.0.1:1/x")
    result = subprocess.run(
        [sys.executable, "-m", "labrecog", "serve", "--insecure-no-auth", "--rules", str(DEMO)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr and "s3cret" not in result.stderr
