"""A full disk mid-run: the run fails loudly, never as success, and leaves no half file.

The disk is filled for the child process only, with RLIMIT_FSIZE (writes past the limit
fail with EFBIG, as ENOSPC would): no mount, no root, nothing else on the machine touched.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .builders import ROOT

BATCH = ROOT / "examples" / "cn-reference.jsonl.gz"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX rlimits")


def _small_disk() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_full_disk_is_a_failure_with_one_line_and_no_output_file(
    tmp_path: Path, jobs: str
) -> None:
    out = tmp_path / "decisions.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "labrecog", "evaluate", str(BATCH), "--rules",
         str(ROOT / "rules" / "cn-reference"), "-o", str(out), "--jobs", jobs, "-q"],
        capture_output=True,
        text=True,
        preexec_fn=_small_disk,
        timeout=300,
        env={**os.environ, "LABRECOG_DEBUG": ""},
    )  # fmt: skip
    assert done.returncode not in (0, 1), done.stderr  # never reported as success
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "File too large" in done.stderr or "No space" in done.stderr
    assert list(tmp_path.iterdir()) == []  # neither the output nor its hidden .partial
