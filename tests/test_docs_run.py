"""Docs that cannot drift: every command a doc shows is run and its output compared.

One test per doc file (its blocks share one scratch copy and one shell, in order, so
xdist spreads whole files); a failure lists every drifting block as ``file:line`` with a
diff. Skipped blocks (``<!-- doc-run: skip REASON -->``) are listed as skipped tests of
their own. The runner itself is in ``tests/docrun.py``; the self-tests below prove it can
fail. Also: every relative link in README.md and docs/*.md resolves, anchors included.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from tests.docrun import REPO, matches, run_doc
from tests.docrun_parse import DirectiveError, parse_markdown

FIXTURES = Path(__file__).parent / "fixtures" / "docrun"


def _docs() -> list[str]:
    found = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]
    found += sorted(str(p.relative_to(REPO)) for p in (REPO / "examples").rglob("README.md"))
    found += sorted(
        f"rules/{p.parent.name}/README.md" for p in (REPO / "rules").glob("*/README.md")
    )
    return found


DOCS = _docs()


def _skipped() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        _, blocks = parse_markdown(REPO / doc, Path(doc))
        out += [(b.where, b.directives.skip) for b in blocks if b.directives.skip]
    return out


@pytest.mark.parametrize("doc", DOCS)
def test_doc_runs_as_written(doc: str, tmp_path: Path) -> None:
    report = run_doc(REPO / doc, tmp_path, doc)
    assert not report.failures, "\n\n".join(report.failures)


@pytest.mark.parametrize(("where", "reason"), _skipped())
def test_doc_block_skipped(where: str, reason: str) -> None:
    """Listed so that every block not run shows up, with its reason, in the test report."""
    pytest.skip(f"{where}: {reason}")


# -- the runner can fail ---------------------------------------------------------------


def test_wrong_output_fails(tmp_path: Path) -> None:
    report = run_doc(FIXTURES / "wrong.md", tmp_path, "wrong.md")
    assert len(report.failures) == 3, report.failures
    first, second, third = report.failures
    assert first.startswith("wrong.md:4: output of `echo hello` differs")
    assert "-goodbye" in first and "+hello" in first
    assert second.startswith("wrong.md:12: output of `echo $?` differs")
    assert third.startswith("wrong.md:16: python block exited 1")
    assert report.skips == [("wrong.md:21", "needs the network")]


def test_right_output_passes(tmp_path: Path) -> None:
    report = run_doc(FIXTURES / "right.md", tmp_path, "right.md")
    assert report.failures == []
    assert report.ran == 6


def test_ellipsis_matches_any_lines() -> None:
    assert matches(["a", "…", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "b"], ["a", "b"])
    assert not matches(["a", "…", "d"], ["a", "b", "c"])
    assert not matches(["a"], ["a", "b"])


def test_unknown_directive_is_an_error(tmp_path: Path) -> None:
    doc = tmp_path / "typo.md"
    doc.write_text('<!-- doc-run: ignore-line "x" -->\n```\n$ true\n```\n', encoding="utf-8")
    with pytest.raises(DirectiveError, match=r"typo\.md:1"):
        parse_markdown(doc, Path("typo.md"))
    doc.write_text("<!-- doc-run: skip -->\n```\n$ true\n```\n", encoding="utf-8")
    with pytest.raises(DirectiveError, match="needs a reason"):
        parse_markdown(doc, Path("typo.md"))


# -- links -----------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)\)")
FENCED = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.S | re.M)


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCED.sub("", path.read_text(encoding="utf-8"))
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        plain = re.sub(r"[`*]|<[^>]+>", "", heading).strip().lower()
        slug = "".join(
            c for c in plain if c in " -" or unicodedata.category(c)[0] in "LN" or c == "_"
        )
        slug = slug.replace(" ", "-")
        base, n = slug, 1
        while slug in anchors:
            slug, n = f"{base}-{n}", n + 1
        anchors.add(slug)
    return anchors


def _links() -> list[tuple[str, str]]:
    out = []
    for doc in ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]:
        text = FENCED.sub("", (REPO / doc).read_text(encoding="utf-8"))
        text = re.sub(r"`[^`\n]*`", "", text)
        out += [(doc, m.group("target")) for m in LINK.finditer(text)]
    return [(d, t) for d, t in out if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize(("doc", "target"), _links())
def test_relative_link_resolves(doc: str, target: str) -> None:
    path_part, _, anchor = target.partition("#")
    source = REPO / doc
    path = (source.parent / path_part).resolve() if path_part else source
    assert path.exists(), f"{doc}: link to {target}: no such file"
    if anchor and path.suffix == ".md":
        assert anchor in _anchors(path), f"{doc}: link to {target}: no such heading"
