"""Issue 18, outputs and exit codes: what an unattended batch must never destroy or hide.

Each test points ``evaluate`` (or ``report --html``) at something a careless operator
would: a FIFO, a device, a symlink, its own input, an unwritable folder; or makes the run
crash inside, and checks the promise in docs/cli.md ("Output paths", exit codes).
"""

from __future__ import annotations

import importlib
import os
import socket
import stat
import threading
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from labrecog import InternalError
from labrecog.cli import main
from tests.builders import DEMO, case, prior

RULES = str(DEMO)
EXIT_INTERNAL = 3
# the module, not the command of the same name that labrecog.cli exports
evaluate_module = importlib.import_module("labrecog.cli.evaluate")


def cases_file(tmp_path: Path, n: int = 2) -> Path:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(
        b"".join(orjson.dumps(case(prior(), order_id=f"O-{i}")) + b"\n" for i in range(n))
    )
    return src


def run(args: list[str]) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout_bytes, result.stderr


def evaluate(src: Path, *extra: str) -> tuple[int, bytes, str]:
    return run(["evaluate", str(src), "--rules", RULES, "-q", *extra])


# --------------------------------------------------------------------------- streams


def test_a_fifo_output_is_written_through_and_stays_a_fifo(tmp_path: Path) -> None:
    src = cases_file(tmp_path)
    fifo = tmp_path / "decisions.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as stream:
            got.append(stream.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    code, _, err = evaluate(src, "-o", str(fifo))
    thread.join(timeout=30)  # a bound, not a timing: the write-through has already ended
    assert code == 0, err
    assert not thread.is_alive(), "the reader never saw the output: the FIFO was replaced"
    assert [orjson.loads(x)["order_id"] for x in got[0].splitlines()] == ["O-0", "O-1"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_dev_null_is_written_through_never_replaced(tmp_path: Path) -> None:
    before = os.stat(os.devnull)
    try:
        code, _, err = evaluate(cases_file(tmp_path), "-o", os.devnull)
        after = os.stat(os.devnull)
    finally:
        _restore_dev_null()
    assert code == 0, err
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_dev, after.st_ino, after.st_rdev) == (
        before.st_dev,
        before.st_ino,
        before.st_rdev,
    )
    assert not list(Path(os.devnull).parent.glob(".null.*.partial"))


def _restore_dev_null() -> None:
    """As root a broken build really replaces /dev/null (issue 18): put the device back."""
    if os.geteuid() == 0 and not stat.S_ISCHR(os.stat(os.devnull).st_mode):
        os.unlink(os.devnull)
        os.mknod(os.devnull, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(os.devnull, 0o666)


def test_a_symlink_output_keeps_the_link_and_freshens_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real" / "decisions.jsonl"
    target.parent.mkdir()
    target.write_bytes(b"stale\n")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(target)
    code, _, err = evaluate(cases_file(tmp_path), "-o", str(link))
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert [orjson.loads(x)["order_id"] for x in target.read_bytes().splitlines()] == [
        "O-0",
        "O-1",
    ]


def test_a_directory_output_is_a_usage_error(tmp_path: Path) -> None:
    code, _, _ = evaluate(cases_file(tmp_path), "-o", str(tmp_path))
    assert code == 2
    assert tmp_path.is_dir()


def test_a_socket_output_is_a_usage_error_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        code, _, err = evaluate(cases_file(tmp_path), "-o", str(path))
        assert code == 2
        assert "socket" in err
        assert stat.S_ISSOCK(path.lstat().st_mode)
    finally:
        server.close()


# --------------------------------------------------------------------------- same file twice


def test_output_equal_to_the_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    src = cases_file(tmp_path)
    before = src.read_bytes()
    code, _, err = evaluate(src, "-o", str(src))
    assert code == 2
    assert str(src) in err and "CASES" in err
    assert src.read_bytes() == before


def test_a_hard_link_of_the_input_as_output_is_refused(tmp_path: Path) -> None:
    src = cases_file(tmp_path)
    before = src.read_bytes()
    twin = tmp_path / "twin.jsonl"
    os.link(src, twin)
    code, _, err = evaluate(src, "-o", str(twin))
    assert code == 2
    assert str(twin) in err and str(src) in err
    assert src.read_bytes() == before


def test_a_symlink_to_the_input_as_summary_is_refused(tmp_path: Path) -> None:
    src = cases_file(tmp_path)
    before = src.read_bytes()
    link = tmp_path / "link.json"
    link.symlink_to(src)
    code, _, _ = evaluate(src, "--summary-json", str(link))
    assert code == 2
    assert src.read_bytes() == before


def test_two_outputs_to_one_file_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = evaluate(cases_file(tmp_path), "-o", str(out), "--summary-json", str(out))
    assert code == 2
    assert "--summary-json" in err and "-o" in err
    assert not out.exists()


def test_joined_mode_output_equal_to_the_results_is_refused(tmp_path: Path) -> None:
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(b"")
    results = tmp_path / "results.jsonl"
    results.write_bytes(b"{}\n")
    code, _, err = run(
        ["evaluate", "--orders", str(orders), "--results", str(results), "--rules", RULES,
         "-q", "-o", str(results)]
    )  # fmt: skip
    assert code == 2
    assert "--results" in err
    assert results.read_bytes() == b"{}\n"


def test_report_html_over_its_own_input_is_refused(tmp_path: Path) -> None:
    src = cases_file(tmp_path)
    out = tmp_path / "d.jsonl"
    assert evaluate(src, "-o", str(out))[0] == 0
    before = out.read_bytes()
    code, _, _ = run(["report", str(out), "--html", str(out)])
    assert code == 2
    assert out.read_bytes() == before


# --------------------------------------------------------------------------- checked before work


def _unwritable_folder(tmp_path: Path) -> Path:
    """A place no one can create a file in; as root, chmod stops nothing: under a file."""
    if os.geteuid() == 0:
        blocker = tmp_path / "file.txt"
        blocker.write_bytes(b"")
        return blocker
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked


def test_an_unwritable_summary_fails_before_any_output_exists(tmp_path: Path) -> None:
    src = cases_file(tmp_path)
    out = tmp_path / "d.jsonl"
    folder = _unwritable_folder(tmp_path)
    try:
        code, _, err = evaluate(src, "-o", str(out), "--summary-json", str(folder / "s.json"))
    finally:
        folder.chmod(0o700)
    assert code == 2
    assert "--summary-json" in err
    assert "Traceback" not in err
    assert not out.exists()
    assert not list(tmp_path.glob(".d.jsonl.*.partial"))


def test_an_unwritable_report_html_fails_before_reading(tmp_path: Path) -> None:
    folder = _unwritable_folder(tmp_path)
    try:
        code, _, err = run(["report", "-", "--html", str(folder / "r.html")])
    finally:
        folder.chmod(0o700)
    assert code == 2
    assert "--html" in err


# --------------------------------------------------------------------------- internal failure


@pytest.mark.parametrize("error", [RuntimeError("boom\nsecond line"), InternalError("pool broke")])
def test_an_internal_failure_has_its_own_code_and_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise error

    monkeypatch.setattr(evaluate_module, "run_lines", broken)
    monkeypatch.delenv("LABRECOG_DEBUG", raising=False)
    out = tmp_path / "d.jsonl"
    code, _, err = evaluate(cases_file(tmp_path), "-o", str(out))
    assert code == EXIT_INTERNAL
    assert len(err.strip().splitlines()) == 1, err
    assert "internal error" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_labrecog_debug_shows_the_traceback_and_keeps_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluate_module, "run_lines", broken)
    monkeypatch.setenv("LABRECOG_DEBUG", "1")
    code, _, err = evaluate(cases_file(tmp_path))
    assert code == EXIT_INTERNAL
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("labrecog: internal")
