"""What the `vcn` commands do, apart from parsing and printing: register videos, materialise a title's
stages, re-cluster, forget a title, launch a season backfill, make the demo.

Every operation works in one home folder ($VCN_HOME, default `.vcn`), whose Dagster instance `vcn ui`
shows. They report what they are doing through a `report` hook (the CLI prints it), never by printing,
and say what went wrong with `OperationError`, whose message is one line for the user.

Dagster and the code location are imported inside the operations that run something, so that the
read-only commands (`vcn titles`, `vcn sql`, `vcn export`) start in a fraction of a second.
"""

from __future__ import annotations

import errno
import json
import os
import stat
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
from videoclusternet.titles import cast_season, title_key_from_filename, validate_title_key

if TYPE_CHECKING:
    import dagster as dg

    from vcn_dagster.backfills import SeasonBackfill
    from vcn_resources.exports import Interval, TitleTiming
    from videoclusternet.metrics import Evaluation

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
    """The home folder, with its Dagster instance settings written and DAGSTER_HOME pointing at it, and the
    runs of `vcn` processes that died before finishing failed, their pool slots freed (`recovery`)."""
    import dagster as dg

    from vcn_dagster.recovery import recover_interrupted_runs

    home = vcn_home()
    dagster_dir = dagster_home(home)
    write_instance_settings(dagster_dir)  # the default sqlite instance, with the home's pool limits
    os.environ["DAGSTER_HOME"] = str(dagster_dir)
    recover_interrupted_runs(dg.DagsterInstance.get(), Warehouse(home))
    return home


def _materialize(
    home: Path, key: str, selection: list[dg.AssetKey], ops: dict, launched_by: str
) -> dg.ExecuteInProcessResult:
    """Materialise `selection` for one title or season (`key`), in this process; `ops`: their config by name."""
    import dagster as dg

    from vcn_dagster.definitions import all_assets, all_checks, build_resources
    from vcn_dagster.recovery import process_tags, stop_on_signal

    instance = dg.DagsterInstance.get()
    with stop_on_signal(instance, Warehouse(home)):  # Ctrl-C stops it at once, even while it waits for a slot
        return dg.materialize(  # with the checks, so that a blocking one that fails stops the title
            [*all_assets, *all_checks],
            selection=selection,
            partition_key=key,
            instance=instance,
            resources=build_resources(home),
            run_config={"ops": {op: {"config": config} for op, config in ops.items()}, "loggers": QUIET_LOGS},
            raise_on_error=False,
            tags={"vcn/launched_by": launched_by, **process_tags()},
        )


def link_seasons(seasons: list[str], launched_by: str, report: Report = _silent) -> dict[str, TitleRun]:
    """Materialise `season_cast` for each season, in this process: its finished episodes linked into persons."""
    import dagster as dg

    from vcn_assets.partitions import seasons_partitions

    home = prepare_home()
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(
        seasons_partitions.name, [s for s in seasons if not instance.has_dynamic_partition(seasons_partitions.name, s)]
    )
    outcome = {}
    for season in seasons:
        result = _materialize(home, season, [dg.AssetKey("season_cast")], {}, launched_by)
        run = TitleRun(season, result.success, None if result.success else failure_reason(result))
        run.warnings = check_warnings(result)
        outcome[season] = run
        if run.success:
            made = result.asset_materializations_for_node("season_cast")[0].metadata
            report(
                f"== season {season}: {made['persons'].value} persons ({made['recurring'].value} recurring, "
                f"{made['guests'].value} guests) over {made['episodes'].value} episodes"
            )
        else:
            report(f"== season {season}: FAILED: {run.error}")
    return outcome


# Limits a service would publish, checked before a file is hashed or decoded; each overridable.
LIMITS = {"VCN_MAX_FILE_GB": 100.0, "VCN_MAX_HOURS": 12.0}
LARGE_FRAME = 1920 * 1080  # above this, say that detection will take longer (a 4K frame: about 4 times as long)


def _limit(name: str) -> float:
    try:
        return float(os.environ.get(name, LIMITS[name]))
    except ValueError:
        raise OperationError(f"{name}={os.environ[name]!r}: not a number") from None


