"""Findings as text (``file:line:col: severity code: message``), JSON and SARIF 2.1.0.

SARIF is what GitHub code scanning, GitLab and editors read; each rule carries its
documentation anchor so a finding links to its example in docs/lint.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson

from labrecog.lint._findings import CODES, NAMES, Finding
from labrecog.words import Lang, say

__all__ = ["as_json", "as_sarif", "as_text", "finding_record"]

_SARIF_LEVEL: Final = {"error": "error", "warning": "warning", "info": "note"}
_DOCS: Final = "docs/lint.md"


def _compact(witness: dict[str, Any]) -> str:
    return orjson.dumps(witness, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def as_text(findings: Sequence[Finding], ignored: int, lang: Lang, hidden: int = 0) -> str:
    lines: list[str] = []
    for f in findings:
        lines.append(f"{f.file}:{f.line}:{f.col}: {f.severity} {f.code}: {f.message}")
        if f.witness is not None:
            lines.append(say("lint", "witness", lang, case=_compact(f.witness)))
    key = "clean" if not findings else "summary.one" if len(findings) == 1 else "summary"
    summary = say("lint", key, lang, n=len(findings))
    parts = [say("lint", key, lang, n=n) for key, n in (("ignored", ignored), ("hidden", hidden))
             if n]  # fmt: skip
    if parts:
        summary += say("lint", "parens", lang, text=say("lint", "sep", lang).join(parts))
    lines.append(summary)
    return "\n".join(lines) + "\n"


def finding_record(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": f.code,
        "severity": f.severity,
        "file": f.file,
        "line": f.line,
        "col": f.col,
        "message": f.message,
        "subject": list(f.subject),
    }
    if f.witness is not None:
        out["witness"] = f.witness
    return out


def as_json(findings: Sequence[Finding], ignored: int, ruleset: dict[str, str]) -> str:
    doc = {
        "ruleset": ruleset,
        "findings": [finding_record(f) for f in findings],
        "counts": {
            sev: sum(f.severity == sev for f in findings) for sev in ("error", "warning", "info")
        },
        "left_out": ignored,
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"


def as_sarif(findings: Sequence[Finding], version: str, lang: Lang) -> str:
    rules = [
        {
            "id": code,
            "name": NAMES[code],
            "shortDescription": {"text": say("lint", f"title.{code}", lang)},
            "helpUri": f"{_DOCS}#{code.lower()}-{NAMES[code]}",
            "defaultConfiguration": {"level": _SARIF_LEVEL[severity]},
        }
        for code, severity in CODES.items()
    ]
    index = {code: i for i, code in enumerate(CODES)}
    results = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file},
                        "region": {"startLine": f.line, "startColumn": f.col},
                    }
                }
            ],
            "partialFingerprints": {"labrecogSubject/v1": "/".join((f.code, *f.subject))},
        }
        if f.witness is not None:
            result["properties"] = {"witness": f.witness}
        results.append(result)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "labrecog lint",
                        "version": version,
                        "informationUri": _DOCS,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"
