"""Machine reports of a ``labrecog test`` run: one JSON document, or JUnit XML for CI.

Both hold no duration nor clock time: the same rule set and tests give the same bytes, so
a report can be compared, committed or cached. Problems in test files (a test that cannot
be read, a case the engine refuses) are in the report too, never only on the terminal.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from labrecog.authoring.cases import CaseError
from labrecog.authoring.runner import KINDS, Coverage, RunResult, TestResult
from labrecog.compile import CompiledRules

__all__ = ["Report", "json_report", "junit_report"]


@dataclass(frozen=True, slots=True)
class Report:
    """What a report needs: the run, every problem, which files were read, and the rules."""

    rules: CompiledRules
    files: Sequence[str]
    result: RunResult
    problems: Sequence[CaseError]  # every problem, sorted: unreadable tests and refused cases
    coverage: bool = False
    fail_under: float | None = None


def json_report(report: Report) -> bytes:
    """The run as one JSON document: totals, each test, each problem, coverage if asked."""
    result = report.result
    tests = [_test_entry(r) for r in result.results]
    doc: dict[str, Any] = {
        "ruleset": {
            "id": report.rules.id,
            "version": report.rules.version,
            "digest": report.rules.digest,
        },
        "totals": {
            "tests": len(result.results),
            "passed": result.passed,
            "failed": sum(r.outcome == "failed" for r in result.results),
            "errors": len(report.problems),
        },
        "tests": tests,
        "errors": [_problem(p) for p in report.problems],
    }
    if report.coverage or report.fail_under is not None:
        doc["coverage"] = _coverage(result.coverage, report.fail_under)
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"


def junit_report(report: Report) -> bytes:
    """JUnit XML as GitLab, Jenkins and GitHub Actions read it: a ``testsuite`` per test
    file, a ``testcase`` per test with its ``failure``; a problem in a test file is an
    ``error`` (on its test when the case was refused, else a testcase named by position)."""
    by_file: dict[str, list[ET.Element]] = {f: [] for f in report.files}
    counts: dict[str, list[int]] = {f: [0, 0, 0] for f in report.files}  # tests, fail, error
    refused = {id(r.error) for r in report.result.results if r.error is not None}
    for r in report.result.results:
        case = _testcase(r.test.file, r.test.name, r.test.line)
        if r.error is not None:
            _child(case, "error", str(r.error), "invalid")
        elif r.failures:
            _child(case, "failure", "\n".join(str(f) for f in r.failures), "failure")
        _add(by_file, counts, r.test.file, case, r.outcome)
    for p in report.problems:
        if id(p) in refused:
            continue
        case = _testcase(p.position.file, f"{p.position}", p.position.line)
        _child(case, "error", str(p), "invalid")
        _add(by_file, counts, p.position.file, case, "error")
    root = ET.Element("testsuites", name="labrecog test " + _clean(report.rules.id))
    totals = [0, 0, 0]
    for file, cases in by_file.items():
        if not cases:
            continue  # a file none of whose tests was selected (-k)
        n = counts[file]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_clean(file),
            tests=str(n[0]),
            failures=str(n[1]),
            errors=str(n[2]),
            skipped="0",
            file=_clean(file),
        )
        suite.extend(cases)
        totals = [a + b for a, b in zip(totals, n, strict=True)]
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _test_entry(r: TestResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "file": r.test.file,
        "line": r.test.line,
        "name": r.test.name,
        "outcome": r.outcome,
    }
    if r.error is not None:
        entry["message"] = str(r.error)
    elif r.failures:
        entry["message"] = "\n".join(str(f) for f in r.failures)
    return entry


def _problem(p: CaseError) -> dict[str, Any]:
    at = p.position
    return {"file": at.file, "line": at.line, "col": at.col, "message": p.message}


def _coverage(cov: Coverage, fail_under: float | None) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        done, total = cov.counts(kind)
        kinds[kind] = {
            "exercised": done,
            "defined": total,
            "percent": round(cov.percent(kind), 1),
            "missing": cov.missing(kind),
        }
    overall = round(cov.percent(), 1)
    below = fail_under is not None and cov.percent() < fail_under
    return {"overall": overall, "fail_under": fail_under, "below": below, "kinds": kinds}


def _testcase(file: str, name: str, line: int) -> ET.Element:
    return ET.Element(
        "testcase", name=_clean(name), classname=_clean(file), file=_clean(file), line=str(line)
    )


def _child(case: ET.Element, tag: str, body: str, kind: str) -> None:
    first = body.split("\n", 1)[0]
    child = ET.SubElement(case, tag, message=_clean(first), type=kind)
    child.text = _clean(body)


def _add(
    by_file: dict[str, list[ET.Element]],
    counts: dict[str, list[int]],
    file: str,
    case: ET.Element,
    outcome: str,
) -> None:
    by_file.setdefault(file, []).append(case)
    n = counts.setdefault(file, [0, 0, 0])
    n[0] += 1
    n[1] += outcome == "failed"
    n[2] += outcome == "error"


# Characters XML 1.0 cannot hold at all (a YAML "\x01" in a test name would otherwise make
# a report no CI system can parse): shown as U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
