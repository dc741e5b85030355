"""Reading the runnable parts of a markdown file (the doc-test runner's parser).

A fenced block is runnable when it holds ``$ command`` lines (the shell sessions the docs
show) or when it is a ``python`` block. Everything a block needs to run here that the
reader does not see is declared in an HTML comment just before its fence, so the
normalisation is explicit and reviewable in the doc itself::

    <!-- doc-run: skip needs a network clone -->          never run; the reason is reported
    <!-- doc-run: ignore-lines "^\\{\"ts\"" -->             drop matching lines (both sides)
    <!-- doc-run: replace "latency_ms\":[0-9.]+" "latency_ms\":N" -->   both sides
    <!-- doc-run: command "labrecog report x.jsonl" -->   the block is this command's output
    <!-- doc-run: setup "cp a b" -->                       run first, silently (must exit 0)
    <!-- doc-run: background 8080 [N] -->                 the first (or Nth) command is a
                                                           server on this documented port,
                                                           run beside the others
    <!-- doc-run: timeout 60 -->                           per-command timeout, seconds
    <!-- doc-run: save-as tests/test_x.py -->              a python block is saved there (or
    <!-- doc-run: append-to tests/test_x.py -->            added to it: the reader's step),
    <!-- doc-run: run-with "python -m pytest x.py" -->     and then, if given, run so (exit 0)
    <!-- doc-run-file: port-in-files examples/serve.toml --> these scratch files name the
                                                           documented ports: mapped too

``<!-- doc-run-file: ... -->`` anywhere in the file applies ``ignore-lines`` / ``replace``
to every block of the file. Only blank lines and other directives may stand between a
block's directives and its fence.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Block", "Command", "DirectiveError", "Directives", "parse_markdown"]

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-run(?P<file>-file)?:\s*(?P<body>.*?)\s*-->\s*$")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(?P<word>[A-Za-z_][A-Za-z0-9_]*)\1")
SHELL_LANGS = {"", "console", "sh", "shell", "bash", "shell-session", "text"}


class DirectiveError(ValueError):
    """A doc-run comment the runner does not understand: a typo must not pass silently."""


@dataclass
class Directives:
    """What a block (or a whole file) declares about running it."""

    skip: str | None = None
    ignore: list[str] = field(default_factory=list)
    replace: list[tuple[str, str]] = field(default_factory=list)
    command: str | None = None
    setup: list[str] = field(default_factory=list)
    background: int | None = None
    background_index: int = 0
    port_files: list[str] = field(default_factory=list)
    save_as: str | None = None
    append: bool = False
    run_with: str | None = None
    timeout: float | None = None

    def add(self, body: str, where: str) -> None:
        """Parse one directive body (``verb args``) into these directives."""
        verb, _, rest = body.partition(" ")
        rest = rest.strip()
        if verb == "skip":
            if not rest:
                raise DirectiveError(f"{where}: doc-run skip needs a reason")
            self.skip = rest
            return
        args = shlex.split(rest)
        if verb == "ignore-lines" and len(args) == 1:
            self.ignore.append(args[0])
        elif verb == "replace" and len(args) == 2:
            self.replace.append((args[0], args[1]))
        elif verb == "command" and len(args) == 1:
            self.command = args[0]
        elif verb == "setup" and len(args) == 1:
            self.setup.append(args[0])
        elif verb == "background" and 1 <= len(args) <= 2 and all(a.isdigit() for a in args):
            self.background = int(args[0])
            self.background_index = int(args[1]) - 1 if len(args) == 2 else 0
        elif verb in {"save-as", "append-to"} and len(args) == 1:
            self.save_as, self.append = args[0], verb == "append-to"
        elif verb == "run-with" and len(args) == 1:
            self.run_with = args[0]
        elif verb == "port-in-files" and args:
            self.port_files += args
        elif verb == "timeout" and len(args) == 1:
            self.timeout = float(args[0])
        else:
            raise DirectiveError(f"{where}: unknown or malformed doc-run directive: {body!r}")


@dataclass
class Command:
    """One ``$ command`` with the output the doc shows for it."""

    line: int  # 1-based line of the ``$`` in the markdown file
    text: str  # the command as bash reads it (continuation lines included)
    expected: list[str]


@dataclass
class Block:
    """A runnable fenced block."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    body: list[str]
    directives: Directives
    commands: list[Command]

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def is_python(self) -> bool:
        return self.lang in {"python", "py", "pycon"}


def _incomplete(text: str) -> bool:
    """True while a command needs more lines: a trailing ``\\``, a heredoc, a quote open."""
    lines = text.split("\n")
    if lines[-1].endswith("\\"):
        return True
    first = lines[0]
    heredocs = [m.group("word") for m in HEREDOC.finditer(first) if "<<<" not in m.group(0)]
    if heredocs:
        return lines[-1].strip() != heredocs[-1] or len(lines) == 1
    lexer = shlex.shlex(text, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        list(lexer)
    except ValueError:
        return True
    return False


def _commands(block_line: int, indent: int, body: list[str]) -> list[Command]:
    """Split a shell block into commands and the output shown after each."""
    commands: list[Command] = []
    i = 0
    while i < len(body):
        line = body[i]
        if not (line.startswith("$ ") or line == "$"):
            if commands:
                commands[-1].expected.append(line)
            i += 1
            continue
        start = block_line + 1 + i
        text = line[2:]
        i += 1
        while _incomplete(text) and i < len(body):
            text += "\n" + body[i]
            i += 1
        commands.append(Command(line=start, text=text, expected=[]))
    for command in commands:
        while command.expected and not command.expected[-1].strip():
            command.expected.pop()
    return commands


def parse_markdown(path: Path, shown: Path | None = None) -> tuple[Directives, list[Block]]:
    """File-level directives and the runnable blocks of one markdown file.

    ``shown`` is the name used in messages (the path relative to the repository).
    """
    name = shown or path
    lines = path.read_text(encoding="utf-8").split("\n")
    file_directives = Directives()
    pending = Directives()
    have_pending = False
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = DIRECTIVE.match(line)
        if directive:
            target = file_directives if directive.group("file") else pending
            target.add(directive.group("body"), f"{name}:{i + 1}")
            have_pending = have_pending or not directive.group("file")
            i += 1
            continue
        fence = FENCE.match(line)
        if not fence:
            if line.strip() and have_pending:
                raise DirectiveError(f"{name}:{i + 1}: doc-run directive not followed by a block")
            i += 1
            continue
        indent = len(fence.group("indent"))
        marker = fence.group("fence")
        lang = fence.group("lang").lower()
        start = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(marker):
            body.append(lines[i][indent:] if not lines[i][:indent].strip() else lines[i].lstrip())
            i += 1
        i += 1  # the closing fence
        directives, pending, have_pending = pending, Directives(), False
        commands = _commands(start, indent, body) if lang in SHELL_LANGS else []
        if directives.command is not None:
            commands = [Command(line=start, text=directives.command, expected=list(body))]
        python = lang in {"python", "py", "pycon"}
        if commands or python or directives.skip:
            blocks.append(Block(Path(name), start, lang, body, directives, commands))
    return file_directives, blocks
