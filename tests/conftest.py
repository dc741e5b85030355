"""Suite-wide settings that keep tests independent of how pytest is run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# pytest-xdist's workers export COLUMNS=80 and LINES=24 (execnet's terminal defaults). The
# commands read COLUMNS to choose a table width, so a test would see a different width under
# `-n 2` than in a plain run. The suite runs as if no terminal size were set.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


DEMO = Path(__file__).resolve().parent.parent / "rules" / "demo"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A fresh copy of the demo rule set (with its tests), for tests that edit one."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target)
    return target
