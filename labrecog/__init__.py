"""labrecog: which ordered lab tests need not be repeated, why, and what that saves.

    from labrecog import Engine
    engine = Engine.from_path("rules/demo")
    decision = engine.evaluate(case)            # a labrecog.Case or a mapping
    decision.model_dump(mode="json")

Every error labrecog raises on purpose is a :class:`LabrecogError`; the families are
listed in ``labrecog/_errors.py``.
"""

from labrecog._errors import (
    InputError,
    InputProblem,
    InternalError,
    LabrecogError,
    RulesetError,
    RulesetProblem,
    UnitError,
)
from labrecog.authoring.cases import CaseError
from labrecog.decide import Trace
from labrecog.engine import Engine
from labrecog.model import (
    REASON_CODES,
    Case,
    Decision,
    DecisionItem,
    PriorResult,
    Reason,
    UnreadableProblem,
    UnreadableResult,
)

__all__ = [
    "REASON_CODES",
    "Case",
    "CaseError",
    "Decision",
    "DecisionItem",
    "Engine",
    "InputError",
    "InputProblem",
    "InternalError",
    "LabrecogError",
    "PriorResult",
    "Reason",
    "RulesetError",
    "RulesetProblem",
    "Trace",
    "UnitError",
    "UnreadableProblem",
    "UnreadableResult",
    "__version__",
]

__version__ = "0.1.0"
