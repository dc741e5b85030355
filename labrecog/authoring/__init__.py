"""Tools for rule authors: compact test cases for a rule set, a runner, and coverage."""

from __future__ import annotations

from labrecog.authoring.cases import (
    CaseError,
    TestCase,
    build_case,
    load_test_file,
    read_test_file,
)
from labrecog.authoring.runner import Coverage, Failure, RunResult, TestResult, run_tests

__all__ = [
    "CaseError",
    "Coverage",
    "Failure",
    "RunResult",
    "TestCase",
    "TestResult",
    "build_case",
    "load_test_file",
    "read_test_file",
    "run_tests",
]
