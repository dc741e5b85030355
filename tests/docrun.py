"""The doc-test runner: every command a doc shows, run in a scratch copy, output compared.

Why a runner of our own: the docs are shell sessions (``$ command`` then its output, with
continuations, heredocs, a server in one block and ``curl`` in the next) rather than
Python; pytest-examples checks Python code blocks only, and sybil would need a custom
parser and evaluator for all of this anyway, plus a new dependency. This is that parser
(``docrun_parse``) and this evaluator, with no dependency beyond the standard library.

How a doc runs: one scratch copy of the repository's docs, examples, rule sets and
benches per doc; one ``bash`` for all of the doc's commands in order (so ``cd``,
variables and ``$?`` carry over as in a terminal); stdin ``/dev/null``; stdout and stderr
merged in order; LANG=C.UTF-8, TZ=UTC, NO_COLOR, no COLUMNS (stdout is a pipe, so every
command prints at its own fixed width for pipes); ``.venv/bin`` first on PATH.

Comparison is exact after this fixed normalisation, and nothing else unless the doc
declares it (``docrun_parse``): trailing blanks of each line and trailing blank lines are
ignored; a line ``…`` or ``...`` in the doc stands for any number of lines; ``/tmp/`` in a
command is the scratch copy's own temporary folder (and shown as ``/tmp/`` again), and
the scratch copy's own absolute path is dropped from the output (paths read relative); a
documented server port (``doc-run: background PORT``) is mapped to a free one, and back
in the output, so docs can run side by side under xdist. A background server's output is
compared once it listens, if the doc shows any; it is stopped when the doc ends (or when
another server takes its documented port). Python blocks run with the shell's PATH in the
scratch copy; a block with ``>>>`` lines is a doctest (ELLIPSIS on).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.docrun_parse import Block, Command, Directives, parse_markdown

__all__ = ["REPO", "DocReport", "matches", "run_doc"]

REPO = Path(__file__).resolve().parent.parent
COPIED = ("README.md", "docs", "examples", "rules", "bench", "Makefile", "pyproject.toml")
TIMEOUT = 180.0  # generous: only a hang should hit it, also on a loaded machine
ELLIPSIS = {"…", "..."}


@dataclass
class DocReport:
    """What running one doc found: failures (each naming file:line, with a diff) and skips."""

    failures: list[str] = field(default_factory=list)
    skips: list[tuple[str, str]] = field(default_factory=list)
    ran: int = 0


def scratch_copy(root: Path, repo: Path = REPO) -> None:
    """Copy what the docs use into ``root`` (symlinks such as ``rules`` followed)."""
    root.mkdir(parents=True)
    for name in COPIED:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, root / name, symlinks=False)
        elif source.exists():
            shutil.copy2(source, root / name)
    fixtures = repo / "tests" / "fixtures"
    if fixtures.is_dir():
        shutil.copytree(fixtures, root / "tests" / "fixtures")
    (root / ".venv").symlink_to(repo / ".venv")


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line-by-line equality where an expected ``…`` line matches any run of lines."""
    memo: dict[tuple[int, int], bool] = {}

    def walk(i: int, j: int) -> bool:
        if (i, j) in memo:
            return memo[(i, j)]
        if i == len(expected):
            result = j == len(actual)
        elif expected[i].strip() in ELLIPSIS:
            result = any(walk(i + 1, k) for k in range(j, len(actual) + 1))
        else:
            result = j < len(actual) and expected[i] == actual[j] and walk(i + 1, j + 1)
        memo[(i, j)] = result
        return result

    return walk(0, 0)


