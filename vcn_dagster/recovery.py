"""Runs whose process is gone: a process killed (SIGKILL, out of memory, a reboot) leaves its Dagster run STARTED
for ever, holding the `gpu` pool's slot, so every later run of the home would wait for it. Each run `vcn` launches
carries its process's id and start time; a run launched from the UI or a sensor names its run worker's process in
the first engine event the worker writes ("Started process for run (pid: N)"). On start, `vcn` (and, every minute,
the daemon's `interrupted_runs_sensor`) marks failed every unfinished run whose process no longer exists, stops the
step processes such a run worker leaves behind (its multiprocess executor's, which would go on writing), frees its
pool slots, marks its title failed as interrupted, and removes the partial files (`*.tmp`) such a process leaves.

A `vcn` process asked to stop (Ctrl-C, SIGTERM) stops at once, even while its run waits for a pool slot, where
Dagster would only look at the signal once a step starts: `stop_on_signal` fails its run the same way and exits.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg

from vcn_resources.warehouse import Warehouse

PID_TAG, STARTED_TAG = "vcn/pid", "vcn/process_started"
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
INTERRUPTED = "interrupted: the process running it ended before it finished (killed, out of memory or a reboot)"
STOPPED = "interrupted: stopped by the user ({signal}) before it finished; run it again to finish it"
_START_SLACK_S = 2.0  # /proc start times count clock ticks from a boot time given in whole seconds


def _process_started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None when there is no such process or
    it has ended (a zombie no parent has reaped). With its pid, it names a process for good: a pid is reused, a
    start time with it is not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # after the command name
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]  # fields 3 (state) and 22 (start time)


def _started_before(pid: int, moment: float) -> bool:
    """Whether a process `pid` exists that started no later than `moment` (seconds since the epoch): one that
    started later reuses the pid of the process that was there then."""
    ticks = _process_started(pid)
    if ticks is None:
        return False
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line[:6] == "btime ")
    return boot + int(ticks) / os.sysconf("SC_CLK_TCK") <= moment + _START_SLACK_S


def process_tags() -> dict[str, str]:
    """The tags that name this process, for the runs it launches."""
    return {PID_TAG: str(os.getpid()), STARTED_TAG: _process_started(os.getpid()) or ""}


def _alive(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """False only for a run whose process is known and gone; a run whose process is not known yet (still
    starting, or on another machine) counts as alive."""
    if PID_TAG in run.tags:
        started = _process_started(int(run.tags[PID_TAG]))
        return started is not None and started == run.tags.get(STARTED_TAG, started)
    if not isinstance(instance.run_launcher, dg.DefaultRunLauncher):  # run workers elsewhere (Kubernetes, Docker)
        return True
    workers = _processes(instance, run.run_id, dg.DagsterEventType.ENGINE_EVENT)
    return not workers or _started_before(*workers[0])


def _processes(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> list[tuple[int, float]]:
    """(pid, when) of each process that the run's events of `event_type` name in their `pid` metadata: its run
    worker first among engine events, its step processes among STEP_WORKER_STARTED events."""
    named = []
    for entry in instance.all_logs(run_id, of_type=event_type):
        pid = entry.dagster_event.event_specific_data.metadata.get("pid") if entry.dagster_event else None
        if pid is not None:
            named.append((int(pid.value), entry.timestamp))
    return named


def _stop_step_processes(instance: dg.DagsterInstance, run_id: str) -> None:
    """Kill the step processes of a run whose worker is gone: orphans that would go on writing its title."""
    for pid, when in _processes(instance, run_id, dg.DagsterEventType.STEP_WORKER_STARTED):
        if _started_before(pid, when) and pid != os.getpid():
            with suppress(ProcessLookupError):  # it may end meanwhile
                os.kill(pid, signal.SIGKILL)


def fail_run(instance: dg.DagsterInstance, warehouse: Warehouse, run: dg.DagsterRun, reason: str) -> None:
    """Mark `run` failed with `reason` once its step processes still alive are stopped, free its pool slots, and
    mark its title failed when it was processing."""
    _stop_step_processes(instance, run.run_id)
    instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    instance.report_run_failed(run, reason)
    title = run.tags.get("dagster/partition")
    info = warehouse.title_info(title) if title else None
    if info is not None and info.status == "processing":
        warehouse.update_title(title, run.run_id, "", status="failed", error=reason)


def recover_interrupted_runs(instance: dg.DagsterInstance, warehouse: Warehouse) -> list[str]:
    """Fail the unfinished runs whose process is gone, free their pool slots, mark their titles failed
    ("interrupted"), and remove partial files when no run is left alive. Returns the failed runs' ids."""
    runs = [r.dagster_run for r in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED))]
    dead = [run for run in runs if not _alive(instance, run)]
    for run in dead:
        fail_run(instance, warehouse, run, INTERRUPTED)
    _free_slots_of_ended_runs(instance)
    interrupted = _fail_titles_of_ended_runs(instance, warehouse)
    if (dead or interrupted) and len(dead) == len(runs):  # nothing of this home runs now: a .tmp file is lost
        for folder in ("warehouse", "titles", "seasons", "media"):
            for partial in (warehouse.home / folder).rglob("*.tmp"):  # atomic writes' names (`warehouse.py`)
                partial.unlink(missing_ok=True)
    return [run.run_id for run in dead]


