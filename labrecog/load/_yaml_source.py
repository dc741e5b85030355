"""Safe YAML loading that remembers where every value came from.

Rule sets are data written by clinical-lab experts, so this module (a) never runs code or expands
YAML tricks such as aliases, custom tags or merge keys, and (b) keeps a `SourceMap` so later
validation can report `file:line:col: message`.  An invalid file must not load at all, hence
every problem surfaces as one exception type, `YamlProblem`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import yaml
from yaml.error import Mark, MarkedYAMLError
from yaml.events import AliasEvent, NodeEvent, StreamEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

__all__ = ["Path", "Position", "SourceMap", "YamlProblem", "load_yaml"]

MAX_BYTES: Final = 5 * 1024 * 1024
MAX_NODES: Final = 200_000
# Rule files are shallow; the cap keeps PyYAML's recursive composer far from RecursionError.
MAX_DEPTH: Final = 100

_CORE: Final = "tag:yaml.org,2002:"
_STR: Final = _CORE + "str"
_SEQ: Final = _CORE + "seq"
_MAP: Final = _CORE + "map"
_MERGE: Final = _CORE + "merge"
_VALUE: Final = _CORE + "value"
_ALIAS_MESSAGE: Final = "YAML anchors and aliases are not allowed in rule files"


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based place in a source file, printed the way editors and compilers expect."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


Path = tuple[str | int, ...]


class YamlProblem(Exception):
    """The only exception `load_yaml` raises, so callers can reject a rule set with one handler."""

    position: Position
    message: str

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(f"{position}: {message}")
        self.position = position
        self.message = message

    def __reduce__(self) -> tuple[type[YamlProblem], tuple[Position, str]]:
        # Default pickling would call __init__ with the formatted string only.
        return (type(self), (self.position, self.message))


class SourceMap:
    """Positions of values and mapping keys, keyed by their path from the document root.

    Immutable: every combinator returns a new map, so maps of loaded files can be shared freely.
    `default` is where `nearest` points when nothing on the path is known (the document start).
    """

    __slots__ = ("_default", "_keys", "_values")

    def __init__(
        self,
        default: Position,
        values: Mapping[Path, Position] | None = None,
        keys: Mapping[Path, Position] | None = None,
    ) -> None:
        self._default = default
        self._values: dict[Path, Position] = dict(values or {})
        self._keys: dict[Path, Position] = dict(keys or {})

    @property
    def default(self) -> Position:
        """Fallback position (document start), used when no prefix of a path is known."""
        return self._default

    def value(self, path: Path) -> Position | None:
        """Where the value at `path` starts, if it came from a file."""
        return self._values.get(path)

    def key(self, path: Path) -> Position | None:
        """Where the mapping key whose value is at `path` is written (for 'unknown field')."""
        return self._keys.get(path)

    def nearest(self, path: Path) -> Position:
        """Best available position for a path that may not exist (e.g. a missing field)."""
        for end in range(len(path), -1, -1):
            found = self._values.get(path[:end])
            if found is not None:
                return found
        return self._default

    def prefixed(self, prefix: Path) -> SourceMap:
        """The same map placed under `prefix`, for files merged into a larger document."""
        return SourceMap(
            self._default,
            {prefix + p: pos for p, pos in self._values.items()},
            {prefix + p: pos for p, pos in self._keys.items()},
        )

    def merge(self, other: SourceMap) -> SourceMap:
        """Union of both maps; `other` wins on clashes, `self` keeps its fallback position."""
        return SourceMap(
            self._default,
            {**self._values, **other._values},
            {**self._keys, **other._keys},
        )

    def shifted(self, key: str, offset: int) -> SourceMap:
        """Re-index the list under top-level `key` after items were prepended or concatenated."""

        def shift(path: Path) -> Path:
            if len(path) >= 2 and path[0] == key and _is_index(path[1]):
                index = path[1]
                assert isinstance(index, int)
                return (key, index + offset, *path[2:])
            return path

        return SourceMap(
            self._default,
            {shift(p): pos for p, pos in self._values.items()},
            {shift(p): pos for p, pos in self._keys.items()},
        )

    def paths(self) -> Iterator[Path]:
        """All paths with a known value position (for debugging and tests)."""
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SourceMap({self._default.file!r}, {len(self._values)} values)"


def _is_index(item: str | int) -> bool:
    # bool is an int subclass; a True/False path element is never a list index.
    return isinstance(item, int) and not isinstance(item, bool)


def load_yaml(source: str | bytes, filename: str) -> tuple[object, SourceMap]:
    """Parse one YAML document into plain dict/list/str/int/float/bool/None/date/datetime values.

    Raises `YamlProblem` (and nothing else) for anything that is not a plain, single-document,
    alias-free YAML file with string mapping keys and core-schema tags only.
    """
    start = Position(filename, 1, 1)
    if isinstance(source, bytes):
        text = _decode(source, start)
    elif isinstance(source, str):
        text = source
        if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
            raise YamlProblem(start, f"file is larger than {MAX_BYTES} bytes")
    else:  # Not a rule-file problem but a caller bug; still report it the one documented way.
        raise YamlProblem(start, f"cannot read YAML from {type(source).__name__}")

    loader: _RuleLoader | None = None
    try:
        loader = _RuleLoader(text, filename)
        root = loader.single_node()
        if root is None:
            return None, SourceMap(start, {(): start})
        builder = _Builder(filename, loader)
        value = builder.build(root, ())
        return value, SourceMap(start, builder.values, builder.keys)
    except YamlProblem:
        raise
    except MarkedYAMLError as exc:
        raise _from_marked(exc, filename) from None
    except ReaderError as exc:
        raise _from_reader(exc, text, filename) from None
    except Exception as exc:  # Any other parser failure must still be a YamlProblem.
        position = start
        if loader is not None:
            try:
                position = _position(loader.get_mark(), filename)
            except Exception:
                position = start
        raise YamlProblem(position, f"cannot parse YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _decode(data: bytes, start: Position) -> str:
    """Decode strictly as UTF-8: rule files are shared across sites; guessing is unsafe."""
    if len(data) > MAX_BYTES:
        raise YamlProblem(start, f"file is larger than {MAX_BYTES} bytes")
    try:
        # A leading BOM decodes to U+FEFF, which the YAML scanner skips without moving columns.
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(start, f"file is not valid UTF-8 (byte offset {exc.start})") from None


def _position(mark: Mark, filename: str) -> Position:
    return Position(filename, mark.line + 1, mark.column + 1)


def _from_marked(exc: MarkedYAMLError, filename: str) -> YamlProblem:
    """Turn a scanner/parser error into one line, keeping PyYAML's own wording."""
    mark = exc.problem_mark or exc.context_mark
    position = _position(mark, filename) if mark is not None else Position(filename, 1, 1)
    message = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        where = ""
        context_mark = exc.context_mark
        if context_mark is not None and context_mark is not exc.problem_mark:
            where = f" started at line {context_mark.line + 1}, column {context_mark.column + 1}"
        message = f"{exc.problem} ({exc.context}{where})"
    if "'\\t'" in message:
        message += "; YAML indentation must use spaces, not tabs"
    return YamlProblem(position, message)


