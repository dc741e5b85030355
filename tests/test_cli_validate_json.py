"""``labrecog validate --json``: the same verdict as one JSON document, same exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from labrecog.cli import main
from labrecog.engine import Engine

DEMO = Path(__file__).resolve().parent.parent / "rules" / "demo"


def test_valid_rule_set() -> None:
    result = CliRunner().invoke(main, ["validate", str(DEMO), "--json"])
    assert result.exit_code == 0, result.output
    rules = Engine.from_path(str(DEMO)).rules
    assert json.loads(result.output) == {
        "ok": True,
        "ruleset": {"id": rules.id, "version": rules.version, "digest": rules.digest},
        "errors": [],
    }


def test_every_problem_with_its_position(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target)
    catalogue = target / "catalogue.yaml"
    text = catalogue.read_text(encoding="utf-8")
    text = text.replace("max_age: {value: 7d", "max_agee: {value: 7d", 1)
    catalogue.write_text(text.replace("unit: mmol/L", "unitt: mmol/L", 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(target), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["ok"] is False
    assert "ruleset" not in doc
    assert len(doc["errors"]) == 2
    first = doc["errors"][0]
    assert set(first) == {"file", "line", "col", "message"}
    assert first["file"] == str(catalogue)
    assert "unitt" in first["message"]
    assert "max_agee" in doc["errors"][1]["message"]
    assert (first["line"], first["col"]) < (doc["errors"][1]["line"], doc["errors"][1]["col"])


def test_text_output_unchanged() -> None:
    result = CliRunner().invoke(main, ["validate", str(DEMO)])
    assert result.exit_code == 0
    assert result.output.startswith("ok: demo ")
