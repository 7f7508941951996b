"""`vcn`: run the pipeline on videos, export results, make a demo, open the UI.

Every command works in one home folder ($VCN_HOME, default `.vcn`): the DuckDB file, the Parquet
tables, the Dagster instance (so `dagster dev` shows what `vcn run` did), media and model caches.
This module parses and prints; `operations` does the work. Commands that only read tables import
neither Dagster nor a model runtime, so they answer at once.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from vcn_dagster.memory import arrow_on_system_malloc, limit_malloc_arenas
from vcn_resources.home import vcn_home
from videoclusternet.offline import no_usage_reports

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from vcn_dagster.operations import CastExport, TitleRun
    from vcn_resources.warehouse import TitleSummary, Warehouse
    from videoclusternet.metrics import Evaluation

CLUSTERER_NAMES = (
    "auto",
    "adaptive_merge",
    "calibrated_link",
    "cooccurrence_cut",
    "average_link",
    "first_neighbour",
    "hdbscan",
)


def _stderr(line: str) -> None:
    click.echo(line, err=True)


def _exit_code(outcome: dict[str, TitleRun]) -> int:
    return 0 if all(run.success for run in outcome.values()) else 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Find every face in a video, follow it through each shot, and group the tracks by identity."""


@cli.command()
# readable=False: click would stop the whole command at a file it cannot read; `run` makes it that file's error.
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option("--title", help="title key for a single video (default: derived from the file name)")
@click.option(
    "--stride", type=int, help="detect faces on every N-th frame, in this and later runs (default: as before, or 1)"
)
@click.option(
    "--adapt/--no-adapt",
    default=None,
    help="adapt the face model to each title and cluster with it (--no-adapt: the generic model), "
    "in this and later runs (default: as before, or not)",
)
@click.option(
    "--mirror/--no-mirror",
    default=None,
    help="embed each face's mirror image too (--no-mirror: upright only, the embedding stage in half the time; "
    "README: speed), in this and later runs (default: as before, or with the mirror)",
)
@click.option(
    "--replace",
    is_flag=True,
    help="let a video take over the title of another file with the same key (default: refused)",
)
def run(
    videos: tuple[Path, ...],
    title: str | None,
    stride: int | None,
    adapt: bool | None,
    mirror: bool | None,
    replace: bool,
) -> int:
    """Process videos end to end."""
    from vcn_dagster import operations

    outcome = operations.run_titles(list(videos), title, stride, adapt, replace=replace, report=_stderr, mirror=mirror)
    _print_summary([run.key for run in outcome.values()], outcome)
    return _exit_code(outcome)


@cli.command()
@click.argument("title")
@click.option("--clusterer", default="auto", type=click.Choice(CLUSTERER_NAMES))
@click.option("--threshold", type=float, help="average_link's cosine similarity (default 0.3)")
@click.option(
    "--adapt/--no-adapt",
    default=None,
    help="with the title's adapted model's embeddings, or (--no-adapt) the generic model's; "
    "default: those its clusters were made with",
)
def cluster(title: str, clusterer: str, threshold: float | None, adapt: bool | None) -> int:
    """Re-cluster a processed title with other settings."""
    from vcn_dagster import operations

    run = operations.recluster(title, clusterer, threshold, adapt)
    if not run.success:
        _stderr(f"vcn cluster: {run.error}")
    _print_summary([title], {title: run})
    return 0 if run.success else 1


