"""For people who already have a Dask pipeline: cases in a Bag or DataFrame, decisions out.

The rule set travels as one object in the graph (a single key every partition depends
on), so each worker receives it once and compiles its Engine once (``engine_for``); the
partitions are evaluated exactly as ``labrecog evaluate`` evaluates a line, and a bad case
becomes an error record (docs/decision.md), never a failed partition.
"""

from __future__ import annotations

from numbers import Integral
from os import PathLike
from typing import Any

from labrecog._errors import InputError
from labrecog.batch.records import (
    CaseLimits,
    check_size,
    error_record,
    evaluate_line,
    internal_error_record,
)
from labrecog.dask._task import engine_for
from labrecog.engine import Engine
from labrecog.load import LoadedRuleset, load_ruleset
from labrecog.words import Lang

__all__ = ["evaluate_bag", "evaluate_dataframe"]

Rules = str | PathLike[str] | LoadedRuleset


def _loaded(rules: Rules) -> LoadedRuleset:
    """Loaded here, on the client: an invalid rule set fails before any work is sent."""
    return rules if isinstance(rules, LoadedRuleset) else load_ruleset(str(rules))


def _shipped(rules: LoadedRuleset) -> Any:
    from dask.delayed import delayed

    return delayed(rules, name=f"labrecog-rules-{rules.digest}", traverse=False)


def evaluate_bag(
    bag: Any, rules: Rules, *, lang: Lang | None = None, max_case_pairs: int | None = None
) -> Any:
    """A Bag of decision records (dicts, as ``labrecog evaluate`` writes them), one per
    element of ``bag``: a case as a dict, or its JSON text (str or bytes). An element that
    is not a valid case gives an error record with ``line`` null."""
    loaded = _loaded(rules)
    limits = CaseLimits() if max_case_pairs is None else CaseLimits(max_pairs=max_case_pairs)
    return bag.map_partitions(_evaluate_items, _shipped(loaded), lang, limits)


def _evaluate_items(
    items: Any, rules: LoadedRuleset, lang: Lang | None, limits: CaseLimits
) -> list[dict[str, Any]]:
    engine, _ = engine_for(rules, lang)
    return [evaluate_item(engine, item, limits) for item in items]


def evaluate_item(engine: Engine, item: Any, limits: CaseLimits) -> dict[str, Any]:
    """One element to one record, as ``evaluate_line`` makes it for a line (the size limit
    included); never raises (a bad element is an error record, ``line`` null)."""
    if isinstance(item, str):
        item = item.encode("utf-8")
    if isinstance(item, bytes | bytearray | memoryview):
        record = evaluate_line(engine, 0, bytes(item), limits)
    else:
        try:
            check_size(item, limits)
            record = engine.evaluate(item).model_dump(mode="json")
        except InputError as exc:
            record = error_record(exc, None, engine.lang)
        except Exception as exc:  # one bad element must not sink the partition
            record = internal_error_record(0, exc)
    if "error" in record:
        record = {**record, "line": None}
    return record


def evaluate_dataframe(
    ddf: Any,
    rules: Rules,
    *,
    column: str = "case",
    lang: Lang | None = None,
    max_case_pairs: int | None = None,
) -> Any:
    """A DataFrame of decision items (the Parquet decision schema, docs/parquet.md), from
    ``ddf[column]`` holding one case per row as JSON text; ``line`` is the row's index plus
    one when the index is integral (the default range: its position from 1), else 0."""
    from labrecog.batch.parquet import decision_schema

    loaded = _loaded(rules)
    limits = CaseLimits() if max_case_pairs is None else CaseLimits(max_pairs=max_case_pairs)
    meta = decision_schema().empty_table().to_pandas()
    return ddf[column].map_partitions(
        _evaluate_frame, _shipped(loaded), lang, limits, meta=meta, align_dataframes=False
    )


def _evaluate_frame(
    series: Any, rules: LoadedRuleset, lang: Lang | None, limits: CaseLimits
) -> Any:
    from labrecog.batch.parquet import decision_table

    engine, _ = engine_for(rules, lang)
    records: list[tuple[int, dict[str, Any]]] = []
    for index, item in series.items():
        record = evaluate_item(engine, item, limits)
        line = int(index) + 1 if isinstance(index, Integral) else 0  # numpy ints too
        if "error" in record:
            record = {**record, "line": line}
        records.append((line, record))
    return decision_table(records).to_pandas()