def _from_reader(exc: ReaderError, text: str, filename: str) -> YamlProblem:
    """Report a forbidden character at its line/column (PyYAML only gives a string index)."""
    index = exc.position if isinstance(exc.position, int) else 0
    line, col = _line_col(text, index)
    char = exc.character
    code = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    return YamlProblem(
        Position(filename, line, col), f"character {code} is not allowed in YAML ({exc.reason})"
    )


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line/column of `text[index]`, counting line breaks the way PyYAML's reader does."""
    line, col = 1, 1
    i = 0
    end = min(index, len(text))
    while i < end:
        ch = text[i]
        if ch in "\n\x85\u2028\u2029" or (ch == "\r" and text[i + 1 : i + 2] != "\n"):
            line, col = line + 1, 1
        elif ch != "\ufeff":
            col += 1
        i += 1
    return line, col


class _RuleLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases and huge or deep trees while composing.

    Checking here, before a node is composed, means an alias bomb fails at its first anchor
    instead of being expanded.
    """

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text)
        self._filename = filename
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self._peek()
        if isinstance(event, AliasEvent):
            raise YamlProblem(self._at(event), f"{_ALIAS_MESSAGE} (found alias *{event.anchor})")
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise YamlProblem(self._at(event), f"{_ALIAS_MESSAGE} (found anchor &{event.anchor})")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise YamlProblem(self._at(event), f"file has more than {MAX_NODES} YAML nodes")
        if self._depth >= MAX_DEPTH:
            raise YamlProblem(self._at(event), f"YAML is nested more than {MAX_DEPTH} levels deep")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def single_node(self) -> Node | None:
        """Like `get_single_node`, but with a rule-file message for a second document."""
        self._next()  # StreamStartEvent
        node: Node | None = None
        if not self.check_event(StreamEndEvent):
            node = self.compose_document()
        if not self.check_event(StreamEndEvent):
            raise YamlProblem(
                self._at(self._peek()),
                "only one YAML document is allowed per rule file (found a second '---')",
            )
        self._next()
        return node

    def _peek(self) -> object:
        return self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML

    def _next(self) -> object:
        return self.get_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML

    def _at(self, event: object) -> Position:
        mark = getattr(event, "start_mark", None)
        if isinstance(mark, Mark):
            return _position(mark, self._filename)
        return _position(self.get_mark(), self._filename)


_KIND_NAMES: Final = {
    _CORE + "bool": "a boolean",
    _CORE + "int": "an integer",
    _CORE + "float": "a number",
    _CORE + "null": "null",
    _CORE + "timestamp": "a date",
}


class _Builder:
    """Walks the composed node tree into plain values, recording positions by path."""

    def __init__(self, filename: str, constructor: yaml.SafeLoader) -> None:
        self.filename = filename
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self._seen: set[int] = set()
        c = constructor
        self._scalars: dict[str, Callable[[ScalarNode], object]] = {
            _STR: c.construct_yaml_str,
            _CORE + "int": c.construct_yaml_int,
            _CORE + "float": c.construct_yaml_float,
            _CORE + "bool": c.construct_yaml_bool,
            _CORE + "null": c.construct_yaml_null,
            _CORE + "timestamp": c.construct_yaml_timestamp,
        }

    def build(self, node: Node, path: Path) -> object:
        # Second line of defence: composed aliases are shared node objects; never expand them.
        if id(node) in self._seen:
            raise YamlProblem(self._pos(node), _ALIAS_MESSAGE)
        self._seen.add(id(node))
        self.values[path] = self._pos(node)
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            self._check_tag(node, _SEQ, "a sequence")
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            self._check_tag(node, _MAP, "a mapping")
            return self._mapping(node, path)
        raise YamlProblem(self._pos(node), f"unsupported YAML node {type(node).__name__}")

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, object]:
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            child = (*path, key)
            if key in result:
                first = self.keys[child]
                raise YamlProblem(
                    self._pos(key_node),
                    f"duplicate key {key!r} (first defined at line {first.line})",
                )
            self.keys[child] = self._pos(key_node)
            result[key] = self.build(value_node, child)
        return result

    def _key(self, node: Node) -> str:
        """Mapping keys must be strings: YAML 1.1 silently turns `yes:` or `1:` into other types."""
        pos = self._pos(node)
        if isinstance(node, ScalarNode) and node.tag == _MERGE and node.value == "<<":
            raise YamlProblem(pos, f"merge keys (<<) are not allowed; {_ALIAS_MESSAGE}")
        if not isinstance(node, ScalarNode):
            kind = "a sequence" if isinstance(node, SequenceNode) else "a mapping"
            raise YamlProblem(pos, f"mapping keys must be strings, not {kind}")
        key = self._scalar(node)
        if isinstance(key, str):
            return key
        kind = _KIND_NAMES.get(node.tag, "a non-string value")
        raise YamlProblem(
            pos,
            f"mapping key {node.value!r} is read as {kind} ({key!r}), but keys must be strings;"
            f" quote the key, e.g. '{node.value}':",
        )

    def _scalar(self, node: ScalarNode) -> object:
        tag = node.tag
        # The resolver tags a bare `=` or `<<` specially; as plain values they are just text.
        if (tag == _VALUE and node.value == "=") or (tag == _MERGE and node.value == "<<"):
            tag = _STR
        construct = self._scalars.get(tag)
        if construct is None:
            raise self._tag_problem(node, "a scalar")
        try:
            return construct(node)
        except Exception as exc:
            raise YamlProblem(
                self._pos(node), f"cannot read {node.value!r} as {_short(tag)}: {exc}"
            ) from None

    def _check_tag(self, node: Node, expected: str, kind: str) -> None:
        if node.tag != expected:
            raise self._tag_problem(node, kind)

    def _tag_problem(self, node: Node, kind: str) -> YamlProblem:
        """Unknown tags could mean code execution or custom types; known ones may be misplaced."""
        if node.tag in self._scalars or node.tag in (_SEQ, _MAP):
            return YamlProblem(self._pos(node), f"tag {_short(node.tag)} cannot be used on {kind}")
        return YamlProblem(self._pos(node), f"tag {_short(node.tag)} is not allowed in rule files")

    def _pos(self, node: Node) -> Position:
        mark = node.start_mark
        if mark is None:
            return Position(self.filename, 1, 1)
        return _position(mark, self.filename)


def _short(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
