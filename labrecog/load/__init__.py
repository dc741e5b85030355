"""Step 1 of the pipeline: rule files and case text read safely, every problem located.

``KeyPath`` is a YAML key path (``("tests", 3, "unit")``), not a file path.
"""

from labrecog.load._json_text import loads_strict
from labrecog.load._ruleset import (
    LoadedRuleset,
    did_you_mean,
    load_ruleset,
    problem_at,
)
from labrecog.load._schema import (
    Delta,
    Panel,
    Policy,
    RuleFile,
    TestDef,
    parse_duration,
)
from labrecog.load._shipped import (
    UnknownRuleset,
    copy_shipped,
    shipped_ruleset,
    shipped_rulesets,
)
from labrecog.load._yaml_source import Path as KeyPath
from labrecog.load._yaml_source import (
    Position,
    SourceMap,
    YamlProblem,
    load_yaml,
)

__all__ = [
    "Delta",
    "KeyPath",
    "LoadedRuleset",
    "Panel",
    "Policy",
    "Position",
    "RuleFile",
    "SourceMap",
    "TestDef",
    "UnknownRuleset",
    "YamlProblem",
    "copy_shipped",
    "did_you_mean",
    "load_ruleset",
    "load_yaml",
    "loads_strict",
    "parse_duration",
    "problem_at",
    "shipped_ruleset",
    "shipped_rulesets",
]
