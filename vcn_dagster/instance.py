"""The Dagster instance settings of a home: what `vcn` puts in `$VCN_HOME/dagster/dagster.yaml`.

`deploy/local/dagster.yaml` holds the same settings for a DAGSTER_HOME set up by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# Dagster 1.13's dagster.yaml sets one limit for every pool (`pools: default_limit`); a limit for one named pool
# lives in the instance database instead (the UI, or `dagster instance concurrency set POOL N`). Every pool here
# is a one-at-a-time resource, so the default is the `gpu` pool's limit: one GPU stage at a time on this machine,
# whichever run or title it belongs to. `op` granularity makes only GPU steps wait for the slot, so other
# titles' CPU stages go on meanwhile. No DuckDB writer pool: stages write Parquet files per title, and only
# `vcn` itself, outside any run, writes the DuckDB file of views.
INSTANCE_SETTINGS: dict[str, Any] = {
    "telemetry": {"enabled": False},  # an offline product
    "concurrency": {"pools": {"default_limit": 1, "granularity": "op"}},
    # The daemon's run monitoring: a run its launcher could not start in 3 minutes fails, and a pool slot still
    # held a minute after its run ended is freed. A run worker that dies mid-run is the `interrupted_runs_sensor`'s
    # (`recovery.py`): this launcher has no health check of its own.
    "run_monitoring": {"enabled": True, "start_timeout_seconds": 180, "free_slots_after_run_end_seconds": 60},
}


def _fill(existing: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """`existing` with the keys it lacks taken from `defaults`, recursively; what is there wins."""
    filled = dict(existing)
    for key, value in defaults.items():
        if key not in filled:
            filled[key] = value
        elif isinstance(filled[key], Mapping) and isinstance(value, Mapping):
            filled[key] = _fill(filled[key], value)
    return filled


def write_instance_settings(dagster_dir: Path) -> Path:
    """Add the settings that `dagster_dir`'s dagster.yaml lacks, keeping any the user set; returns the file."""
    dagster_dir.mkdir(parents=True, exist_ok=True)
    path = dagster_dir / "dagster.yaml"
    existing = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    filled = _fill(existing, INSTANCE_SETTINGS)
    if filled != existing or not path.exists():
        path.write_text(yaml.safe_dump(filled, sort_keys=False))
    return path
