"""mkdocs hook: links from docs/ to files elsewhere in the repository.

The pages link to ``../rules/demo`` or ``../examples/serve.toml``: right on a forge and in
a checkout, but outside what mkdocs renders, so ``--strict`` would refuse them. This hook
checks that each such target exists in the repository (a missing one is a warning, hence a
failed strict build: a broken link is never hidden) and points it at ``repo_url`` when one
is configured, or drops the link but keeps its text (the path) when none is.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.labrecog")

# [text](target) or [text](target "title"); images too. Fenced code is skipped below.
_LINK = re.compile(
    r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)"
)
_FENCE = re.compile(r"^(```|~~~)")


def _rewrite(match: re.Match[str], page_dir: Path, root: Path, config: Any, src: str) -> str:
    target = match.group("target")
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
        return match.group(0)  # absolute URL, anchor, or site-absolute: mkdocs' business
    path_part, _, anchor = target.partition("#")
    resolved = (page_dir / path_part).resolve()
    docs_dir = Path(config["docs_dir"]).resolve()
    if resolved.is_relative_to(docs_dir):
        return match.group(0)  # a page or file of the site: mkdocs validates it
    if not resolved.is_relative_to(root) or not resolved.exists():
        log.warning("%s: link to %r: no such file in the repository", src, target)
        return match.group(0)
    relative = resolved.relative_to(root).as_posix()
    repo_url = (config.get("repo_url") or "").rstrip("/")
    if not repo_url:
        return match.group("text")
    branch = config["extra"].get("repo_branch", "main")
    kind = "tree" if resolved.is_dir() else "blob"
    url = f"{repo_url}/{kind}/{branch}/{relative}" + (f"#{anchor}" if anchor else "")
    return f"{match.group('bang')}[{match.group('text')}]({url}{match.group('title') or ''})"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite links that leave docs/ before mkdocs validates the page's links."""
    root = Path(config["config_file_path"]).resolve().parent
    page_dir = Path(page.file.abs_src_path).parent
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
        if fenced or "](" not in line:
            out.append(line)
            continue
        out.append(
            _LINK.sub(lambda m: _rewrite(m, page_dir, root, config, page.file.src_path), line)
        )
    return "".join(out)
