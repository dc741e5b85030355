"""Step 1 of the pipeline: read YAML files, merge them, validate them against the schema.

Every problem is collected with its ``file:line:col`` before anything is raised, so an
author fixes a rule set in one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from labrecog._errors import RulesetError, RulesetProblem
from labrecog.load._schema import RuleFile
from labrecog.load._schema_lint import DIGEST_FREE_KEYS
from labrecog.load._yaml_source import MAX_BYTES, Position, SourceMap, YamlProblem, load_yaml

__all__ = ["LoadedRuleset", "load_ruleset", "problem_at", "rule_files"]

_LIST_KEYS = ("tests", "panels", "institutions", "conditions")
_MAP_KEYS = ("exceptions", "flags", "categories", "specimens")
_MAX_FILES = 500


@dataclass(frozen=True, slots=True)
class LoadedRuleset:
    """A validated rule set plus what is needed to point back into its files."""

    rules: RuleFile
    digest: str
    source_map: SourceMap
    files: tuple[str, ...]

    def position(self, path: Sequence[str | int]) -> Position:
        return self.source_map.nearest(tuple(path))


def rule_files(path: Path) -> list[Path]:
    """A folder's rule files: its own ``*.yaml``/``*.yml`` (``tests/`` holds test cases)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    found = [p for p in path.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")]
    return sorted(found, key=lambda p: p.name)


def problem_at(position: Position, message: str) -> RulesetProblem:
    return RulesetProblem(position.file, position.line, position.col, message)


def load_ruleset(path: str | Path) -> LoadedRuleset:
    """Load and validate; raises RulesetError listing every problem found."""
    root = Path(path)
    files = rule_files(root)
    if not files:
        what = "no such file or folder" if not root.exists() else "no *.yaml rule files"
        raise RulesetError([RulesetProblem(str(root), 1, 1, what)])
    if len(files) > _MAX_FILES:
        raise RulesetError([RulesetProblem(str(root), 1, 1, f"more than {_MAX_FILES} files")])

    problems: list[RulesetProblem] = []
    merged: dict[str, Any] = {}
    smap: SourceMap | None = None
    for file in files:
        name = _display_name(file)
        try:
            raw = _read_capped(file)
            data, fmap = load_yaml(raw, name)
        except YamlProblem as exc:
            problems.append(problem_at(exc.position, exc.message))
            continue
        except OSError as exc:
            problems.append(RulesetProblem(name, 1, 1, f"cannot read: {exc.strerror}"))
            continue
        if root.is_file():
            part_of = _folder_set_of(root, data)
            if part_of is not None:
                raise RulesetError([RulesetProblem(name, 1, 1, part_of)])
        if data is None:
            continue
        if not isinstance(data, dict):
            pos = fmap.nearest(())
            problems.append(problem_at(pos, "a rule file must be a mapping of keys to values"))
            continue
        smap = _merge(merged, data, fmap, smap, problems)
    if smap is None:
        smap = _empty_map(files[0])
    if problems:
        raise RulesetError(problems)
    try:
        rules = RuleFile.model_validate(merged)
    except ValidationError as exc:
        raise RulesetError(list(_validation_problems(exc, smap))) from None
    if not rules.tests:
        # Every order would answer unknown_test under this id and version: refuse instead.
        pos = smap.value(("tests",)) or smap.nearest(())
        raise RulesetError([problem_at(pos, _NO_TESTS)])
    return LoadedRuleset(rules, _digest(merged), smap, tuple(_display_name(f) for f in files))


_NO_TESTS = (
    "the rule set has no tests: with an empty catalogue every ordered code would be "
    "unknown_test (give at least one entry under 'tests')"
)