def normalise(lines: list[str], rules: list[Directives]) -> list[str]:
    """Trailing blanks off, then the declared ignore-lines and replace patterns, in order."""
    out = [line.rstrip() for line in lines]
    for directives in rules:
        for pattern in directives.ignore:
            out = [line for line in out if not re.search(pattern, line)]
        for pattern, replacement in directives.replace:
            out = [re.sub(pattern, replacement, line) for line in out]
    while out and not out[-1]:
        out.pop()
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Shell:
    """One bash for a whole doc; each command's output and exit status read back."""

    def __init__(self, root: Path, env: dict[str, str], scripts: Path) -> None:
        self.scripts = scripts
        self.count = 0
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.run("__docrun_rc=0", TIMEOUT)

    def run(self, text: str, timeout: float) -> tuple[int, str]:
        """Run ``text`` as typed at the prompt; ``$?`` is the previous command's status."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.count += 1
        script = self.scripts / f"command-{self.count}.sh"
        script.write_text(text + "\n", encoding="utf-8")
        marker = f"__DOCRUN_END_{self.count}__"
        self.proc.stdin.write(
            f"(exit $__docrun_rc); source {script} </dev/null; __docrun_rc=$?; "
            f"printf '\\n{marker} %d\\n' $__docrun_rc\n".encode()
        )
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        data = b""
        deadline = time.monotonic() + timeout
        end = re.compile(rb"\n" + marker.encode() + rb" (\d+)\n")
        while not (found := end.search(data)):
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise TimeoutError(f"no end after {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError("the shell ended (did a command run `exit`?)")
                data += chunk
        return int(found.group(1)), data[: found.start()].decode("utf-8", "replace")

    def close(self) -> None:
        kill_group(self.proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End a process started in its own session, and everything it started."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


class DocRun:
    """Runs the blocks of one doc in order in one scratch copy."""

    def __init__(self, path: Path, tmp: Path, shown: str) -> None:
        self.file_rules, self.blocks = parse_markdown(path, Path(shown))
        self.root = tmp / "repo"
        self.tmp = tmp / "tmp"
        self.scripts = tmp / "docrun"
        scratch_copy(self.root)
        self.tmp.mkdir()
        self.scripts.mkdir()
        self.env = {
            "PATH": f"{self.root / '.venv' / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(tmp / "home"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "TMPDIR": str(self.tmp),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.ports = {
            block.directives.background: free_port()
            for block in self.blocks
            if block.directives.background is not None
        }
        self.servers: dict[int, subprocess.Popen[bytes]] = {}
        for name in self.file_rules.port_files:
            target = self.root / name
            target.write_text(self.to_here(target.read_text(encoding="utf-8")), encoding="utf-8")
        self.shell = Shell(self.root, self.env, self.scripts)

    def to_here(self, text: str) -> str:
        """A documented command as it runs here: scratch /tmp, mapped ports."""
        text = re.sub(r"(?<![\w.])/tmp/", f"{self.tmp}/", text)
        for shown, real in self.ports.items():
            text = re.sub(rf"(:|--port[ =]|port = ){shown}\b", rf"\g<1>{real}", text)
        return text

    def to_doc(self, text: str) -> str:
        """Output as the doc would show it: the reverse of ``to_here``."""
        text = text.replace(f"{self.tmp}/", "/tmp/").replace(str(self.root) + "/", "")
        for shown, real in self.ports.items():
            text = re.sub(rf"\b{real}\b", str(shown), text)
        return text

    def check(self, block: Block, command: Command, output: str) -> str | None:
        rules = [self.file_rules, block.directives]
        expected = normalise(command.expected, rules)
        actual = normalise(self.to_doc(output).split("\n"), rules)
        if matches(expected, actual):
            return None
        diff = "\n".join(
            difflib.unified_diff(expected, actual, "shown in the doc", "printed now", lineterm="")
        )
        return f"{block.path}:{command.line}: output of `{command.text}` differs\n{diff}"

    def run_block(self, block: Block) -> list[str]:
        timeout = block.directives.timeout or TIMEOUT
        problems: list[str] = []
        for setup in block.directives.setup:
            rc, output = self.shell.run(self.to_here(setup), timeout)
            if rc:
                return [f"{block.where}: setup `{setup}` exited {rc}:\n{output}"]
        server = block.directives.background_index if block.directives.background else None
        if block.is_python:
            return problems + self.run_python(block, timeout)
        for n, command in enumerate(block.commands):
            if n == server:
                problems += self.start_server(block, command, timeout)
                continue
            try:
                _, output = self.shell.run(self.to_here(command.text), timeout)
            except TimeoutError as error:
                self.shell = Shell(self.root, self.env, self.scripts)
                problems.append(f"{block.path}:{command.line}: `{command.text}`: {error}")
                continue
            problem = self.check(block, command, output)
            if problem:
                problems.append(problem)
        return problems

    def run_python(self, block: Block, timeout: float) -> list[str]:
        """A python block: run it (cwd: the scratch copy); with ``>>>`` lines, as a doctest."""
        source = "\n".join(block.body) + "\n"
        self.shell.count += 1
        saved = block.directives.save_as
        if saved:
            path = self.root / saved
            path.parent.mkdir(parents=True, exist_ok=True)
            if block.directives.append:
                source = path.read_text(encoding="utf-8") + "\n\n" + source
            path.write_text(source, encoding="utf-8")
            if not block.directives.run_with:
                return []
            command = block.directives.run_with
        elif any(line.lstrip().startswith(">>>") for line in block.body):
            path = self.scripts / f"block-{self.shell.count}.txt"
            command = f"python -m doctest -o ELLIPSIS {path}"
        else:
            path = self.scripts / f"block-{self.shell.count}.py"
            command = f"python {path}"
        path.write_text(source, encoding="utf-8")
        rc, output = self.shell.run(command, timeout)
        if rc:
            return [f"{block.where}: python block exited {rc}:\n{self.to_doc(output)}"]
        return []

    def start_server(self, block: Block, command: Command, timeout: float) -> list[str]:
        """Start a server command in the background; check what it printed once it listens."""
        shown = block.directives.background
        assert shown is not None
        real = self.ports[shown]
        if shown in self.servers:
            kill_group(self.servers.pop(shown))
        text = re.sub(rf"\b{shown}\b", str(real), self.to_here(command.text))
        if str(real) not in text:  # `labrecog serve` on its default port: name the free one
            text += f" --port {real}"
        log = self.scripts / f"server-{shown}-{block.line}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                ["bash", "-c", "exec " + text],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.servers[shown] = proc
        deadline = time.monotonic() + timeout
        while not listening(real):
            if proc.poll() is not None or time.monotonic() > deadline:
                output = log.read_text(encoding="utf-8", errors="replace")
                return [f"{block.path}:{command.line}: server did not start:\n{output}"]
            time.sleep(0.05)
        wanted = len([line for line in command.expected if line.strip()])
        if not wanted:
            return []  # the doc shows none of what the server prints: nothing to compare
        settle = time.monotonic() + 5
        while time.monotonic() < settle:
            output = log.read_text(encoding="utf-8", errors="replace")
            if len(output.splitlines()) >= wanted:
                break
            time.sleep(0.05)
        problem = self.check(block, command, output)
        return [problem] if problem else []

    def close(self) -> None:
        for proc in self.servers.values():
            kill_group(proc)
        self.shell.close()


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_doc(path: Path, tmp: Path, shown: str | None = None) -> DocReport:
    """Run every runnable block of ``path`` in order; collect failures and skips."""
    report = DocReport()
    run = DocRun(path, tmp, shown or str(path))
    try:
        for block in run.blocks:
            if block.directives.skip:
                report.skips.append((block.where, block.directives.skip))
                continue
            report.ran += 1
            report.failures += run.run_block(block)
    finally:
        run.close()
    return report
