"""`vcn`: run the pipeline on videos, export results, make a demo, open the UI.

Every command works in one home folder ($VCN_HOME, default `.vcn`): the DuckDB file, the Parquet
tables, the Dagster instance (so `dagster dev` shows what `vcn run` did), media and model caches.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from videoclusternet.clustering import AUTO, CLUSTERERS, DEFAULT_CLUSTERER

if TYPE_CHECKING:
    from videoclusternet.metrics import Evaluation

STAGES = [
    "frames",
    "face_detections",
    "face_tracks",
    "face_embeddings",
    "adapted_model",
    "adapted_embeddings",
    "face_clusters",
]


def _prepare_home() -> Path:
    from resources import vcn_home
    from resources.home import dagster_home
    from vcn_dagster.instance import write_instance_settings

    home = vcn_home()
    dagster_dir = dagster_home(home)
    write_instance_settings(dagster_dir)  # the default sqlite instance, with the home's pool limits
    os.environ["DAGSTER_HOME"] = str(dagster_dir)
    return home


def run_titles(
    videos: list[Path], title: str | None = None, stride: int | None = None, adapt: bool | None = None
) -> dict[str, bool]:
    """Register each video as a title partition and materialise every asset for it, in this process.
    `stride` and `adapt` are kept with the title for its later runs; None keeps the title's (1, and not
    adapted, for a new title). An adapted title has the face model adapted to it first, and its tracks
    clustered with that; otherwise the adaptation stage is skipped and tracks are clustered on the generic model.

    A title that fails is recorded as failed with its reason; the others carry on. So is a missing file. A
    video that gives no usable title key, or the key of an earlier video, is an error for that video alone.
    Returns title (or, for a video without a key, its path) -> success.
    """
    home = _prepare_home()
    import dagster as dg

    from assets.common import code_version_of
    from resources import MediaLibraryResource, WarehouseResource
    from vcn_dagster.definitions import all_assets, all_checks, build_resources
    from vcn_dagster.jobs import stages_for
    from vcn_dagster.partitions import titles_partitions
    from vcn_dagster.titles import title_key_from_filename, validate_title_key

    if title and len(videos) != 1:
        raise SystemExit("--title names one title: give exactly one video with it")
    if stride is not None and stride < 1:
        raise SystemExit(f"--stride {stride}: must be at least 1 (every frame)")
    media = MediaLibraryResource(home=str(home))
    warehouse = WarehouseResource(home=str(home))
    warehouse.ensure_layout()
    keys: dict[str, Path] = {}
    adapts: dict[str, bool] = {}  # as registered: this run's --adapt/--no-adapt, else the title's earlier choice
    missing: list[str] = []
    outcome: dict[str, bool] = {}
    for video in videos:
        try:
            key = validate_title_key(title or title_key_from_filename(video))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            outcome[str(video)] = False
            continue
        if key in keys:
            print(f"error: {video}: title key {key!r} is also the key of {keys[key]}; pass --title", file=sys.stderr)
            outcome[str(video)] = False
            continue
        if not Path(video).is_file():
            reason = f"frames: {Path(video).resolve()}: {'not a file' if Path(video).exists() else 'file not found'}"
            print(f"error: title {key}: {reason}", file=sys.stderr)
            version = code_version_of("frames")
            warehouse.update_title(key, "vcn run", version, status="failed", stage="frames", error=reason)
            outcome[key] = False
            missing.append(key)
            continue
        adapts[key] = media.register(key, Path(video), stride=stride, adapt=adapt)["adapt"]
        keys[key] = Path(video)
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(titles_partitions.name, list(keys))
    os.environ["VCN_PROGRESS"] = "1"
    warnings: dict[str, list[str]] = {}
    for key, video in keys.items():
        print(f"== {key}  ({video})", file=sys.stderr)
        started = time.perf_counter()
        adapted = adapts[key]
        result = dg.materialize(  # with the checks, so that a blocking one that fails stops the title
            [*all_assets, *all_checks],
            selection=dg.AssetSelection.assets(*stages_for(adapted)),
            partition_key=key,
            instance=instance,
            resources=build_resources(home),
            run_config={
                "ops": {"face_clusters": {"config": {"use_adapted": adapted}}},
                "loggers": QUIET_LOGS,
            },
            raise_on_error=False,
            tags={"vcn/launched_by": "vcn run"},
        )
        outcome[key] = result.success
        warnings[key] = check_warnings(result)
        state = "done" if result.success else f"FAILED: {failure_reason(result)}"
        print(f"   {state} ({time.perf_counter() - started:.1f}s)", file=sys.stderr)
    warehouse.sync_views()
    print_summary(warehouse, [*missing, *keys], warnings)
    return outcome


def recluster(title: str, clusterer: str, threshold: float | None, adapted: bool | None) -> bool:
    """Materialise only `face_clusters` for a title, with other clustering settings. `adapted` None keeps
    the embeddings the title's clusters were made with (the adapted model's or the generic one's)."""
    home = _prepare_home()
    import dagster as dg

    from assets.identities import ClustersConfig, generic_embedder
    from resources import WarehouseResource
    from vcn_dagster.definitions import all_assets, all_checks, build_resources
    from vcn_dagster.partitions import titles_partitions
    from videoclusternet.clustering import AverageLinkClusterer

    instance = dg.DagsterInstance.get()
    if not instance.has_dynamic_partition(titles_partitions.name, title):
        raise SystemExit(f"vcn cluster: title {title!r} is unknown in {home}; run `vcn run VIDEO` first")
    if threshold is not None and clusterer not in (AverageLinkClusterer.name, AUTO):
        raise SystemExit(f"vcn cluster: --threshold is a setting of average_link only, not of {clusterer}")
    warehouse = WarehouseResource(home=str(home))
    if adapted is None:  # clusters made with another model than the generic one were made with the adapted one
        used = warehouse.read_title("cluster_assignments", title)
        adapted = bool(used) and used.column("model_version")[0].as_py() != generic_embedder(warehouse, title)
    config = {
        "clusterer": clusterer,
        "threshold": ClustersConfig.model_fields["threshold"].default if threshold is None else threshold,
        "use_adapted": adapted,
    }
    result = dg.materialize(
        [*all_assets, *all_checks],
        selection=[dg.AssetKey("face_clusters")],
        partition_key=title,
        instance=instance,
        resources=build_resources(home),
        run_config={"ops": {"face_clusters": {"config": config}}, "loggers": QUIET_LOGS},
        raise_on_error=False,
        tags={"vcn/launched_by": "vcn cluster"},
    )
    if not result.success and not result.asset_materializations_for_node("face_clusters"):
        print(f"vcn cluster: {failure_reason(result)}", file=sys.stderr)
    warehouse.sync_views()
    print_summary(warehouse, [title], {title: check_warnings(result)})
    return result.success


