"""Hypothesis strategies and expectation helpers for testing a rule set (opt-in).

This subpackage needs ``hypothesis`` (a development dependency); the core of labrecog
never imports it::

    from labrecog.testing import cases, priors, assert_never_waived_older_than_max_age
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "labrecog.testing needs the 'hypothesis' package: pip install hypothesis "
        "(or install labrecog with its 'dev' extra)"
    ) from exc

from labrecog.testing.strategies import (
    assert_never_waived_older_than_max_age,
    cases,
    priors,
    used_result,
    waived_items,
)

__all__ = [
    "assert_never_waived_older_than_max_age",
    "cases",
    "priors",
    "used_result",
    "waived_items",
]