def _free_slots_of_ended_runs(instance: dg.DagsterInstance) -> None:
    """Free the pool slots still held by runs that have ended, once their step processes are stopped. Dagster's
    code server fails a run whose worker it saw killed, but the slot was claimed for a step process of that run
    (the multiprocess executor's) whose parent, who would free it, is gone, and which may still be running; the
    daemon's run monitoring frees such slots only after a delay, and leaves the process."""
    for run_id in instance.event_log_storage.get_concurrency_run_ids():
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            _stop_step_processes(instance, run_id)
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def _fail_titles_of_ended_runs(instance: dg.DagsterInstance, warehouse: Warehouse) -> list[str]:
    """Mark failed, as interrupted, the titles still `processing` whose run failed or was cancelled from outside
    (Dagster's code server fails a run whose worker it saw killed; its stages never got to say so); returns them."""
    with warehouse.connect() as con:
        processing = con.execute("SELECT title, run_id FROM titles WHERE status = 'processing'").fetchall()
    failed = []
    for title, run_id in processing:
        run = instance.get_run_by_id(run_id) if run_id else None
        if run is not None and run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            warehouse.update_title(title, run_id, "", status="failed", error=INTERRUPTED)
            failed.append(title)
    return failed


@contextmanager
def stop_on_signal(instance: dg.DagsterInstance, warehouse: Warehouse) -> Iterator[None]:
    """While the block runs this process's Dagster runs: on SIGINT or SIGTERM, fail those runs as stopped by
    the user, free their pool slots, say so in one line and exit with 130. Dagster's own handler only sets a
    flag that it reads when a step starts, so a run waiting for a slot would never stop. Python writes each
    signal's number to the wakeup file descriptor whatever handler is installed; a thread waits on it.
    Outside the main thread (signals never reach it) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        while (received := os.read(read_end, 1)) and received[0] not in (signal.SIGINT, signal.SIGTERM):
            continue
        if not received:  # the block ended: its write end was closed
            return
        reason = STOPPED.format(signal=signal.Signals(received[0]).name)
        try:  # whatever fails here (a locked database), the process still stops: the next `vcn` recovers the run
            filters = dg.RunsFilter(statuses=UNFINISHED, tags={PID_TAG: str(os.getpid())})
            mine = instance.get_run_records(filters=filters)
            for record in mine:
                fail_run(instance, warehouse, record.dagster_run, reason)
                title = record.dagster_run.tags.get("dagster/partition", "")
                print(f"vcn: {title}: {reason}", file=sys.stderr, flush=True)
            for record in mine:  # the main thread, still waiting meanwhile, may have queued its claim again
                instance.event_log_storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
        finally:
            os._exit(130)  # no cleanup to wait for: every table is written to a temporary file, then renamed

    watcher = threading.Thread(target=watch, name="vcn-stop-on-signal", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        os.close(write_end)
        watcher.join()
        os.close(read_end)