def _within_limits(video: Path, report: Report) -> bool:
    """Refuse a file over the size or length limits (an OSError: that file's error alone), before anything
    reads it whole; warn of a frame larger than 1080p. Returns whether the file decodes: one that does not is
    not hashed, and its title fails in the frames stage, which says why."""
    from videoclusternet.video import VideoError, probe_video

    gigabytes = os.path.getsize(video) / 1e9
    if gigabytes > _limit("VCN_MAX_FILE_GB"):
        raise OSError(
            errno.EFBIG,
            f"{gigabytes:.1f} GB is over the limit of {_limit('VCN_MAX_FILE_GB'):g} GB (VCN_MAX_FILE_GB raises it)",
        )
    try:
        info = probe_video(video)
    except VideoError:
        return False
    if info.duration_s > 3600 * _limit("VCN_MAX_HOURS"):
        raise OSError(
            errno.EFBIG,
            f"{info.duration_s / 3600:.1f} h is over the limit of "
            f"{_limit('VCN_MAX_HOURS'):g} h (VCN_MAX_HOURS raises it)",
        )
    if info.width * info.height > LARGE_FRAME:
        report(
            f"warning: {video}: {info.width}x{info.height} frames: face detection takes about "
            f"{info.width * info.height / LARGE_FRAME:.0f} times as long as at 1920x1080 (--stride N looks at every "
            "N-th frame only)"
        )
    return True


def _readable_file(video: Path) -> Path:
    """`video`, or the OSError that says why it is not a file this process can read."""
    try:
        if not stat.S_ISREG(os.stat(video).st_mode):
            raise OSError(errno.EISDIR, "not a file")
    except FileNotFoundError:
        raise OSError(errno.ENOENT, "file not found") from None
    with open(video, "rb"):  # PermissionError now, not from the hashing later
        return video


def run_titles(
    videos: list[Path],
    title: str | None = None,
    stride: int | None = None,
    adapt: bool | None = None,
    replace: bool = False,
    report: Report = _silent,
    mirror: bool | None = None,
) -> dict[str, TitleRun]:
    """Register each video as a title partition and materialise every stage for it, in this process.
    `stride`, `adapt` and `mirror` are kept with the title for its later runs; None keeps the title's (1, not
    adapted, and with the mirror image, for a new title). An adapted title has the face model adapted to it
    first, and its tracks clustered with that; otherwise the adaptation stages are skipped and tracks are
    clustered on the generic model.

    A title that fails is recorded as failed with its reason; the others carry on. So is a missing file. A
    video that gives no usable title key, or the key of an earlier video, is an error for that video alone; so
    is a video whose key, derived from its name, is the title of another file that still exists, unless
    `replace` (a key given with `title` is the user's choice).
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
        before = media.find(key)
        taken = before and Path(before.path).exists() and Path(before.path) != Path(video).resolve()
        if taken and not (replace or title):  # a key derived from the name: Part1 and Part2 must not overwrite
            reason = (
                f"{video}: title {key!r} is {before.path}'s; pass --title KEY to make it another title, or "
                f"--replace to replace that video's results"
            )
            outcome[str(video)] = TitleRun(str(video), False, reason)
            report(f"error: {reason}")
            continue
        try:
            decodes = _within_limits(_readable_file(Path(video)), report)
            adapt_of[key] = media.register(key, Path(video), None if decodes else "", stride, adapt, mirror).adapt
        except OSError as exc:  # missing, a folder, unreadable, a symlink loop: that file's error alone
            reason = f"frames: {os.path.abspath(video)}: {exc.strerror or exc}"
            if warehouse.title_info(key) is not None:  # a title that was there says why it is stale; none is made
                warehouse.update_title(
                    key, "vcn run", stage("frames").version, status="failed", stage="frames", error=reason
                )
            outcome[key] = TitleRun(key, False, reason)
            report(f"error: title {key}: {reason}")
            continue
        keys[key] = Path(video)
    dg.DagsterInstance.get().add_dynamic_partitions(titles_partitions.name, list(keys))
    os.environ["VCN_PROGRESS"] = "1"
    for key, video in keys.items():
        report(f"== {key}  ({video})")
        started = time.perf_counter()
        result = _materialize(
            home, key, stage_keys(adapt_of[key]), {"face_clusters": {"adapt": adapt_of[key]}}, "vcn run"
        )
        run = TitleRun(key, result.success, None if result.success else failure_reason(result))
        run.warnings, run.seconds = check_warnings(result), time.perf_counter() - started
        outcome[key] = run
        report(f"   {'done' if run.success else f'FAILED: {run.error}'} ({run.seconds:.1f}s)")
    link_seasons(sorted({cast_season(key) for key in keys}), "vcn run", report)
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
    result = _materialize(home, title, [dg.AssetKey("face_clusters")], {"face_clusters": config}, "vcn cluster")
    if result.success:
        link_seasons([cast_season(title)], "vcn cluster")
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
        + (f"; to fix: {e.metadata['to_fix'].value}" if "to_fix" in e.metadata else "")
        for e in result.get_asset_check_evaluations()
        if not e.passed and "problems" in e.metadata
    ]


def known_title_warehouse(title: str) -> Warehouse:
    """The home's warehouse, after a clear error for a title it does not know. Needs no Dagster instance."""
    warehouse = Warehouse(vcn_home())
    if warehouse.title_info(title) is None:
        raise OperationError(f"title {title!r} is unknown in {warehouse.home}; run `vcn run VIDEO` first")
    return warehouse


