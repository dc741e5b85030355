"""``labrecog init``: a shipped rule set copied with its tests, green from the first run.

Refusals (an existing folder with content, a file, an unknown --from) exit 2 with one line
naming the path and write nothing; a copy that fails half-way leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from labrecog.cli import main
from labrecog.load import UnknownRuleset, copy_shipped, shipped_ruleset, shipped_rulesets

SHIPPED = ("cn-reference", "demo", "uk-mri", "us-retest")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".actual.yaml")
    }


def test_the_four_rule_sets_are_shipped() -> None:
    assert shipped_rulesets() == SHIPPED
    for name in SHIPPED:
        assert (shipped_ruleset(name) / "ruleset.yaml").is_file()
        assert sorted((shipped_ruleset(name) / "tests").glob("*.yaml")), name


@pytest.mark.parametrize("name", SHIPPED)
def test_init_copies_the_rule_set_and_its_tests_pass(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("init", "my-rules", "--from", name)
    assert result.exit_code == 0, result.output
    assert files_under(tmp_path / "my-rules") == files_under(shipped_ruleset(name))
    lines = result.stdout.splitlines()
    count = len(files_under(shipped_ruleset(name)))
    assert lines[0] == f"created my-rules from the shipped rule set {name} ({count} files):"
    assert "  my-rules/ruleset.yaml" in lines
    assert lines[-2:] == ["  labrecog validate my-rules", "  labrecog test my-rules"]
    # nothing written beside the new folder
    assert [p.name for p in tmp_path.iterdir()] == ["my-rules"]

    tested = run("test", "my-rules", "--coverage", "--fail-under", "100")
    assert tested.exit_code == 0, tested.output
    assert tested.stdout.splitlines()[-1].endswith(" passed, 0 failed")


def test_init_speaks_chinese(tmp_path: Path) -> None:
    target = tmp_path / "r"
    result = run("init", str(target), "--from", "demo", "--lang", "zh")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"已从内置规则集 demo 创建 {target}（")
    assert "下一步" in result.stdout


def test_an_empty_existing_folder_is_used(tmp_path: Path) -> None:
    result = run("init", str(tmp_path), "--from", "demo")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tests").is_dir()


def test_missing_parents_are_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "rules"
    assert run("init", str(target), "--from", "uk-mri").exit_code == 0
    assert (target / "ruleset.yaml").is_file()


def test_a_folder_with_content_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = run("init", str(tmp_path), "--from", "demo")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"{tmp_path} already exists and is not empty: give a new folder\n"
    assert files_under(tmp_path) == {"notes.txt": b"mine"}


def test_a_file_is_refused_untouched(tmp_path: Path) -> None:
    target = tmp_path / "rules"
    target.write_text("x", encoding="utf-8")
    result = run("init", str(target), "--from", "demo")
    assert result.exit_code == 2
    assert result.stderr == f"{target} exists and is not a folder: give a new folder\n"
    assert target.read_text(encoding="utf-8") == "x"


def test_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    result = run("init", str(tmp_path / "link"), "--from", "demo")
    assert result.exit_code == 2
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_from_is_required_and_checked(tmp_path: Path) -> None:
    missing = run("init", str(tmp_path / "r"))
    assert missing.exit_code == 2
    assert "Missing option '--from'" in missing.output
    unknown = run("init", str(tmp_path / "r"), "--from", "uk")
    assert unknown.exit_code == 2
    assert all(name in unknown.output for name in SHIPPED)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["../demo", "", "demo/tests", "nope"])
def test_only_shipped_names_are_copied(name: str, tmp_path: Path) -> None:
    with pytest.raises(UnknownRuleset, match="cn-reference, demo, uk-mri, us-retest"):
        copy_shipped(name, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Path.write_bytes`` fails on the third file, as a full disk would."""
    real = Path.write_bytes
    calls = []

    def write_bytes(path: Path, data: bytes) -> int:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_a_failed_copy_leaves_no_partial_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_full(monkeypatch)
    target = tmp_path / "a" / "b" / "rules"
    result = run("init", str(target), "--from", "cn-reference")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"cannot create {target}: No space left on device (nothing was left behind)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_failed_copy_into_an_empty_folder_leaves_it_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_full(monkeypatch)
    assert run("init", str(tmp_path), "--from", "demo").exit_code == 2
    assert list(tmp_path.iterdir()) == []
