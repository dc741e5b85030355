"""griffe extension: Sphinx roles in our docstrings shown as code in the API reference.

The docstrings say :class:`Engine` or :func:`read_bundle` (readable in ``help()`` and in
an editor); Markdown has no roles, so mkdocstrings would print the ``:class:`` literally.
This turns each role into an inline code span of its target (``~`` and a leading dot
dropped), and a paragraph's closing ``::`` into ``:`` as Sphinx does, leaving the source
docstrings as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|exc|data|obj|const):`~?\.?([^`]+)`")
_LITERAL_BLOCK = re.compile(r"(?<=\S)::$", re.MULTILINE)


class SphinxRoles(griffe.Extension):
    """Rewrite roles in every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _ROLE.sub(r"`\1`", obj.docstring.value)
            obj.docstring.value = _LITERAL_BLOCK.sub(":", text)