def _read_capped(file: Path) -> bytes:
    """At most MAX_BYTES + 1 bytes: a 2 GB file is refused by its size, never read whole;
    the cap also holds for a file that grows meanwhile (load_yaml refuses the extra byte)."""
    with open(file, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > MAX_BYTES:
            start = Position(_display_name(file), 1, 1)
            raise YamlProblem(start, f"file is larger than {MAX_BYTES} bytes")
        return handle.read(MAX_BYTES + 1)


def _folder_set_of(file: Path, data: object) -> str | None:
    """Why ``file`` is one part of the rule set of its folder, or None if it stands alone.

    A folder rule set has one file with ``id`` and others that merge into it. Loaded alone,
    a part is another, smaller rule set (no conditions, no institutions, or no tests) that
    would still carry the folder's id and version: it is refused. A file beside other whole
    rule sets (each with its own ``id``), or beside YAML that is not a rule file, loads.
    """
    own_id = isinstance(data, dict) and "id" in data
    partners: list[str] = []
    for other in rule_files(file.parent):
        if other.resolve() == file.resolve():
            continue
        try:
            found, _ = load_yaml(_read_capped(other), other.name)
        except (YamlProblem, OSError):
            continue
        if isinstance(found, dict) and _rule_keys(found) and not (own_id and "id" in found):
            partners.append(other.name)
    if not partners:
        return None
    folder = _display_name(file.parent)
    return (
        f"{file.name} is one file of the rule set in {folder}/ (with {', '.join(partners)}); "
        f"alone it is an incomplete rule set: load the folder {folder}"
    )


def _rule_keys(data: dict[str, Any]) -> bool:
    """A mapping made only of rule-file keys: a part of a rule set, not some other YAML."""
    return bool(data) and set(data) <= set(RuleFile.model_fields)


def _display_name(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


def _empty_map(file: Path) -> SourceMap:
    _, smap = load_yaml(b"{}", _display_name(file))
    return smap


def _merge(
    merged: dict[str, Any],
    data: dict[str, Any],
    fmap: SourceMap,
    smap: SourceMap | None,
    problems: list[RulesetProblem],
) -> SourceMap:
    """Lists concatenate, catalogues of named entries union, everything else appears once."""
    for key, value in data.items():
        if key in _LIST_KEYS and isinstance(value, list) and isinstance(merged.get(key), list):
            offset = len(merged[key])
            merged[key] = merged[key] + value
            fmap = fmap.shifted(key, offset)
        elif key in _MAP_KEYS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            for name in value:
                if name in merged[key]:
                    first = smap.key((key, name)) if smap else None
                    where = f" (first defined at {first})" if first else ""
                    pos = fmap.key((key, name)) or fmap.nearest((key,))
                    problems.append(problem_at(pos, f"{key}.{name} is defined twice{where}"))
            merged[key] = {**merged[key], **value}
        elif key in merged:
            first = smap.key((key,)) if smap else None
            where = f" (first at {first})" if first else ""
            pos = fmap.key((key,)) or fmap.nearest((key,))
            problems.append(problem_at(pos, f"'{key}' is set in more than one file{where}"))
        else:
            merged[key] = value
    return fmap if smap is None else smap.merge(fmap)


def _loc_path(loc: Iterable[int | str]) -> tuple[str | int, ...]:
    # Pydantic adds synthetic segments (union branches, "value" of a bare sourced value).
    return tuple(p for p in loc if not (isinstance(p, str) and _synthetic(p)))


def _synthetic(part: str) -> bool:
    return "[" in part or part.startswith("function")


def _validation_problems(exc: ValidationError, smap: SourceMap) -> Iterable[RulesetProblem]:
    for err in exc.errors():
        path = _loc_path(err["loc"])
        where = ".".join(str(p) for p in path) or "(top level)"
        if err["type"] == "extra_forbidden":
            key = str(path[-1]) if path else ""
            pos = smap.key(path) or smap.nearest(path)
            hint = _did_you_mean(key, _field_names(path[:-1]))
            yield problem_at(pos, f"unknown key '{key}' in {_parent(path)}{hint}")
            continue
        pos = smap.value(path) or smap.nearest(path)
        if err["type"] == "missing":
            yield problem_at(pos, f"{where}: required key is missing")
            continue
        yield problem_at(pos, f"{where}: {err['msg']}")


def _parent(path: tuple[str | int, ...]) -> str:
    parent = ".".join(str(p) for p in path[:-1])
    return parent or "the top level"


def _field_names(path: tuple[str | int, ...]) -> list[str]:
    """Allowed keys at a path, walked through the schema, for "did you mean"."""
    model: type[BaseModel] | None = RuleFile
    for part in path:
        if model is None:
            break
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field is not None else None
    return sorted(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    return _model_of(origin) if origin is not None and origin is not annotation else None


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Public to the package: the loader, compiler and case checks share one wording."""
    return _did_you_mean(word, choices)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _digest(merged: dict[str, Any]) -> str:
    """Over canonical content: comments, key order and file split do not change it."""
    content = {k: v for k, v in merged.items() if k not in DIGEST_FREE_KEYS}
    blob = orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=_json_default)
    return "sha256:" + hashlib.sha256(blob).hexdigest()
