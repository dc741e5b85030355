"""The rule sets shipped inside the package (``labrecog/rulesets/NAME``), found by name.

They are package data, so ``pip install labrecog`` brings them: a user starts from one
(``labrecog init DIR --from NAME``) without a clone. Found through
:mod:`importlib.resources`, never a path relative to the working directory.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from labrecog._errors import LabrecogError

__all__ = ["UnknownRuleset", "copy_shipped", "shipped_ruleset", "shipped_rulesets"]


class UnknownRuleset(LabrecogError, LookupError):
    """A name that is not a shipped rule set; the message lists the ones that are."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"no shipped rule set {name!r}: choose one of {', '.join(known)}")


def _root() -> Traversable:
    return files("labrecog") / "rulesets"


def shipped_rulesets() -> tuple[str, ...]:
    """The names of the shipped rule sets, sorted: each folder holding a ``ruleset.yaml``."""
    root = _root()
    if not root.is_dir():
        return ()
    return tuple(
        sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "ruleset.yaml").is_file())
    )


def _find(name: str) -> Traversable:
    known = shipped_rulesets()
    if name not in known:  # also refuses "../x", "" and every other path-like name
        raise UnknownRuleset(name, known)
    return _root() / name


def shipped_ruleset(name: str) -> Path:
    """The folder of the shipped rule set ``name`` (``Engine.from_path`` loads it).

    Raises :class:`UnknownRuleset` for any other name. The package must be installed as
    files (not imported from a zip): a rule set is read as a folder.
    """
    found = _find(name)
    if not isinstance(found, Path):
        raise LabrecogError(f"shipped rule set {name!r} is not on the file system: {found}")
    return found


def copy_shipped(name: str, target: Path) -> list[Path]:
    """Copy the shipped rule set ``name`` (with its tests) into the folder ``target``.

    ``target`` must be new or an empty folder (else :class:`FileExistsError`); files are
    written only under it. If the copy fails half-way, what it created is removed again:
    no partial rule set is left to be mistaken for a whole one. Returns the files written,
    sorted. Caches and ``*.actual.yaml`` review files are not part of a rule set.
    """
    source = _find(name)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FileExistsError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty")
    created = _first_missing(target)
    written: list[Path] = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        _copy_tree(source, target, written)
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        else:  # the folder was there, empty: leave it empty
            for entry in list(target.iterdir()):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise
    return sorted(written)


def _first_missing(target: Path) -> Path | None:
    """The outermost folder of ``target``'s path that does not exist yet (None: all do)."""
    missing = None
    for folder in (target, *target.parents):
        if folder.exists() or folder.is_symlink():
            break
        missing = folder
    return missing


def _copy_tree(source: Traversable, target: Path, written: list[Path]) -> None:
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            (target / entry.name).mkdir()
            _copy_tree(entry, target / entry.name, written)
        elif not entry.name.endswith(".actual.yaml"):
            (target / entry.name).write_bytes(entry.read_bytes())
            written.append(target / entry.name)
