"""labrecog: which ordered lab tests need not be repeated, why, and what that saves.

from labrecog import Engine
engine = Engine.from_path("rules/demo")
decision = engine.evaluate(case)            # a labrecog.Case or a mapping
decision.model_dump(mode="json")
"""

from labrecog._errors import InputError, InputProblem, RulesetError, RulesetProblem
from labrecog.engine import Engine
from labrecog.model.case import Case, PriorResult
from labrecog.model.decision import REASON_CODES, Decision, DecisionItem, Reason

__all__ = [
    "REASON_CODES",
    "Case",
    "Decision",
    "DecisionItem",
    "Engine",
    "InputError",
    "InputProblem",
    "PriorResult",
    "Reason",
    "RulesetError",
    "RulesetProblem",
    "__version__",
]

__version__ = "0.1.0"
