"""Sensors. The media drop sensor: a video that lands in the drop folder becomes a title partition and a
pipeline run (adapted, for a title registered so with `vcn run --adapt`). The season cast sensor: an
episode clustered anew has its season's cast linked again. The interrupted runs sensor: a run whose process
died (killed, out of memory) is failed and its pool slot freed (`recovery.py`).

A file is taken once its size and change time have not moved for the settle interval, so a copy
still in progress is never read. Its title key comes from its name (`videoclusternet.titles`); its
content hash decides whether anything runs: the media registry keeps the hash of the file each title
was last launched with, so an identical file dropped again does nothing and a replaced one re-runs.
The cursor holds only the files still settling and a time mark, never the history.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from vcn_assets.partitions import seasons_partitions, titles_partitions
from vcn_dagster.jobs import adapted_title_pipeline_job, pipeline_job_name, season_cast_job, title_pipeline_job
from vcn_dagster.recovery import recover_interrupted_runs
from vcn_resources.drops import DropFolderResource, DroppedFile
from vcn_resources.media import MediaEntry, MediaLibrary
from vcn_resources.warehouse import Warehouse
from videoclusternet.titles import MAX_KEY_LENGTH, cast_season, title_key_from_filename, validate_title_key
from videoclusternet.video import VIDEO_EXTENSIONS, VideoError

# A file name with any of these is not trusted as a key, even after slugging: say what it became.
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f,/\\]|\.\.")
# File systems with coarse timestamps (FAT, some network shares) round a change time down by up to 2 s.
_CLOCK_SLACK_S = 2.0


@dataclass
class DropCursor:
    """`pending`: name -> (size, change time, when first seen so); `seen_until`: a file changed before this
    time and not pending was settled and handled by an earlier tick."""

    pending: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    seen_until: float = 0.0

    @classmethod
    def load(cls, raw: str | None) -> DropCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls({name: tuple(v) for name, v in data["pending"].items()}, data["seen_until"])

    def dump(self) -> str:
        return json.dumps({"pending": self.pending, "seen_until": self.seen_until}, separators=(",", ":"))


def settled_files(
    files: list[DroppedFile], cursor: DropCursor, now: float, settle_seconds: float
) -> tuple[list[DroppedFile], DropCursor]:
    """The files whose size and change time have held for `settle_seconds`, oldest first, and the next
    cursor (settled files stay pending until the caller has handled them). `now` is taken before listing."""
    pending: dict[str, tuple[int, float, float]] = {}
    settled = []
    for file in files:
        seen = cursor.pending.get(file.name)
        if seen is None and file.mtime < cursor.seen_until:
            continue
        if seen is not None and (seen[0], seen[1]) == (file.size, file.mtime):
            pending[file.name] = seen
            if now - seen[2] >= settle_seconds:
                settled.append(file)
        else:
            pending[file.name] = (file.size, file.mtime, now)
    settled.sort(key=lambda f: (f.mtime, f.name))
    # A file handled this tick changed at least `settle_seconds` before `now`: it stays behind the mark.
    return settled, DropCursor(pending, now - min(_CLOCK_SLACK_S, settle_seconds))


def drop_title_key(name: str, log: logging.Logger) -> str | None:
    """The title key of a dropped file, or None (with a warning) when its name gives no usable key.
    Path separators, '..', control characters and commas never reach a key: the slug rule rewrites them,
    and the warning says so."""
    try:
        key = validate_title_key(title_key_from_filename(name))
    except ValueError:
        log.warning(f"drop {name!r} skipped: no title key can be made from its name; rename the file")
        return None
    stem = Path(name).stem
    if _UNSAFE_NAME.search(stem) or len(stem) > MAX_KEY_LENGTH:
        log.warning(f"drop {name!r}: unsafe file name, title key rewritten to {key!r}")
    return key


@dg.sensor(
    jobs=[title_pipeline_job, adapted_title_pipeline_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers settled videos from the drop folder as title partitions and runs the pipeline on them.",
)
def media_drop_sensor(
    context: dg.SensorEvaluationContext, drops: DropFolderResource, media: dg.ResourceParam[MediaLibrary]
) -> dg.SensorResult:
    """One tick: list the drop folder, take up to `max_per_tick` settled videos, and for each new or
    changed one register the media, add the partition and request a run of the title's pipeline
    (`adapted_title_pipeline` for a title registered adapted, else `title_pipeline`)."""
    listing = drops.listing()
    now = time.time()
    videos = [
        f for f in listing.list() if Path(f.name).suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith(".")
    ]
    settled, cursor = settled_files(videos, DropCursor.load(context.cursor), now, drops.settle_seconds)
    by_key: dict[str, list[DroppedFile]] = {}
    for file in settled:
        key = drop_title_key(file.name, context.log)
        if key is None:
            del cursor.pending[file.name]
        else:
            by_key.setdefault(key, []).append(file)

    requests: list[dg.RunRequest] = []
    for hashed, (key, files) in enumerate(by_key.items()):
        if hashed == drops.max_per_tick:
            break  # the rest stay pending, settled, for the next tick
        entry: MediaEntry | None = media.find(key)
        # Two files with one key: keep the one the title already stands for, else the newest.
        file = next((f for f in files if entry and f.path == entry.path), max(files, key=lambda f: f.mtime))
        for other in files:
            del cursor.pending[other.name]
            if other is not file:
                context.log.warning(f"drop {other.name!r} skipped: {file.name!r} has the same title key {key!r}")
        try:
            sha256 = listing.sha256(file)
        except (OSError, VideoError) as exc:
            context.log.warning(f"drop {file.name!r} skipped: cannot read it ({exc})")
            continue
        if entry and entry.sha256 == sha256:
            context.log.info(f"drop {file.name!r}: same content as title {key!r} already has; nothing to run")
            continue
        registered = media.register(key, Path(file.path), sha256)
        context.log.info(f"drop {file.name!r}: title {key!r} {'replaced' if entry else 'registered'}, run requested")
        requests.append(
            dg.RunRequest(
                # The change time too, so a title switched back to an earlier file still runs again.
                run_key=f"{key}:{sha256}:{file.mtime:.0f}",
                job_name=pipeline_job_name(registered.adapt),
                partition_key=key,
                tags={"vcn/content_sha256": sha256, "vcn/source": file.path, "vcn/launched_by": "media_drop_sensor"},
            )
        )
    known = context.instance.has_dynamic_partition
    new_keys = [r.partition_key for r in requests if not known(titles_partitions.name, r.partition_key)]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[titles_partitions.build_add_request(new_keys)] if new_keys else [],
        cursor=cursor.dump(),
    )


@dg.sensor(
    jobs=[season_cast_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-links a season's cast whenever one of its episodes has new clusters.",
)
def season_cast_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """One tick: the `face_clusters` materialisations since the cursor (a storage id), and for each season
    they belong to whose cast is older than them, a run of `season_cast`."""
    after = int(context.cursor or 0)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("face_clusters"), after_storage_id=after), limit=1000
    ).records
    if not records:
        return dg.SkipReason("no episode clustered since the last tick")
    newest: dict[str, int] = {}
    for record in records:
        season = cast_season(record.partition_key)
        newest[season] = max(newest.get(season, 0), record.storage_id)
    requests = []
    for season, storage_id in sorted(newest.items()):
        cast = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("season_cast"), asset_partitions=[season]), limit=1
        ).records
        if cast and cast[0].storage_id > storage_id:
            continue  # linked since (`vcn run` links its seasons itself)
        requests.append(dg.RunRequest(run_key=f"{season}:{storage_id}", partition_key=season))
    known = context.instance.has_dynamic_partition
    new_seasons = [r.partition_key for r in requests if not known(seasons_partitions.name, r.partition_key)]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[seasons_partitions.build_add_request(new_seasons)] if new_seasons else [],
        cursor=str(max(r.storage_id for r in records)),
    )


@dg.sensor(
    minimum_interval_seconds=int(os.environ.get("VCN_RECOVERY_INTERVAL_S", "60")),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails the runs whose process has died (killed, out of memory) and frees their pool slots.",
)
def interrupted_runs_sensor(
    context: dg.SensorEvaluationContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.SkipReason:
    """One tick: every unfinished run whose run worker (or `vcn` process) is gone is failed, its pool slots are
    freed and its title marked failed as interrupted; nothing else would ever end it, and a gpu slot it holds
    would keep every later run of the home waiting."""
    failed = recover_interrupted_runs(context.instance, warehouse)
    if failed:
        context.log.warning(f"failed {len(failed)} runs whose process had died: {', '.join(failed)}")
    return dg.SkipReason(f"{len(failed)} interrupted runs failed" if failed else "no run's process has died")