@cli.command()
@click.argument("key")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "webvtt", "eaf"]),
    default="csv",
    help="csv: one row per face (the scorer's); json: titles, persons with intervals, faces; webvtt: a cue per "
    "person on screen (a browser's <track>); eaf: an ELAN file, a tier per person",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="file to write (default: stdout); for a season's webvtt or eaf, a folder: one file per episode",
)
@click.option(
    "--detected-only",
    is_flag=True,
    help="for a title run with --stride N: only the faces detected, not also the frames between them that a "
    "track stepped over (their boxes interpolated)",
)
def export(key: str, fmt: str, out: Path | None, detected_only: bool) -> None:
    """A title's (KEY: show.s01e03) or a season's (show.s01) faces and persons, for other tools."""
    from vcn_dagster.operations import OperationError, export_cast
    from vcn_resources import exports

    cast = export_cast(key, detected_only)
    if fmt in ("csv", "json"):
        _write_text(out, lambda stream: _write_rows(cast, fmt, stream))
        if out:
            _stderr(f"{len(cast.rows)} faces written to {out}")
        return
    titles = list(cast.timings)
    if len(titles) > 1 and not (out and not out.suffix):
        raise OperationError(f"a season's {fmt} is one file per episode: give --out FOLDER")
    for title in titles:
        intervals = [i for i in cast.intervals if i.title == title]
        target = out / f"{title}.{'vtt' if fmt == 'webvtt' else 'eaf'}" if len(titles) > 1 else out
        text = exports.webvtt(intervals) if fmt == "webvtt" else exports.eaf(intervals, cast.videos[title])
        _write_text(target, lambda stream, text=text: stream.write(text))
        if target:
            _stderr(f"{len(intervals)} intervals of {title} written to {target}")


def _write_text(out: Path | None, write: Callable[[TextIO], object]) -> None:
    """`write` to the file `out` (its folder made), or to stdout."""
    if out is None:
        write(sys.stdout)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as stream:
        write(stream)


def _write_rows(cast: CastExport, fmt: str, stream: TextIO) -> None:
    from vcn_resources.exports import as_json

    if fmt == "json":
        json.dump(as_json(cast.key, cast.rows, cast.timings, cast.intervals), stream)
        return
    writer = csv.DictWriter(stream, cast.columns)
    writer.writeheader()
    for row in cast.rows:
        writer.writerow({k: ("" if v is None else round(v, 2) if isinstance(v, float) else v) for k, v in row.items()})


@cli.command()
@click.argument("key")
@click.option(
    "--truth",
    type=click.Path(path_type=Path),
    multiple=True,
    help="CSV: frame_idx,x1,y1,x2,y2,identity. For a season: a folder of them, or one per episode (repeat the "
    "option), named like the episode's video (Show.S01E02.faces.csv); default: the truth beside each video",
)
@click.option("--iou", type=float, default=0.4, show_default=True)
def evaluate(key: str, truth: tuple[Path, ...], iou: float) -> None:
    """Score a title (or a season's persons, across its episodes) against ground truth and keep the figures."""
    from vcn_dagster.operations import evaluate_key

    _print_evaluation(evaluate_key(key, list(truth), iou))


@cli.command()
@click.option("--failed", is_flag=True, help="only the titles that failed (`vcn delete --failed` forgets them)")
def titles(failed: bool) -> None:
    """List the titles: status, length, faces, people, whether adapted, error."""
    from vcn_resources.media import MediaLibrary
    from vcn_resources.warehouse import Warehouse

    home = vcn_home()
    media = MediaLibrary(home)
    summaries = Warehouse(home).summaries()
    if any(s.info.status == "processing" for s in summaries):  # running, or interrupted: ask Dagster which
        from vcn_dagster.operations import prepare_home

        prepare_home()
        summaries = Warehouse(home).summaries()
    click.echo("title\tstatus\tseconds\tfaces\tpeople\tadapted\terror")
    for s in summaries:
        if failed and s.info.status != "failed":
            continue
        info = s.info
        length = "" if info.duration_s is None else f"{info.duration_s:.1f}"
        entry = media.find(info.title)
        adapted = "yes" if entry and entry.adapt else "no"
        click.echo(f"{info.title}\t{info.status}\t{length}\t{s.faces}\t{s.identities}\t{adapted}\t{info.error or ''}")


@cli.command()
@click.argument("titles", nargs=-1)
@click.option("--failed", is_flag=True, help="every title that failed (those `vcn titles --failed` lists)")
def delete(titles: tuple[str, ...], failed: bool) -> None:
    """Forget titles: their results, files, video registration and partition."""
    from vcn_dagster import operations
    from vcn_resources.warehouse import Warehouse

    if failed:
        titles += tuple(s.info.title for s in Warehouse(vcn_home()).summaries() if s.info.status == "failed")
    if not titles:
        raise click.UsageError("name the titles to delete, or pass --failed")
    for title in dict.fromkeys(titles):
        home = operations.delete_title(title)
        click.echo(f"title {title} deleted from {home}")


