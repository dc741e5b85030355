"""Step 3 of the pipeline: the checks a lab doctor makes on each candidate prior result."""

from labrecog.check._authorization import (
    check_authorization,
    covers,
    limits_results,
    uncovered,
    within,
)
from labrecog.check._facts import CaseFacts
from labrecog.check._identity import (
    Index,
    freshness,
    index_priors,
)
from labrecog.check._indicator import (
    check_indicator,
    check_value_flags,
)
from labrecog.check._institution import check_institution
from labrecog.check._plausibility import check_plausible
from labrecog.check._recency import (
    Newer,
    NewerConflict,
    newer_conflict,
)
from labrecog.check._reference_range import check_reference_range
from labrecog.check._status import (
    NOT_RESULTS,
    USABLE_STATUSES,
    check_status,
)
from labrecog.check._timing import check_time
from labrecog.check._unreadable import check_unreadable, index_unreadable

__all__ = [
    "NOT_RESULTS",
    "USABLE_STATUSES",
    "CaseFacts",
    "Index",
    "Newer",
    "NewerConflict",
    "check_authorization",
    "check_indicator",
    "check_institution",
    "check_plausible",
    "check_reference_range",
    "check_status",
    "check_time",
    "check_unreadable",
    "check_value_flags",
    "covers",
    "freshness",
    "index_priors",
    "index_unreadable",
    "limits_results",
    "newer_conflict",
    "uncovered",
    "within",
]