# Dagster's own console log would repeat each failure with its stack trace; the summary says what failed and why.
QUIET_LOGS = {"console": {"config": {"log_level": "CRITICAL"}}}


def failure_reason(result) -> str:
    """Why a run failed, in one line: the first failed step's own message, without Dagster's stack trace."""
    failure = next((e.step_failure_data for e in result.all_events if e.is_step_failure), None)
    if failure is None:
        return "the run failed"
    return (failure.user_failure_data.description if failure.user_failure_data else failure.error.message).strip()


def check_warnings(result) -> list[str]:
    """The asset checks of a run that did not pass, with their problems, as lines for the summary."""
    return [
        f"{e.asset_key.to_user_string()} check {e.check_name}: {e.metadata['problems'].value.replace(chr(10), '; ')}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and "problems" in e.metadata
    ]


def print_summary(warehouse, titles: list[str], warnings: dict[str, list[str]] | None = None) -> None:
    con = warehouse.connect()
    for key in titles:
        row = con.execute("SELECT * FROM titles WHERE title = ?", [key]).fetchone()
        cols = [d[0] for d in con.description]
        info = dict(zip(cols, row)) if row else {}
        print(f"\n{key}: {info.get('status', 'unknown')}")
        if info.get("status") == "failed":
            print(f"  error: {info.get('error')}")
            continue
        for warning in (warnings or {}).get(key, []):
            print(f"  warning: {warning}")
        shots = con.execute("SELECT count(*) FROM shots WHERE title = ?", [key]).fetchone()[0]
        faces = con.execute("SELECT count(*) FROM face_detections WHERE title = ?", [key]).fetchone()[0]
        by_status = dict(
            con.execute("SELECT status, count(*) FROM tracks WHERE title = ? GROUP BY 1", [key]).fetchall()
        )
        people = con.execute("SELECT count(*) FROM identities WHERE title = ?", [key]).fetchone()[0]
        kept = by_status.pop("kept", 0)
        dropped = ", ".join(f"{v} {k}" for k, v in sorted(by_status.items())) or "none"
        print(f"  {info.get('duration_s', 0):.1f}s of video, {shots} shots, {faces} faces")
        print(f"  tracks: {kept} kept, set aside: {dropped}")
        print(f"  identities: {people}")
        times = "  ".join(f"{s} {info[f'{s}_s']:.1f}s" for s in STAGES if info.get(f"{s}_s") is not None)
        print(f"  wall time: {times}")
    print(f"\nresults: {warehouse.db_path} (DuckDB views over {warehouse.root})")
    print('  e.g. vcn sql "SELECT * FROM identities"   (read-only; safe while runs write)')
    print("  or: vcn export TITLE --format csv;  vcn ui  (Dagster UI with these runs)")