@cli.command()
def demo() -> int:
    """Make a demo clip from packaged face images and process it."""
    from vcn_dagster import operations

    outcome = operations.demo(report=_stderr)
    _print_summary([run.key for run in outcome.values()], outcome)
    if not outcome.get("demo") or not outcome["demo"].success:
        return 1
    click.echo("\nnext:")
    click.echo("  vcn export demo --format csv            # one row per face, with track and cluster")
    click.echo("  vcn sql \"SELECT * FROM identities WHERE title = 'demo'\"")
    click.echo("  vcn ui                                  # the asset graph and this run's metadata in Dagster")
    return 0


@cli.command()
@click.argument("query")
def sql(query: str) -> None:
    """Query the tables (read-only)."""
    import duckdb

    from vcn_dagster.operations import OperationError
    from vcn_resources.warehouse import Warehouse

    try:
        columns, rows = Warehouse(vcn_home()).query(query, warn=lambda line: _stderr(f"vcn sql: {line}"))
    except duckdb.Error as exc:
        raise OperationError(str(exc)) from None
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join("" if v is None else str(v) for v in row))


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def ui(context: click.Context) -> None:
    """Start the Dagster UI (dagster dev) on the home's instance; other options go to it."""
    from vcn_dagster import operations

    arguments = operations.ui_command(list(context.args))
    dagster = Path(sys.executable).with_name("dagster")  # the one installed beside this interpreter
    # A shell that starts `vcn ui &` ignores SIGINT in it, and dagster dev maps SIGTERM to the SIGINT handler:
    # restore the default, or neither signal would stop the UI.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(dagster, [str(dagster), *arguments])


@cli.command()
@click.argument("key", required=False)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option(
    "--static",
    "static_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="write a self-contained read-only HTML report (and a PNG contact sheet per person) here instead",
)
def review(key: str | None, port: int, static_dir: Path | None) -> None:
    """See a cast (KEY: a season or a title; default: a list of them) and correct it in a browser, on
    http://127.0.0.1:PORT; every button writes the same corrections as the CLI."""
    from vcn_dagster import operations

    if key is not None:
        operations.cast_scope(key)  # an unknown key: one line, before anything starts
    if static_dir is not None:
        if key is None:
            raise click.UsageError("--static writes one cast: give its KEY")
        from vcn_dagster.review.report import write_report

        click.echo(f"report written to {write_report(key, static_dir)}")
        return
    import uvicorn

    from vcn_dagster.review.app import review_app

    operations.prepare_home()  # corrections run Dagster materialisations on the home's instance
    click.echo(f"review {key or 'casts'} on http://127.0.0.1:{port}/ (Ctrl-C stops it)")
    uvicorn.run(review_app(key), host="127.0.0.1", port=port, log_level="warning")


@cli.command("backfill-season")
@click.argument("season")
@click.option(
    "--url",
    default=lambda: os.environ.get("VCN_DAGSTER_URL", "http://127.0.0.1:3000"),
    help="Dagster webserver to launch on when it answers (default $VCN_DAGSTER_URL or http://127.0.0.1:3000)",
)
@click.option("--in-process", is_flag=True, help="run the backfill here even if a webserver runs")
def backfill_season(season: str, url: str, in_process: bool) -> int:
    """One Dagster backfill over a season's titles (SERIES.sNN, e.g. show.s01)."""
    from vcn_dagster import operations

    backfills = operations.backfill_season(season, url, in_process)
    for launched in backfills:
        click.echo(
            f"backfill {launched.backfill_id} ({launched.where}): season {season}, {len(launched.titles)} titles"
        )
        for title in launched.titles:
            state = ("done" if launched.outcome[title] else "FAILED") if title in launched.outcome else "requested"
            click.echo(f"  {title}: {state}")
        if launched.cast_linked is not None:
            click.echo(f"  season cast: {'linked' if launched.cast_linked else 'FAILED'}")
    click.echo("see it in `vcn ui`: Runs -> Backfills (or Runs filtered by the tag vcn/backfill, for one run here)")
    return 0 if all(ok for launched in backfills for ok in launched.outcome.values()) else 1


