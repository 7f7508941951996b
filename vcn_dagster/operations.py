"""What the `vcn` commands do, apart from parsing and printing: register videos, materialise a title's
stages, re-cluster, forget a title, launch a season backfill, make the demo.

Every operation works in one home folder ($VCN_HOME, default `.vcn`), whose Dagster instance `vcn ui`
shows. They report what they are doing through a `report` hook (the CLI prints it), never by printing,
and say what went wrong with `OperationError`, whose message is one line for the user.

Dagster and the code location are imported inside the operations that run something, so that the
read-only commands (`vcn titles`, `vcn sql`, `vcn export`) start in a fraction of a second.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vcn_dagster import CODE_LOCATION
from vcn_dagster.instance import write_instance_settings
from vcn_resources.home import dagster_home, vcn_home
from vcn_resources.media import MediaLibrary
from vcn_resources.warehouse import Warehouse
from videoclusternet.stages import stage
from videoclusternet.titles import title_key_from_filename, validate_title_key

if TYPE_CHECKING:
    import dagster as dg

    from vcn_dagster.backfills import SeasonBackfill

Report = Callable[[str], None]
# Dagster's own console log would repeat each failure with its stack trace; the summary says what failed and why.
QUIET_LOGS = {"console": {"config": {"log_level": "CRITICAL"}}}


class OperationError(Exception):
    """An operation cannot be done as asked; the message says why, in one line."""


def _silent(_: str) -> None:
    return None


@dataclass
class TitleRun:
    """How one title (or a video that gave no title) fared in a run: `warnings` from the non-blocking checks."""

    key: str
    success: bool
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def prepare_home() -> Path:
    """The home folder, with its Dagster instance settings written and DAGSTER_HOME pointing at it."""
    home = vcn_home()
    dagster_dir = dagster_home(home)
    write_instance_settings(dagster_dir)  # the default sqlite instance, with the home's pool limits
    os.environ["DAGSTER_HOME"] = str(dagster_dir)
    return home


def _materialize(
    home: Path, title: str, selection: list[dg.AssetKey], clusters: dict, launched_by: str
) -> dg.ExecuteInProcessResult:
    import dagster as dg

    from vcn_dagster.definitions import all_assets, all_checks, build_resources

    return dg.materialize(  # with the checks, so that a blocking one that fails stops the title
        [*all_assets, *all_checks],
        selection=selection,
        partition_key=title,
        instance=dg.DagsterInstance.get(),
        resources=build_resources(home),
        run_config={"ops": {"face_clusters": {"config": clusters}}, "loggers": QUIET_LOGS},
        raise_on_error=False,
        tags={"vcn/launched_by": launched_by},
    )


def run_titles(
    videos: list[Path],
    title: str | None = None,
    stride: int | None = None,
    adapt: bool | None = None,
    report: Report = _silent,
) -> dict[str, TitleRun]:
    """Register each video as a title partition and materialise every stage for it, in this process.
    `stride` and `adapt` are kept with the title for its later runs; None keeps the title's (1, and not
    adapted, for a new title). An adapted title has the face model adapted to it first, and its tracks
    clustered with that; otherwise the adaptation stages are skipped and tracks are clustered on the generic model.

    A title that fails is recorded as failed with its reason; the others carry on. So is a missing file. A
    video that gives no usable title key, or the key of an earlier video, is an error for that video alone.
    Returns title (or, for a video without a key, its path) -> how it went.
    """
    import dagster as dg

    from vcn_assets.partitions import titles_partitions
    from vcn_dagster.jobs import stage_keys
    from videoclusternet.adaptation import require_adaptation

    if title and len(videos) != 1:
        raise OperationError("--title names one title: give exactly one video with it")
    if stride is not None and stride < 1:
        raise OperationError(f"--stride {stride}: must be at least 1 (every frame)")
    if adapt:
        try:
            require_adaptation()
        except ImportError as exc:
            raise OperationError(str(exc)) from None
    home = prepare_home()
    media, warehouse = MediaLibrary(home), Warehouse(home)
    warehouse.ensure_layout()
    keys: dict[str, Path] = {}
    adapt_of: dict[str, bool] = {}  # as registered: this run's --adapt/--no-adapt, else the title's earlier choice
    outcome: dict[str, TitleRun] = {}
    for video in videos:
        try:
            key = validate_title_key(title or title_key_from_filename(video))
        except ValueError as exc:
            outcome[str(video)] = TitleRun(str(video), False, str(exc))
            report(f"error: {exc}")
            continue
        if key in keys:
            reason = f"{video}: title key {key!r} is also the key of {keys[key]}; pass --title"
            outcome[str(video)] = TitleRun(str(video), False, reason)
            report(f"error: {reason}")
            continue
        if not Path(video).is_file():
            reason = f"frames: {Path(video).resolve()}: {'not a file' if Path(video).exists() else 'file not found'}"
            warehouse.update_title(
                key, "vcn run", stage("frames").version, status="failed", stage="frames", error=reason
            )
            outcome[key] = TitleRun(key, False, reason)
            report(f"error: title {key}: {reason}")
            continue
        adapt_of[key] = media.register(key, Path(video), stride=stride, adapt=adapt).adapt
        keys[key] = Path(video)
    dg.DagsterInstance.get().add_dynamic_partitions(titles_partitions.name, list(keys))
    os.environ["VCN_PROGRESS"] = "1"
    for key, video in keys.items():
        report(f"== {key}  ({video})")
        started = time.perf_counter()
        result = _materialize(home, key, stage_keys(adapt_of[key]), {"adapt": adapt_of[key]}, "vcn run")
        run = TitleRun(key, result.success, None if result.success else failure_reason(result))
        run.warnings, run.seconds = check_warnings(result), time.perf_counter() - started
        outcome[key] = run
        report(f"   {'done' if run.success else f'FAILED: {run.error}'} ({run.seconds:.1f}s)")
    warehouse.sync_views()
    return outcome


def recluster(title: str, clusterer: str, threshold: float | None, adapt: bool | None) -> TitleRun:
    """Materialise only `face_clusters` for a title, with other clustering settings. `adapt` None keeps the
    embeddings the title's clusters were made with (the adapted model's or the generic one's)."""
    import dagster as dg

    from vcn_assets.partitions import titles_partitions
    from vcn_resources.results import clustered_with_adapted_model
    from videoclusternet.clustering import AUTO, AverageLinkClusterer

    home = prepare_home()
    if not dg.DagsterInstance.get().has_dynamic_partition(titles_partitions.name, title):
        raise OperationError(f"title {title!r} is unknown in {home}; run `vcn run VIDEO` first")
    if threshold is not None and clusterer not in (AverageLinkClusterer.name, AUTO):
        raise OperationError(f"--threshold is a setting of average_link only, not of {clusterer}")
    warehouse = Warehouse(home)
    if adapt is None:
        adapt = clustered_with_adapted_model(warehouse, title)
    config = {"clusterer": clusterer, "threshold": threshold, "adapt": adapt}
    result = _materialize(home, title, [dg.AssetKey("face_clusters")], config, "vcn cluster")
    warehouse.sync_views()
    run = TitleRun(title, result.success, None if result.success else failure_reason(result))
    run.warnings = check_warnings(result)
    return run


def failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """Why a run failed, in one line: the first failed step's own message, without Dagster's stack trace."""
    failure = next((e.step_failure_data for e in result.all_events if e.is_step_failure), None)
    if failure is None:
        return "the run failed"
    return (failure.user_failure_data.description if failure.user_failure_data else failure.error.message).strip()


def check_warnings(result: dg.ExecuteInProcessResult) -> list[str]:
    """The asset checks of a run that did not pass, with their problems, as lines for the summary."""
    return [
        f"{e.asset_key.to_user_string()} check {e.check_name}: {e.metadata['problems'].value.replace(chr(10), '; ')}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and "problems" in e.metadata
    ]


def known_title_warehouse(title: str) -> Warehouse:
    """The home's warehouse, after a clear error for a title it does not know. Needs no Dagster instance."""
    warehouse = Warehouse(vcn_home())
    if warehouse.title_info(title) is None:
        raise OperationError(f"title {title!r} is unknown in {warehouse.home}; run `vcn run VIDEO` first")
    return warehouse


def delete_title(title: str) -> Path:
    """Forget a title: its rows in every table, its files, its registered video and its partition. Dagster's
    run history and MLflow's models stay (they are history, not the title's current state). Returns the home."""
    import dagster as dg

    from vcn_assets.partitions import titles_partitions

    home = prepare_home()
    warehouse = known_title_warehouse(title)
    warehouse.forget_title(title)
    MediaLibrary(home).forget(title)
    instance = dg.DagsterInstance.get()
    if instance.has_dynamic_partition(titles_partitions.name, title):
        instance.delete_dynamic_partition(titles_partitions.name, title)
    warehouse.sync_views()
    return home


def backfill_season(season: str, url: str, in_process: bool = False) -> list[SeasonBackfill]:
    """Launch a Dagster backfill over a season's registered titles (see `vcn_dagster.backfills`)."""
    import dagster as dg

    from vcn_dagster.backfills import launch_season_backfill

    home = prepare_home()
    try:
        return launch_season_backfill(dg.DagsterInstance.get(), home, season, url, in_process)
    except (ValueError, RuntimeError, OSError) as exc:  # no such season; the webserver refused it or went away
        raise OperationError(str(exc)) from None


def demo(report: Report = _silent) -> dict[str, TitleRun]:
    """Compose a short clip of known people from images installed packages ship, and run the pipeline on it."""
    from videoclusternet.synthetic import compose_clip

    folder = prepare_home() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    truth = compose_clip(folder / "demo_clip.mp4", truth_csv=folder / "demo_truth.csv")
    report(
        f"demo clip: {truth.path} ({truth.frame_count} frames, {len(truth.shot_starts)} shots, "
        f"{len(truth.identities)} people: {', '.join(truth.identities)})"
    )
    return run_titles([truth.path], title="demo", report=report)


def ui_command(extra: list[str]) -> list[str]:
    """The `dagster dev` command line for the home's instance, on the code location of workspace.yaml (same
    name, so that schedules and sensors keep their state)."""
    home = prepare_home()
    workspace = home / "dagster" / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_module:\n      module_name: vcn_dagster.definitions\n"
        f"      location_name: {CODE_LOCATION}\n"
    )
    return ["dev", "-w", str(workspace), *extra]
