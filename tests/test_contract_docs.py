"""The product contract lives in docs/, complete: nothing points outside the repository,
every reason code is documented, every field of the case and decision models is named on
its page, and ``labrecog schema`` describes every property it prints."""

from __future__ import annotations

import pydoc
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from labrecog.cli.schema import schema_for
from labrecog.load import RuleFile
from labrecog.model import REASON_CODES, Case, Decision, PriorResult
from labrecog.words import MESSAGES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ("case.md", "decision.md")
# The old home of the contract, outside the repository; spelt in pieces so that this file
# does not name it itself.
OUTSIDE = re.compile("PRODUCT" + r"\.md|shared/" + "spec")


def _repository_files() -> list[Path]:
    """Tracked files and new ones not ignored: what the next commit would hold."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    paths = (ROOT / name for name in listed.decode("utf-8").split("\0") if name)
    return [p for p in paths if p.is_file() and not p.is_symlink()]


def test_no_file_points_at_the_contract_outside_the_repository() -> None:
    offenders = []
    for path in _repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_reason_code_is_documented() -> None:
    page = (DOCS / "reasons.md").read_text(encoding="utf-8")
    missing = [code for code in REASON_CODES if f"| `{code}` |" not in page]
    assert missing == []


def test_every_reason_message_has_a_documented_code() -> None:
    """The words (labrecog.words) and the closed list (labrecog.model) name the same codes."""
    assert {key.split(".", 1)[0] for key in MESSAGES} == set(REASON_CODES)


def _fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    """Every field name of ``model`` and of the models its fields hold, recursively."""
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        for inner in _models_in(field.annotation):
            names |= _fields(inner, seen)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += _models_in(arg)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and not getattr(annotation, "__args__", None):
        found += _models_in(origin)
    return found


@pytest.mark.parametrize("model", [Case, PriorResult, Decision])
def test_every_field_is_documented(model: type[BaseModel]) -> None:
    pages = "".join((DOCS / name).read_text(encoding="utf-8") for name in PAGES)
    missing = sorted(name for name in _fields(model, set()) if f"`{name}`" not in pages)
    assert missing == []


def test_the_field_walk_reaches_nested_models() -> None:
    names = _fields(Case, set())
    assert {"birth_date", "ends_with_visit", "reference_range", "problems"} <= names
    assert {"waived", "result_id", "digest", "flag"} <= _fields(Decision, set())


def _undescribed(schema: dict[str, Any]) -> list[str]:
    missing = []
    holders = {"": schema, **{f"$defs.{k}": v for k, v in schema.get("$defs", {}).items()}}
    for where, holder in holders.items():
        for name, prop in holder.get("properties", {}).items():
            if not str(prop.get("description", "")).strip():
                missing.append(f"{where}.{name}")
    return missing


@pytest.mark.parametrize("kind", ["case", "decision", "rules"])
def test_every_schema_property_is_described(kind: str) -> None:
    assert _undescribed(schema_for(kind)) == []


@pytest.mark.parametrize("kind", ["case", "decision", "rules"])
def test_every_schema_object_is_described(kind: str) -> None:
    schema = schema_for(kind)
    defs = schema.get("$defs", {})
    bare = [name for name, d in defs.items() if "properties" in d and not d.get("description")]
    assert schema.get("description") and bare == []


def test_the_models_explain_themselves_in_help() -> None:
    for model in (Case, PriorResult, Decision, RuleFile):
        shown = pydoc.render_doc(model, renderer=pydoc.plaintext)
        assert "Fields:" in shown
        for name, field in model.model_fields.items():
            assert field.description and f"{name}: {field.description}" in shown, name


def test_the_schema_describes_a_model_by_its_own_docstring() -> None:
    """The field list help() shows is not repeated in the schema's description."""
    described = schema_for("case")["description"]
    assert described.startswith("One order") and "Fields:" not in described