@dataclass(frozen=True)
class CastExport:
    """What `vcn export KEY` writes, in every format: the face rows (`columns`), each title's timing and video,
    and the persons' on-screen intervals."""

    key: str
    columns: list[str]
    rows: list[dict]
    timings: dict[str, TitleTiming]
    videos: dict[str, str | None]
    intervals: list[Interval]


def export_cast(key: str, detected_only: bool = False) -> CastExport:
    """One row per face of the title `key`, or, for a season, of every episode linked into its cast (its title
    first), with the persons' intervals on screen. In a title detected at a stride, the frames a track stepped
    over get rows too, interpolated, unless `detected_only`."""
    from vcn_resources.exports import (
        EXPORT_COLUMNS,
        SEASON_EXPORT_COLUMNS,
        TitleTiming,
        bridged,
        on_screen_intervals,
        scorer_rows,
        season_rows,
    )

    warehouse, season, title = cast_scope(key)
    info = warehouse.title_info(title) if title is not None else None
    if info is not None and info.status != "done":
        why = f"failed in {info.stage}: {info.error}" if info.status == "failed" else f"is {info.status}"
        raise OperationError(f"{title} {why}; nothing to export (`vcn run` it again)")
    if title is not None:
        columns, rows, titles = EXPORT_COLUMNS, scorer_rows(warehouse.connect(), title), [title]
    else:
        columns, rows = SEASON_EXPORT_COLUMNS, season_rows(warehouse.connect(), season)
        titles = sorted({r["title"] for r in rows})
    infos = {t: warehouse.require_title(t) for t in titles}
    timings = {t: TitleTiming.of(i) for t, i in infos.items()}
    intervals = on_screen_intervals(rows, timings, default_title=title or "")
    if not detected_only:
        rows = bridged(rows, timings, default_title=title or "")
    return CastExport(key, columns, rows, timings, {t: i.path for t, i in infos.items()}, intervals)


def evaluate_key(key: str, truth: list[Path], iou_threshold: float = 0.4) -> Evaluation:
    """Score the title `key` against its truth file, or the season `key` against its episodes' truth (the
    files or folders in `truth`, else the truth beside each episode's video); kept in the evaluations tables."""
    from vcn_resources.evaluation import evaluate_season, evaluate_title, season_truth_files, truth_file_for

    warehouse, season, title = cast_scope(key)
    try:
        if title is not None:
            if len(truth) != 1:
                raise ValueError("a title is scored against one truth file: give --truth FILE once")
            evaluation = evaluate_title(warehouse, title, truth[0], "vcn evaluate", iou_threshold)
        else:
            episodes = sorted(set(warehouse.rows("person_tracks", season)["title"].tolist()))
            if truth:
                files = season_truth_files(episodes, truth)
            else:
                media = MediaLibrary(warehouse.home)
                files = {e: truth_file_for(Path(media.lookup(e).path)) for e in episodes}
                missing = [e for e, f in files.items() if f is None]
                if missing:
                    raise ValueError(f"no truth beside the videos of {', '.join(missing)}: give it with --truth")
            evaluation = evaluate_season(warehouse, season, files, "vcn evaluate", iou_threshold)
    except (ValueError, OSError) as exc:  # the truth or the title is unfit: say which and why
        raise OperationError(str(exc)) from None
    warehouse.sync_views()
    return evaluation


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
    link_seasons([cast_season(title)], "vcn delete")  # the season's other episodes keep their persons' ids
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


# --- the cast and its corrections -------------------------------------------------------------------------------


def cast_scope(key: str) -> tuple[Warehouse, str, str | None]:
    """(warehouse, season, title) for KEY, a title (whose season it is) or a season with a linked cast."""
    warehouse = Warehouse(vcn_home())
    if warehouse.title_info(key) is not None:
        return warehouse, cast_season(key), key
    if warehouse.read_title("season_persons", key) is not None:
        return warehouse, key, None
    raise OperationError(f"{key!r} is neither a title nor a season in {warehouse.home}; run `vcn run VIDEO` first")


