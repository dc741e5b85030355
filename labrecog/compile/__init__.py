"""Step 2 of the pipeline: a validated rule set turned into lookup tables, once."""

from labrecog.compile._compiled import (
    CCondition,
    CException,
    CompiledRules,
    CPanel,
    CRange,
    CTest,
    Override,
    Policy,
)
from labrecog.compile._compiler import compile_rules

__all__ = [
    "CCondition",
    "CException",
    "CPanel",
    "CRange",
    "CTest",
    "CompiledRules",
    "Override",
    "Policy",
    "compile_rules",
]
