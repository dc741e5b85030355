"""The documentation site (mkdocs.yml, ``make docs``) builds with warnings as errors, its
API reference carries the docstrings of every public name, and no docs/*.md page is left
out of the navigation. The hook that points repository links (``../rules/demo``) outside
the site is checked on its own."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml

import labrecog

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MKDOCS = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")

# The packages docs/api.md documents: each one's __all__ must be on the page.
DOCUMENTED = ("labrecog", "labrecog.fhir", "labrecog.testing", "labrecog.server")


def _nav_pages(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for child in node for page in _nav_pages(child)]
    if isinstance(node, dict):
        return [page for child in node.values() for page in _nav_pages(child)]
    return []


def _text(page: str) -> str:
    """The visible text of an HTML page, whitespace collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _first_paragraph(doc: str | None) -> str:
    """As the page shows it: roles and backticks become plain code text."""
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    return re.sub(r":\w+:`~?\.?([^`]+)`", r"\1", paragraph).replace("`", "")


def test_every_docs_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    in_nav = _nav_pages(config["nav"])
    on_disk = sorted(p.name for p in DOCS.glob("*.md"))
    assert sorted(set(on_disk) - set(in_nav)) == [], "docs pages missing from mkdocs.yml nav"
    assert len(in_nav) == len(set(in_nav)), "a page is in the nav twice"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if MKDOCS is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [MKDOCS, "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert done.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        warnings or done.stderr.splitlines()[-20:]
    )
    return out


def test_api_reference_shows_engine_and_case_with_their_docstrings(site: Path) -> None:
    text = _text((site / "api" / "index.html").read_text(encoding="utf-8"))
    for obj in (labrecog.Engine, labrecog.Case):
        doc = _first_paragraph(obj.__doc__)
        assert doc, f"labrecog.{obj.__name__} has no docstring to show"
        # compared without whitespace: tags around code spans leave spaces in the text
        assert "".join(doc.split()) in "".join(text.split()), (
            f"labrecog.{obj.__name__}'s docstring is not on the API page"
        )


def test_api_reference_has_every_public_name(site: Path) -> None:
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'id="([\w.]+)"', page))
    missing = [
        f"{module}.{name}"
        for module in DOCUMENTED
        for name in importlib.import_module(module).__all__
        if not name.startswith("_") and f"{module}.{name}" not in anchors
    ]
    assert missing == []


def test_every_page_is_built(site: Path) -> None:
    for page in DOCS.glob("*.md"):
        built = site / "index.html" if page.stem == "index" else site / page.stem / "index.html"
        assert built.is_file(), page.name


# -- the hook for links that leave docs/ ---------------------------------------------------


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "docs/_mkdocs/links.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_hook(tmp_path: Path, markdown: str, repo_url: str | None) -> str:
    (tmp_path / "docs").mkdir()
    (tmp_path / "examples" / "cds").mkdir(parents=True)
    (tmp_path / "examples" / "serve.toml").write_text("", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text("", encoding="utf-8")
    src = tmp_path / "docs" / "page.md"
    page = SimpleNamespace(file=SimpleNamespace(abs_src_path=str(src), src_path="page.md"))
    config: dict[str, Any] = {
        "config_file_path": str(tmp_path / "mkdocs.yml"),
        "docs_dir": str(tmp_path / "docs"),
        "repo_url": repo_url,
        "extra": {},
    }
    result: str = _hooks().on_page_markdown(markdown, page=page, config=config, files=None)
    return result


def test_repository_links_point_at_repo_url(tmp_path: Path) -> None:
    markdown = (
        "See [`examples/serve.toml`](../examples/serve.toml), [the folder](../examples/cds),"
        " [a page](cli.md#exit-codes) and [a site](https://example.org/x).\n"
        "```\n[kept](../examples/serve.toml)\n```\n"
    )
    out = _run_hook(tmp_path, markdown, "https://git.example.org/o/labrecog/")
    assert out == (
        "See [`examples/serve.toml`](https://git.example.org/o/labrecog/blob/main/examples/"
        "serve.toml), [the folder](https://git.example.org/o/labrecog/tree/main/examples/cds),"
        " [a page](cli.md#exit-codes) and [a site](https://example.org/x).\n"
        "```\n[kept](../examples/serve.toml)\n```\n"
    )


def test_repository_links_become_their_text_without_repo_url(tmp_path: Path) -> None:
    out = _run_hook(tmp_path, "[`examples/serve.toml`](../examples/serve.toml).\n", None)
    assert out == "`examples/serve.toml`.\n"


def test_a_missing_repository_file_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = _run_hook(tmp_path, "[gone](../examples/gone.toml)\n", "https://git.example.org/o/r")
    assert out == "[gone](../examples/gone.toml)\n"  # left for mkdocs to refuse as well
    assert "page.md: link to '../examples/gone.toml': no such file" in caplog.text
