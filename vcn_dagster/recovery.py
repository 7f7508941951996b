"""Runs whose process is gone: a `vcn` process killed (SIGKILL, out of memory, a reboot) leaves its Dagster run
STARTED for ever, holding the `gpu` pool's slot, so every later run of the home would wait for it. Each run
`vcn` launches carries its process's id and start time; on start, `vcn` marks failed every unfinished run whose
process no longer exists, frees its pool slots, marks its title failed as interrupted, and removes the partial
files (`*.tmp`) such a process leaves.

Runs launched from the UI run in the daemon's run workers, which Dagster's own run monitoring watches.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from vcn_resources.warehouse import Warehouse

PID_TAG, STARTED_TAG = "vcn/pid", "vcn/process_started"
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
INTERRUPTED = "interrupted: the process running it ended before it finished (killed, out of memory or a reboot)"


def _process_started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None when there is no such process.
    With its pid, it names a process for good: a pid is reused, a start time with it is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name (which may hold spaces)


def process_tags() -> dict[str, str]:
    """The tags that name this process, for the runs it launches."""
    return {PID_TAG: str(os.getpid()), STARTED_TAG: _process_started(os.getpid()) or ""}


def _alive(tags: dict[str, str]) -> bool:
    started = _process_started(int(tags[PID_TAG]))
    return started is not None and started == tags.get(STARTED_TAG, started)


def recover_interrupted_runs(instance: dg.DagsterInstance, warehouse: Warehouse) -> list[str]:
    """Fail the unfinished runs whose `vcn` process is gone, free their pool slots, mark their titles failed
    ("interrupted"), and remove partial files when no `vcn` run is left alive. Returns the failed runs' ids."""
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED))
    ours = [r.dagster_run for r in records if PID_TAG in r.dagster_run.tags]
    dead = [run for run in ours if not _alive(run.tags)]
    for run in dead:
        instance.report_run_failed(run, INTERRUPTED)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        title = run.tags.get("dagster/partition")
        info = warehouse.title_info(title) if title else None
        if info is not None and info.status == "processing":
            warehouse.update_title(title, run.run_id, "", status="failed", error=INTERRUPTED)
    if dead and len(dead) == len(records):  # nothing of this home runs now: what a .tmp file holds is lost
        for folder in ("warehouse", "titles", "seasons", "media"):
            for partial in (warehouse.home / folder).rglob("*.tmp"):  # atomic writes' names (`warehouse.py`)
                partial.unlink(missing_ok=True)
    return [run.run_id for run in dead]
