"""What the sdist and the wheel hold, built offline the way a packager builds them.

The project is copied to tmp_path (builds write ``build/`` and ``*.egg-info`` next to
the sources, never into the checkout), the sdist is built there with setuptools' PEP 517
hooks, and the wheel is built *from the unpacked sdist* with ``pip wheel --no-deps
--no-build-isolation``: so the sdist is proven complete enough to build the wheel, and
the wheel proven to carry every file of every shipped rule set. Finally the unpacked
wheel, ahead of the checkout on ``sys.path``, runs ``labrecog init`` and ``labrecog test``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULESETS = ROOT / "labrecog" / "rulesets"
SHIPPED = ("cn-reference", "demo", "uk-mri", "us-retest")
#: what a clean clone does not have, or what a build must not read
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "*.egg-info", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".hypothesis", "__pycache__", "build", "dist", "out", "site", "*.actual.yaml",
)  # fmt: skip


def rule_files() -> list[str]:
    """Every file of every shipped rule set, relative to the package folder."""
    return sorted(
        p.relative_to(ROOT / "labrecog").as_posix()
        for p in RULESETS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".actual.yaml")
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the sdist, the wheel built from it)."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCES)
    dist = work / "dist"
    hook = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", hook, str(dist)],
        cwd=source, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    sdist = dist / done.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "--no-index", "-w", str(dist), str(unpacked)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    return sdist, wheel


def test_the_rule_sets_are_data_not_code() -> None:
    assert sorted(p.name for p in RULESETS.iterdir() if p.is_dir()) == list(SHIPPED)
    assert not list(RULESETS.rglob("*.py"))
    assert (ROOT / "rules").is_symlink()
    assert (ROOT / "rules").resolve() == RULESETS


def test_the_wheel_holds_every_rule_set_file_and_py_typed(built: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(built[1]) as wheel:
        names = set(wheel.namelist())
    expected = {f"labrecog/{name}" for name in rule_files()}
    assert expected <= names, sorted(expected - names)
    assert {f"labrecog/rulesets/{s}/tests/safety.yaml" for s in SHIPPED} <= names
    assert "labrecog/py.typed" in names
    assert "labrecog/server/audit/migrations/script.py.mako" in names


def test_the_sdist_holds_what_its_tests_need(built: tuple[Path, Path]) -> None:
    with tarfile.open(built[0]) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    expected = {
        "README.md", "LICENSE", "Makefile", "pyproject.toml", "MANIFEST.in", ".ci/run",
        "examples/cases.jsonl", "examples/fhir/bundles.ndjson", "examples/generate.py",
        "examples/cn-reference.jsonl.gz", "bench/bench_engine.py",
    }  # fmt: skip
    expected |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    expected |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("*.py")}
    expected |= {f"labrecog/{name}" for name in rule_files()}
    # rules/X paths (docs, tests, Makefile) keep working in the unpacked sdist
    expected |= {"rules/" + name.removeprefix("rulesets/") for name in rule_files()}
    if (ROOT / "mkdocs.yml").exists():
        expected.add("mkdocs.yml")
    assert expected <= names, sorted(expected - names)
    # outputs are not sources
    assert not {n for n in names if n.startswith("examples/out/") or "__pycache__" in n}
    assert "examples/decisions.jsonl" not in names


def test_labrecog_init_from_the_installed_wheel(built: tuple[Path, Path], tmp_path: Path) -> None:
    """The wheel unpacked as pip would install it (pure Python: files under site-packages),
    first on sys.path: the checkout (editable install) cannot be what answers."""
    site = tmp_path / "site"
    with zipfile.ZipFile(built[1]) as wheel:
        wheel.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    work = tmp_path / "work"
    work.mkdir()

    def labrecog(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labrecog", *args],
            cwd=work, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip

    where = subprocess.run(
        [sys.executable, "-c", "import labrecog.load as l; print(l.shipped_ruleset('demo'))"],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert where.stdout.strip() == str(site / "labrecog" / "rulesets" / "demo"), where.stderr
    init = labrecog("init", "my-rules", "--from", "cn-reference")
    assert init.returncode == 0, init.stderr
    tested = labrecog("test", "my-rules")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[-1].endswith(" passed, 0 failed")
