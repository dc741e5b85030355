"""One error family: ``except labrecog.LabrecogError`` catches every refusal labrecog makes."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

import labrecog
from labrecog import (
    CaseError,
    InputError,
    InputProblem,
    LabrecogError,
    RulesetError,
    RulesetProblem,
    UnitError,
)
from labrecog.authoring import load_test_file
from labrecog.fhir import FhirInputError
from labrecog.load._yaml_source import Position
from labrecog.server._errors import ServiceError
from labrecog.units import check_unit, conversion
from tests.builders import case, demo_engine, prior

PUBLIC_ERRORS: list[type[Exception]] = [
    RulesetError,
    CaseError,
    InputError,
    FhirInputError,
    UnitError,
    ServiceError,
]


@pytest.mark.parametrize("cls", PUBLIC_ERRORS, ids=lambda c: c.__name__)
def test_every_public_error_is_a_labrecog_error(cls: type[Exception]) -> None:
    assert issubclass(cls, LabrecogError)


def test_every_error_exported_at_top_level_is_in_the_family() -> None:
    exported = [getattr(labrecog, name) for name in labrecog.__all__]
    errors = [e for e in exported if isinstance(e, type) and issubclass(e, BaseException)]
    assert LabrecogError in errors
    assert {RulesetError, CaseError, InputError, UnitError} <= set(errors)
    assert all(issubclass(e, LabrecogError) for e in errors)


def test_families() -> None:
    assert issubclass(CaseError, RulesetError)  # a test file is rule-set material
    assert issubclass(FhirInputError, InputError)
    assert issubclass(InputError, ValueError)  # backward compatibility
    assert not issubclass(UnitError, (RulesetError, InputError))
    assert not issubclass(ServiceError, (RulesetError, InputError, UnitError))


def _bad_rule_set(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: bad\nversion: 1\ntests: nope\n", encoding="utf-8")
    labrecog.Engine.from_path(path)


def _bad_case(tmp_path: Path) -> None:
    demo_engine().evaluate(case(prior(value="not a number")))


def _bad_unit(tmp_path: Path) -> None:
    check_unit("furlong/fortnight")


def _unconvertible_units(tmp_path: Path) -> None:
    conversion("mg/dL", "U/L")


def _bad_test_file(tmp_path: Path) -> None:
    path = tmp_path / "tests.yaml"
    path.write_text("name: not a list\n", encoding="utf-8")
    load_test_file(path, demo_engine().rules)


@pytest.mark.parametrize(
    ("trigger", "family"),
    [
        (_bad_rule_set, RulesetError),
        (_bad_case, InputError),
        (_bad_unit, UnitError),
        (_unconvertible_units, UnitError),
        (_bad_test_file, CaseError),
    ],
    ids=["rule-set", "case", "unit", "unit-pair", "test-file"],
)
def test_one_except_clause_catches_them_all(
    tmp_path: Path, trigger: Callable[[Path], None], family: type[Exception]
) -> None:
    with pytest.raises(LabrecogError) as info:
        trigger(tmp_path)
    assert isinstance(info.value, family)


def test_input_error_is_still_a_value_error() -> None:
    with pytest.raises(ValueError):
        _bad_case(Path())


def test_case_error_reads_like_a_rule_set_problem() -> None:
    error = CaseError(Position("rules/x/tests/a.yaml", 3, 5), "test is missing 'expect'")
    assert str(error) == "rules/x/tests/a.yaml:3:5: test is missing 'expect'"
    assert error.problems == [
        RulesetProblem("rules/x/tests/a.yaml", 3, 5, "test is missing 'expect'")
    ]
    assert (error.position, error.message) == (
        Position("rules/x/tests/a.yaml", 3, 5),
        "test is missing 'expect'",
    )


def test_unit_error_still_pickles() -> None:
    error = UnitError("unit_incompatible", "cannot convert 'mg/dL' to 'U/L'")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is UnitError
    assert (again.code, again.message, str(again)) == (error.code, error.message, str(error))
    assert isinstance(again, LabrecogError)


def test_family_members_pickle_with_their_details() -> None:
    ruleset = RulesetError([RulesetProblem("a.yaml", 2, 3, "bad")])
    again_ruleset = pickle.loads(pickle.dumps(ruleset))
    assert (again_ruleset.problems, str(again_ruleset)) == (ruleset.problems, str(ruleset))

    test_file = CaseError(Position("t.yaml", 1, 1), "a test file is a list of tests")
    again_case = pickle.loads(pickle.dumps(test_file))
    assert type(again_case) is CaseError
    assert (again_case.position, again_case.message) == (test_file.position, test_file.message)

    for cls in (InputError, FhirInputError):
        refused = cls([InputProblem("patient.id", "required field is missing")], "O-1")
        again_input = pickle.loads(pickle.dumps(refused))
        assert type(again_input) is cls
        assert again_input.to_record(4) == refused.to_record(4)