def person_id(season: str, person: str) -> str:
    """A person as the user names it, `p0007` or `show.s01/p0007`, as the season's id."""
    return person if "/" in person else f"{season}/{person}"


def people(key: str) -> list[dict]:
    """The persons of a season (or those of one title, with what they have there): id, name, kind, episodes,
    tracks as [title, track], faces, screen seconds, picture; most screen time first."""
    warehouse, season, title = cast_scope(key)
    con = warehouse.connect()
    where = "a.season = ?" + (" AND a.title = ?" if title else "")
    persons = con.execute(
        f"""SELECT p.person_id, p.name, p.kind, p.episodes, sum(a.faces), round(sum(a.seconds), 3), p.crop_path
            FROM person_appearances a JOIN season_persons p USING (season, person_id)
            WHERE {where} GROUP BY ALL ORDER BY 6 DESC, 1""",
        [season, *([title] if title else [])],
    ).fetchall()
    tracks: dict[str, list] = {}
    for pid, t, k in con.execute(
        "SELECT person_id, title, track FROM person_tracks WHERE season = ? ORDER BY title, track", [season]
    ).fetchall():
        if title is None or t == title:
            tracks.setdefault(pid, []).append([t, int(k)])
    keys = ("person_id", "name", "kind", "episodes", "faces", "seconds", "crop_path")
    return [{**dict(zip(keys, row)), "tracks": tracks.get(row[0], [])} for row in persons]


def questions(key: str, limit: int = 20) -> list[dict]:
    """The season's suggested "same person?" questions, most worthwhile first (`vcn_resources.casts`)."""
    from vcn_resources.casts import season_questions

    _, season, _ = cast_scope(key)
    return season_questions(Warehouse(vcn_home()), season, limit)


def _anchors_of(warehouse: Warehouse, season: str, persons: list[str]) -> list[list]:
    from vcn_resources.corrections import person_tracks, track_anchors

    try:
        return [track_anchors(warehouse, person_tracks(warehouse, season, p)) for p in persons]
    except ValueError as exc:  # an unknown person
        raise OperationError(str(exc)) from None


def _track_of(warehouse: Warehouse, title: str, track: int) -> tuple[tuple[str, int], str]:
    """A kept track of a title and its person; a clear error for a track that is not kept or not linked."""
    row = (
        warehouse.connect()
        .execute("SELECT person_id FROM person_tracks WHERE title = ? AND track = ?", [title, int(track)])
        .fetchone()
    )
    if row is None:
        raise OperationError(f"track {track} of {title!r} is not a kept track of its season's cast")
    return (title, int(track)), row[0]


def correct(
    key: str,
    verb: str,
    *,
    persons: list[str] = (),
    name: str = "",
    title: str = "",
    track: int = -1,
    to: str = "",
    who: str | None = None,
) -> int:
    """Record one correction (`vcn name`, `merge`, `move`, `not-a-face`, `confirm`, `reject`) for KEY's season,
    with the anchors of the tracks it names, then apply it: the season's cast is linked again (and, for a
    correction of one track, the title clustered again first). Returns the correction's id."""
    from vcn_resources.corrections import append_correction, track_anchors

    warehouse, season, _ = cast_scope(key)
    ids = [person_id(season, p) for p in persons]
    if verb == "name":
        arguments = {"person": ids[0], "name": name, "anchors": _anchors_of(warehouse, season, ids[:1])}
    elif verb in ("confirm", "reject") and track >= 0:  # "is this track this person?"
        one, _ = _track_of(warehouse, title, track)
        arguments = {
            "persons": ids[:1],
            "title": title,
            "track_id": int(track),
            "track": track_anchors(warehouse, [one])[0],
            "anchors": _anchors_of(warehouse, season, ids[:1]),
        }
    elif verb in ("merge", "confirm", "reject"):
        if len(set(ids)) < 2:
            raise OperationError(f"{verb} names two or more different persons")
        arguments = {"persons": ids, "anchors": _anchors_of(warehouse, season, ids)}
    elif verb == "move" and _outside_cast(warehouse, title, track):
        # A rescue from the Unknown bucket: a track the quality filter set aside (it is tracked again, and kept),
        # or one a not-a-face took out.
        target = None if to == "new" else person_id(season, to)
        arguments = {
            "title": title,
            "track_id": int(track),
            "from": None,
            "rescue": _set_aside(warehouse, title, track),
            "track": track_anchors(warehouse, [(title, int(track))])[0],
            "to": target,
            "anchors": [[], *_anchors_of(warehouse, season, [target] if target else [])],
        }
    elif verb in ("move", "not_a_face"):
        one, old = _track_of(warehouse, title, track)
        arguments = {"title": title, "track_id": int(track), "from": old, "track": track_anchors(warehouse, [one])[0]}
        if verb == "move":
            target = None if to == "new" else person_id(season, to)
            arguments["to"] = target
            arguments["anchors"] = _anchors_of(warehouse, season, [old, *([target] if target else [])])
    else:
        raise OperationError(f"unknown correction {verb!r}")
    correction = append_correction(warehouse, season, verb, arguments, who)
    _apply(season, [title] if "track_id" in arguments else [], retrack=bool(arguments.get("rescue")))
    return correction.id


