"""Shell completion (click's): the scripts docs/cli.md tells people to source, and that
they offer the commands, options and choices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from labrecog.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
SCRIPT = Path(sys.executable).parent / "labrecog"


def complete(words: str, cword: int, shell: str = "bash") -> list[str]:
    env = {"_LABRECOG_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = CliRunner().invoke(main, [], env=env, prog_name="labrecog")
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_source_prints_a_script(shell: str) -> None:
    env = {"_LABRECOG_COMPLETE": f"{shell}_source"}
    result = CliRunner().invoke(main, [], env=env, prog_name="labrecog")
    assert result.exit_code == 0
    assert "_labrecog_completion" in result.output
    assert "_LABRECOG_COMPLETE" in result.output


def test_a_command_is_completed() -> None:
    assert complete("labrecog ev", 1) == ["plain,evaluate"]


def test_an_option_value_is_completed() -> None:
    assert complete("labrecog test rules/demo --format j", 4) == ["plain,json", "plain,junit"]


@pytest.mark.skipif(not SCRIPT.exists(), reason="the labrecog script is not installed here")
def test_the_installed_script_completes() -> None:
    """Through the real entry point: the variable's name comes from the script's name."""
    env = {**os.environ, "_LABRECOG_COMPLETE": "bash_complete"}
    env |= {"COMP_WORDS": "labrecog val", "COMP_CWORD": "1"}
    out = subprocess.run([str(SCRIPT)], env=env, capture_output=True, check=True, timeout=60)
    assert out.stdout.decode().split() == ["plain,validate"]


def test_documented_in_cli_md() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "## Shell completion" in text
    for line in (
        'eval "$(_LABRECOG_COMPLETE=bash_source labrecog)"',
        'eval "$(_LABRECOG_COMPLETE=zsh_source labrecog)"',
        "_LABRECOG_COMPLETE=fish_source labrecog | source",
    ):
        assert line in text, line