@cli.command()
@click.argument("key")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def people(key: str, fmt: str) -> None:
    """The persons of a season (KEY: show.s01), or those of one title (show.s01e03): id, name, screen time."""
    from vcn_dagster.operations import people as cast

    persons = cast(key)
    if fmt == "json":
        click.echo(json.dumps(persons, default=str))
        return
    click.echo("person_id\tname\tkind\tepisodes\ttracks\tfaces\tseconds")
    for p in persons:
        click.echo(
            f"{p['person_id']}\t{p['name'] or ''}\t{p['kind']}\t{p['episodes']}\t{len(p['tracks'])}\t{p['faces']}"
            f"\t{p['seconds']:.1f}"
        )


def _corrected(key: str, verb: str, **arguments) -> None:
    from vcn_dagster.operations import correct

    number = correct(key, verb, **arguments)
    click.echo(f"correction {number} ({verb.replace('_', '-')}) applied; `vcn undo {key} {number}` takes it back")


@cli.command()
@click.argument("key")
@click.argument("person")
@click.argument("name")
def name(key: str, person: str, name: str) -> None:
    """Name a person (PERSON: p0007 or show.s01/p0007); the name follows the person through re-runs."""
    _corrected(key, "name", persons=[person], name=name)


@cli.command()
@click.argument("key")
@click.argument("persons", nargs=-1, required=True)
def merge(key: str, persons: tuple[str, ...]) -> None:
    """Merge persons: they are one person from now on."""
    _corrected(key, "merge", persons=list(persons))


@cli.command()
@click.argument("key")
@click.argument("title")
@click.argument("track", type=int)
@click.argument("person")
def move(key: str, title: str, track: int, person: str) -> None:
    """Move a track to another person, or to a new one (PERSON: new)."""
    _corrected(key, "move", title=title, track=track, to=person)


@cli.command("not-a-face")
@click.argument("key")
@click.argument("title")
@click.argument("track", type=int)
def not_a_face(key: str, title: str, track: int) -> None:
    """Set a track aside: it is not a face."""
    _corrected(key, "not_a_face", title=title, track=track)


def _answer(key: str, verb: str, person_a: str, person_b: str | None, track: tuple[str, int] | None) -> None:
    if (person_b is None) == (track is None):
        raise click.UsageError("give a second person, or --track TITLE TRACK (is this track PERSON_A's?)")
    if track:
        _corrected(key, verb, persons=[person_a], title=track[0], track=track[1])
    else:
        _corrected(key, verb, persons=[person_a, person_b])


_TRACK = click.option("--track", type=(str, int), help="TITLE TRACK: the question was about this track of PERSON_A")


@cli.command()
@click.argument("key")
@click.argument("person_a")
@click.argument("person_b", required=False)
@_TRACK
def confirm(key: str, person_a: str, person_b: str | None, track: tuple[str, int] | None) -> None:
    """Answer a suggested question yes: the two persons (or the track and PERSON_A) are one person."""
    _answer(key, "confirm", person_a, person_b, track)


@cli.command()
@click.argument("key")
@click.argument("person_a")
@click.argument("person_b", required=False)
@_TRACK
def reject(key: str, person_a: str, person_b: str | None, track: tuple[str, int] | None) -> None:
    """Answer a suggested question no: two people (the track is moved out of PERSON_A)."""
    _answer(key, "reject", person_a, person_b, track)


@cli.command()
@click.argument("key")
@click.option("--limit", type=int, default=10, show_default=True)
def questions(key: str, limit: int) -> None:
    """The questions worth answering first (then `vcn confirm` or `vcn reject`)."""
    from vcn_dagster.operations import questions as suggested

    click.echo("question\tlikelihood\tworth")
    for q in suggested(key, limit):
        asked = (
            f"same person? {q['person_a']} {q['person_b']}"
            if q["kind"] == "pair"
            else f"is track {q['track'][0]} {q['track'][1]} {q['person_a']}?"
        )
        click.echo(f"{asked}\t{q['likelihood']:.2f}\t{q['worth']:.0f}")