def undo(key: str, correction_id: int, who: str | None = None) -> int:
    """Record that a correction no longer applies, and apply that; returns the undo's own id."""
    from vcn_resources.corrections import append_correction, load_corrections

    warehouse, season, _ = cast_scope(key)
    target = next((c for c in load_corrections(warehouse, season) if c.id == correction_id), None)
    if target is None or target.verb == "undo":
        raise OperationError(f"no correction {correction_id} of season {season!r} to undo: `vcn corrections {key}`")
    undo_row = append_correction(warehouse, season, "undo", {"correction": correction_id}, who)
    titles = [target.arguments["title"]] if "track_id" in target.arguments else []
    _apply(season, titles, retrack=bool(target.arguments.get("rescue")))
    return undo_row.id


def corrections(key: str) -> list[dict]:
    """The season's corrections, oldest first: id, verb, arguments (without anchors), who, when, and whether
    each applies (undone, or why it no longer applies)."""
    warehouse, season, _ = cast_scope(key)
    rows = (
        warehouse.connect()
        .execute(
            "SELECT id, verb, arguments, who, created_at, applied_by_run, applies, reason, undone FROM corrections "
            "WHERE scope = ? ORDER BY id",
            [season],
        )
        .fetchall()
    )
    keys = ("id", "verb", "arguments", "who", "created_at", "applied_by_run", "applies", "reason", "undone")
    out = []
    for row in rows:
        entry = dict(zip(keys, row))
        entry["arguments"] = {k: v for k, v in json.loads(entry["arguments"]).items() if k not in ("anchors", "track")}
        out.append(entry)
    return out


def _retrack(title: str) -> None:
    """Materialise the title's stages from `face_tracks` down, with the settings it was registered with."""
    from vcn_dagster.jobs import stage_keys

    home = prepare_home()
    adapt = MediaLibrary(home).lookup(title).adapt
    selection = stage_keys(adapt)
    selection = selection[[k.path[-1] for k in selection].index("face_tracks") :]
    result = _materialize(home, title, selection, {"face_clusters": {"adapt": adapt}}, "vcn correction")
    if not result.success:
        raise OperationError(f"{title}: tracking again failed: {failure_reason(result)}")


def _set_aside(warehouse: Warehouse, title: str, track: int) -> bool:
    """Whether a track of the title is one the quality filter set aside."""
    found = (
        warehouse.connect()
        .execute("SELECT status <> 'kept' FROM tracks WHERE title = ? AND track = ?", [title, int(track)])
        .fetchone()
    )
    return bool(found and found[0])


def _outside_cast(warehouse: Warehouse, title: str, track: int) -> bool:
    """Whether a track of the title is in no person of its season's cast (set aside, or not a face); a clear
    error for a track the title does not have."""
    con = warehouse.connect()
    if con.execute("SELECT 1 FROM tracks WHERE title = ? AND track = ?", [title, int(track)]).fetchone() is None:
        raise OperationError(f"{title!r} has no track {track}")
    linked = con.execute("SELECT 1 FROM person_tracks WHERE title = ? AND track = ?", [title, int(track)])
    return linked.fetchone() is None


def _apply(season: str, titles: list[str], retrack: bool = False) -> None:
    """Cluster `titles` again with the clusterer they were clustered with (which links the season again), or,
    with no title, link the season again. `retrack`: first track the titles again, from `face_tracks` down
    (a rescued track is kept, embedded and clustered; an undone rescue set aside again)."""
    from vcn_resources.results import clustered_by
    from videoclusternet.clustering import AUTO, clusterer_settings

    for title in titles:
        name, threshold = clusterer_settings(clustered_by(Warehouse(vcn_home()), title) or AUTO)
        if retrack:
            _retrack(title)
        recluster(title, name, threshold, None)
    if not titles:
        link_seasons([season], "vcn correction")
