"""Building reason records cheaply: they are made per candidate on the hot path."""

from __future__ import annotations

from typing import cast

from labrecog.model.decision import Reason, ReasonCode
from labrecog.output.messages import Lang, render

__all__ = ["make_reason"]


def make_reason(
    key: str,
    lang: Lang,
    *,
    result_id: str | None = None,
    test: str | None = None,
    flag: str | None = None,
    source: str | None = None,
    **params: object,
) -> Reason:
    return Reason._trusted(
        code=cast(ReasonCode, key.split(".", 1)[0]),
        message=render(key, lang, params),
        result_id=result_id,
        test=test,
        flag=flag,
        source=source,
    )