def _known_title_warehouse(title: str):
    """The home's warehouse, after a clear error for a title it does not know."""
    from resources import WarehouseResource

    home = _prepare_home()
    warehouse = WarehouseResource(home=str(home))
    if not warehouse.connect().execute("SELECT count(*) FROM titles WHERE title = ?", [title]).fetchone()[0]:
        raise SystemExit(f"title {title!r} is unknown in {home}; run `vcn run VIDEO` first")
    return warehouse


def export_rows(title: str) -> list[dict]:
    """One row per detected face: the scorer's contract (cluster empty for faces of tracks set aside)."""
    from assets.evaluation import scorer_rows

    return scorer_rows(_known_title_warehouse(title).connect(), title)


def evaluate_title(title: str, truth: Path, iou_threshold: float = 0.4) -> Evaluation:
    """Score a title's current clusters against a ground-truth CSV and append the figures to `evaluations`
    (and each identity's spread over the clusters to `evaluation_identities`)."""
    from assets.evaluation import evaluate_title as evaluate_stored

    warehouse = _known_title_warehouse(title)
    evaluation = evaluate_stored(warehouse, title, truth, "vcn evaluate", iou_threshold)
    warehouse.sync_views()
    return evaluation


def print_evaluation(evaluation: Evaluation) -> None:
    """The figures, one per line, then where each true identity's faces went."""
    for name, value in evaluation.as_dict().items():
        print(f"{name:40} {value if not isinstance(value, float) else round(value, 4)}")
    columns = ("faces", "found", "clusters", "unclustered", "largest", "share", "purity")
    print(f"\n{'identity':24}" + "".join(f"{c:>12}" for c in columns))
    for s in evaluation.identities:
        clustered = s.largest_cluster is not None
        largest = [s.largest_cluster, s.largest_share, s.largest_purity] if clustered else ["-"] * 3
        cells = [s.faces, s.found, s.clusters, s.unclustered, *largest]
        print(f"{s.identity:24}" + "".join(f"{c:>12.2f}" if isinstance(c, float) else f"{c:>12}" for c in cells))


def export(title: str, fmt: str, out: Path | None) -> None:
    from assets.evaluation import EXPORT_COLUMNS

    rows = export_rows(title)
    stream = open(out, "w", newline="") if out else sys.stdout
    try:
        if fmt == "json":
            json.dump(rows, stream)
        else:
            writer = csv.DictWriter(stream, EXPORT_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: ("" if v is None else round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}
                )
    finally:
        if out:
            stream.close()
    if out:
        print(f"{len(rows)} faces written to {out}", file=sys.stderr)