@cli.command("corrections")
@click.argument("key")
def list_corrections(key: str) -> None:
    """The season's corrections, with their ids (for `vcn undo`) and whether each applies."""
    from vcn_dagster.operations import corrections

    click.echo("id\tverb\twho\twhen\tstate\targuments")
    for c in corrections(key):
        state = "undone" if c["undone"] else ("applied" if c["applies"] else f"not applied: {c['reason'] or 'pending'}")
        click.echo(f"{c['id']}\t{c['verb']}\t{c['who']}\t{c['created_at']}\t{state}\t{json.dumps(c['arguments'])}")


@cli.command()
@click.argument("key")
@click.argument("correction_id", type=int)
def undo(key: str, correction_id: int) -> None:
    """Take a correction back."""
    from vcn_dagster.operations import undo as take_back

    number = take_back(key, correction_id)
    click.echo(f"correction {correction_id} undone (as correction {number})")


def _print_summary(titles: list[str], outcome: dict[str, TitleRun]) -> None:
    from vcn_resources.warehouse import Warehouse

    warehouse = Warehouse(vcn_home())
    found = {s.info.title: s for s in warehouse.summaries(titles)}
    for key in titles:
        summary = found.get(key)
        status = summary.info.status if summary else "unknown"
        click.echo(f"\n{key}: {status}")
        if summary is None or status == "failed":
            click.echo(f"  error: {summary.info.error if summary else outcome[key].error}")
            continue
        for warning in outcome[key].warnings if key in outcome else []:
            click.echo(f"  warning: {warning}")
        _print_title(summary)
    _print_where(warehouse)


def _print_title(summary: TitleSummary) -> None:
    info, by_status = summary.info, dict(summary.tracks_by_status)
    kept = by_status.pop("kept", 0)
    dropped = ", ".join(f"{v} {k}" for k, v in sorted(by_status.items())) or "none"
    click.echo(f"  {info.duration_s or 0:.1f}s of video, {summary.shots} shots, {summary.faces} faces")
    click.echo(f"  tracks: {kept} kept, set aside: {dropped}")
    click.echo(f"  identities: {summary.identities}")
    click.echo("  wall time: " + "  ".join(f"{s} {t:.1f}s" for s, t in info.stage_seconds.items()))
    spent = sum(info.stage_seconds.values())
    if info.duration_s and spent:
        click.echo(f"  speed: {info.duration_s / spent:.2f}x real time (video seconds per wall second of the stages)")


def _print_where(warehouse: Warehouse) -> None:
    click.echo(f"\nresults: {warehouse.db_path} (DuckDB views over {warehouse.root})")
    click.echo('  e.g. vcn sql "SELECT * FROM identities"   (read-only; safe while runs write)')
    click.echo("  or: vcn export TITLE --format csv;  vcn ui  (Dagster UI with these runs)")


def _print_evaluation(evaluation: Evaluation) -> None:
    """The figures, one per line, then where each true identity's faces went."""
    for name, value in evaluation.as_dict().items():
        click.echo(f"{name:40} {value if not isinstance(value, float) else round(value, 4)}")
    columns = ("faces", "found", "clusters", "unclustered", "largest", "share", "purity")
    click.echo(f"\n{'identity':24}" + "".join(f"{c:>12}" for c in columns))
    for s in evaluation.identities:
        clustered = s.largest_cluster is not None
        largest = [s.largest_cluster, s.largest_share, s.largest_purity] if clustered else ["-"] * 3
        cells = [s.faces, s.found, s.clusters, s.unclustered, *largest]
        click.echo(f"{s.identity:24}" + "".join(f"{c:>12.2f}" if isinstance(c, float) else f"{c:>12}" for c in cells))


def main(argv: list[str] | None = None) -> None:
    """The `vcn` entry point: a failed operation is one line on stderr and exit status 1."""
    limit_malloc_arenas()  # before any thread allocates: see memory.py
    arrow_on_system_malloc()
    no_usage_reports()
    from vcn_dagster.operations import OperationError

    try:
        code = cli.main(args=argv, prog_name="vcn", standalone_mode=False)
    except click.ClickException as exc:  # a usage error: click's own message and exit status
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Abort:
        raise SystemExit(130) from None
    except OperationError as exc:
        command = next((a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("-")), "")
        raise SystemExit(f"vcn {command}: {exc}") from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
