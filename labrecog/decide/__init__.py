"""Step 4 of the pipeline: from checked candidates to waive / partial / retest and savings."""

from labrecog.decide._order import decide_order
from labrecog.decide._trace import Trace

__all__ = [
    "Trace",
    "decide_order",
]
