"""Batch evaluation on Dask (``pip install 'labrecog[dask]'``): docs/scale.md.

- :func:`evaluate_bag` / :func:`evaluate_dataframe`: for an existing Dask pipeline;
- :func:`evaluate_files` with :func:`open_client`: what ``labrecog evaluate INPUTS...
  --dask local|tcp://HOST:PORT -o OUT_DIR/`` runs (part files, ``_manifest.json`` last).
"""

from __future__ import annotations

try:
    import dask  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("labrecog.dask needs Dask: pip install 'labrecog[dask]'") from exc

from labrecog.dask._api import evaluate_bag, evaluate_dataframe
from labrecog.dask._blocks import DEFAULT_BLOCK_BYTES, Part, plan_parts
from labrecog.dask._joined_run import evaluate_joined
from labrecog.dask._run import (
    MANIFEST,
    FolderError,
    RunResult,
    check_folder,
    evaluate_files,
    open_client,
)
from labrecog.dask._task import PartOptions, PartStats

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "MANIFEST",
    "FolderError",
    "Part",
    "PartOptions",
    "PartStats",
    "RunResult",
    "check_folder",
    "evaluate_bag",
    "evaluate_dataframe",
    "evaluate_files",
    "evaluate_joined",
    "open_client",
    "plan_parts",
]
