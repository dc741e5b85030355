"""FHIR R4 adapter: a FHIR ``Bundle`` in, a labrecog case; a decision out, as FHIR.

    from labrecog.fhir import read_bundle, guidance_response
    fhir_case = read_bundle(bundle_dict, engine)        # raises FhirInputError
    decision = engine.evaluate(fhir_case.case)
    response = guidance_response(decision, fhir_case)   # an R4 GuidanceResponse (dict)

The reader works on plain dicts (parsed JSON); ``fhir.resources`` is not needed at run time.
Which elements are read, and how, is documented in ``docs/fhir.md``.
"""

from labrecog.fhir._bundle import case_to_bundle
from labrecog.fhir._codes import FHIR_FLAG_SYSTEM
from labrecog.fhir._read import FhirCase, FhirInputError, read_bundle
from labrecog.fhir._write import detected_issues, guidance_response, operation_outcome

__all__ = [
    "FHIR_FLAG_SYSTEM",
    "FhirCase",
    "FhirInputError",
    "case_to_bundle",
    "detected_issues",
    "guidance_response",
    "operation_outcome",
    "read_bundle",
]