def list_titles() -> None:
    """One line per title of the home: status, length, faces, people, whether it is registered adapted
    (`vcn run --adapt`), and the error of a failed one."""
    from resources import MediaLibraryResource, WarehouseResource

    home = str(_prepare_home())
    media = MediaLibraryResource(home=home)
    con = WarehouseResource(home=home).connect()
    rows = con.execute(
        "SELECT title, status, duration_s, faces, identities, error FROM title_summary ORDER BY title"
    ).fetchall()
    print("title\tstatus\tseconds\tfaces\tpeople\tadapted\terror")
    for title, status, seconds, faces, people, error in rows:
        length = "" if seconds is None else f"{seconds:.1f}"
        adapted = "yes" if media.adapts(title) else "no"
        print(f"{title}\t{status}\t{length}\t{faces}\t{people}\t{adapted}\t{error or ''}")


def delete_title(title: str) -> None:
    """Forget a title: its rows in every table, its files, its registered video and its partition. Dagster's
    run history and MLflow's models stay (they are history, not the title's current state)."""
    import dagster as dg

    from resources import MediaLibraryResource
    from vcn_dagster.partitions import titles_partitions

    warehouse = _known_title_warehouse(title)
    warehouse.forget_title(title)
    MediaLibraryResource(home=warehouse.home).forget(title)
    instance = dg.DagsterInstance.get()
    if instance.has_dynamic_partition(titles_partitions.name, title):
        instance.delete_dynamic_partition(titles_partitions.name, title)
    warehouse.sync_views()
    print(f"title {title} deleted from {warehouse.home}")


def demo() -> None:
    """Compose a short clip of known people from images installed packages ship, and run the pipeline on it."""
    from videoclusternet.synthetic import compose_clip

    home = _prepare_home()
    folder = home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    truth = compose_clip(folder / "demo_clip.mp4", truth_csv=folder / "demo_truth.csv")
    print(
        f"demo clip: {truth.path} ({truth.frame_count} frames, {len(truth.shot_starts)} shots, "
        f"{len(truth.identities)} people: {', '.join(truth.identities)})"
    )
    ok = run_titles([truth.path], title="demo")
    if not ok.get("demo"):
        raise SystemExit(1)
    print("\nnext:")
    print("  vcn export demo --format csv            # one row per face, with track and cluster")
    print("  vcn sql \"SELECT * FROM identities WHERE title = 'demo'\"")
    print("  vcn ui                                  # the asset graph and this run's metadata in Dagster")


def sql(query: str) -> None:
    """Run a query on the database file, read-only, and print the rows tab-separated."""
    import duckdb

    from resources import WarehouseResource

    warehouse = WarehouseResource(home=str(_prepare_home()))
    warehouse.sync_views()
    with duckdb.connect(str(warehouse.db_path), read_only=True) as con:
        try:
            cursor = con.execute(query)
        except duckdb.Error as exc:
            raise SystemExit(f"vcn sql: {exc}") from None
        print("\t".join(d[0] for d in cursor.description))
        for row in cursor.fetchall():
            print("\t".join("" if v is None else str(v) for v in row))


def ui(extra: list[str]) -> None:
    """Start `dagster dev` with the home's Dagster instance, on the code location `dagster dev` in the repo root
    loads (same name as in workspace.yaml and pyproject.toml, so schedules and sensors keep their state)."""
    home = _prepare_home()
    workspace = home / "dagster" / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: vcn_dagster.definitions\n"
        "      location_name: videoclusternet\n"
    )
    dagster = Path(sys.executable).with_name("dagster")  # the one installed beside this interpreter
    # A shell that starts `vcn ui &` ignores SIGINT in it, and dagster dev maps SIGTERM to the SIGINT handler:
    # restore the default, or neither signal would stop the UI.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(dagster, [str(dagster), "dev", "-w", str(workspace), *extra])


