"""One NDJSON line holding a Bundle to one output record, for the batch runner.

Like ``labrecog.batch.records.evaluate_line`` this never raises: a bad line becomes an
error record (labrecog JSONL output) or an OperationOutcome (FHIR output). It lives in
``batch`` (not ``fhir``) so that the FHIR adapter never imports the batch runner's parts.
"""

from __future__ import annotations

from typing import Any

from labrecog._errors import InputError
from labrecog.batch.records import error_record, internal_error_record, parse_json_line
from labrecog.engine import Engine
from labrecog.fhir import FhirInputError, guidance_response, operation_outcome, read_bundle
from labrecog.fhir._strict import validate_bundle

__all__ = ["evaluate_bundle_line"]


def evaluate_bundle_line(
    engine: Engine, line_no: int, raw: bytes, *, fhir_out: bool, strict: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the labrecog record, for the summary; the record to write)."""
    try:
        data = parse_json_line(raw)
        if strict:
            problems = validate_bundle(data)
            if problems:
                raise FhirInputError(problems)
        fhir_case = read_bundle(data, engine)
        decision = engine.evaluate(fhir_case.case)
        record = decision.model_dump(mode="json")
        return record, guidance_response(decision, fhir_case) if fhir_out else record
    except InputError as exc:
        record = error_record(exc, line_no, engine.lang)
        return record, operation_outcome(exc, line_no) if fhir_out else record
    except Exception as exc:  # one bad bundle must not stop a batch
        record = internal_error_record(line_no, exc)
        return record, operation_outcome(record, line_no) if fhir_out else record