def backfill_season(season: str, url: str, in_process: bool = False) -> bool:
    """Launch a Dagster backfill over a season's registered titles (see `vcn_dagster.backfills`) and say
    what was launched. False when a title run here failed."""
    home = _prepare_home()
    import dagster as dg

    from vcn_dagster.backfills import launch_season_backfill

    try:
        backfills = launch_season_backfill(dg.DagsterInstance.get(), home, season, url, in_process)
    except (ValueError, RuntimeError, OSError) as exc:  # no such season; the webserver refused it or went away
        raise SystemExit(f"vcn backfill-season: {exc}") from None
    for launched in backfills:
        print(f"backfill {launched.backfill_id} ({launched.where}): season {season}, {len(launched.titles)} titles")
        for title in launched.titles:
            state = ("done" if launched.outcome[title] else "FAILED") if title in launched.outcome else "requested"
            print(f"  {title}: {state}")
    print("see it in `vcn ui`: Runs -> Backfills")
    return all(ok for launched in backfills for ok in launched.outcome.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vcn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="process videos end to end")
    p_run.add_argument("videos", nargs="+", type=Path)
    p_run.add_argument("--title", help="title key for a single video (default: derived from the file name)")
    p_run.add_argument(
        "--stride", type=int, help="detect faces on every N-th frame, in this and later runs (default: as before, or 1)"
    )
    p_run.add_argument(
        "--adapt",
        action=argparse.BooleanOptionalAction,
        help="adapt the face model to each title and cluster with it (--no-adapt: the generic model), "
        "in this and later runs (default: as before, or not)",
    )
    p_export = sub.add_parser("export", help="one row per detected face, as CSV or JSON")
    p_export.add_argument("title")
    p_export.add_argument("--format", choices=["csv", "json"], default="csv")
    p_export.add_argument("--out", type=Path)
    p_cluster = sub.add_parser("cluster", help="re-cluster a processed title with other settings")
    p_cluster.add_argument("title")
    p_cluster.add_argument("--clusterer", default=DEFAULT_CLUSTERER, choices=(AUTO, *CLUSTERERS))
    p_cluster.add_argument("--threshold", type=float, help="average_link's cosine similarity (default 0.3)")
    p_cluster.add_argument(
        "--adapted",
        action=argparse.BooleanOptionalAction,
        help="with the title's adapted model's embeddings, or (--no-adapted) the generic model's; "
        "default: those its clusters were made with",
    )
    p_eval = sub.add_parser("evaluate", help="score a title against ground truth and keep the figures")
    p_eval.add_argument("title")
    p_eval.add_argument("--truth", type=Path, required=True, help="CSV: frame_idx,x1,y1,x2,y2,identity")
    p_eval.add_argument("--iou", type=float, default=0.4)
    sub.add_parser("titles", help="list the titles: status, length, faces, people, error")
    p_delete = sub.add_parser("delete", help="forget a title: its results, files, video registration and partition")
    p_delete.add_argument("title")
    sub.add_parser("demo", help="make a demo clip from packaged face images and process it")
    p_sql = sub.add_parser("sql", help="query the tables (read-only)")
    p_sql.add_argument("query")
    sub.add_parser("ui", help="start the Dagster UI (dagster dev) on the home's instance; other options go to it")
    p_backfill = sub.add_parser("backfill-season", help="one Dagster backfill over a season's titles")
    p_backfill.add_argument("season", help="SERIES.sNN, e.g. show.s01")
    p_backfill.add_argument(
        "--url",
        default=os.environ.get("VCN_DAGSTER_URL", "http://127.0.0.1:3000"),
        help="Dagster webserver to launch on when it answers (default $VCN_DAGSTER_URL or %(default)s)",
    )
    p_backfill.add_argument("--in-process", action="store_true", help="run the backfill here even if a webserver runs")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "ui":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "run":
        outcome = run_titles(args.videos, args.title, args.stride, adapt=args.adapt)
        raise SystemExit(0 if all(outcome.values()) else 1)
    if args.command == "export":
        export(args.title, args.format, args.out)
    elif args.command == "cluster":
        raise SystemExit(0 if recluster(args.title, args.clusterer, args.threshold, args.adapted) else 1)
    elif args.command == "evaluate":
        try:
            evaluation = evaluate_title(args.title, args.truth, args.iou)
        except (ValueError, OSError) as exc:  # the truth file or the title is unfit: say which and why
            raise SystemExit(f"vcn evaluate: {exc}") from None
        print_evaluation(evaluation)
    elif args.command == "titles":
        list_titles()
    elif args.command == "delete":
        delete_title(args.title)
    elif args.command == "demo":
        demo()
    elif args.command == "sql":
        sql(args.query)
    elif args.command == "ui":
        ui(extra)
    elif args.command == "backfill-season":
        raise SystemExit(0 if backfill_season(args.season, args.url, args.in_process) else 1)


if __name__ == "__main__":
    main()
