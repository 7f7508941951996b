"""Media stage: from a registered video to its frame manifest and shots."""

import os
import time

import dagster as dg

from vcn_assets.checks_common import count_problems, materialization_metadata, report, shot_problems, title_check
from vcn_assets.common import StageProgress, content_version, stage_version, title_asset, title_stage
from vcn_resources.media import MediaLibrary
from vcn_resources.warehouse import TITLE_RESULT_FIELDS, Warehouse
from videoclusternet.pipeline import scan_frames
from videoclusternet.video import VideoError, check_decodable, file_sha256


class FramesConfig(dg.Config):
    # Detect faces on every `stride`-th frame (shots are always cut on every frame). None: the title's own
    # stride, the one `vcn run --stride` registered (1 unless set).
    stride: int | None = None


def _point_title_at(
    warehouse: Warehouse, context: dg.AssetExecutionContext, title: str, path: str, sha256: str | None
) -> None:
    """Record the title's video and its content hash (None: it does not decode). Another content under this
    key, or a file that does not decode: the old results do not describe what the title now points at, so none
    stay visible."""
    cleared = {}
    if sha256 is None or warehouse.content_sha256(title) != sha256:
        warehouse.retract_title(title)
        cleared = dict.fromkeys(TITLE_RESULT_FIELDS)
    warehouse.update_title(
        title,
        context.run.run_id,
        stage_version(context),
        path=path,
        content_sha256=sha256,
        status="processing",
        **cleared,
    )


@title_asset("media", {"video", "parquet"})
def frames(
    context: dg.AssetExecutionContext,
    config: FramesConfig,
    media: dg.ResourceParam[MediaLibrary],
    warehouse: dg.ResourceParam[Warehouse],
) -> dg.MaterializeResult:
    """Probe the title's video, cut it into shots, and store the frame manifest (frame, timestamp, shot)
    and the shots table. Decoded frames are not kept."""
    title = context.partition_key
    if config.stride is not None and config.stride < 1:  # a wrong setting, not a bad title: leave the title be
        raise dg.Failure(f"stride {config.stride}: must be at least 1 (every frame)")
    with title_stage(context, warehouse, "frames"):
        entry = media.lookup(title)
        path = entry.path
        stride = entry.stride if config.stride is None else config.stride
        try:
            check_decodable(path)  # a file that is no video fails here, not after its whole length is hashed
        except VideoError:
            _point_title_at(warehouse, context, title, path, None)
            raise
        sha256 = file_sha256(path)
        _point_title_at(warehouse, context, title, path, sha256)
        started = time.perf_counter()
        with StageProgress(context, None, "frames", "frame") as progress:
            scan = scan_frames(path, stride=stride, progress=progress.update)
        info = scan.info
        shots = scan.shots
        warehouse.write(
            "shots",
            title,
            {
                "shot": [s.shot_id for s in shots],
                "start_frame": [s.start_frame for s in shots],
                "end_frame": [s.end_frame for s in shots],
                "start_s": [s.start_s for s in shots],
                "end_s": [s.end_s for s in shots],
            },
            context.run.run_id,
            stage_version(context),
        )
        warehouse.write(
            "frames",
            title,
            {"frame": scan.frame_idx, "timestamp": scan.timestamps, "shot": scan.shot_idx},
            context.run.run_id,
            stage_version(context),
        )
        warehouse.update_title(
            title,
            context.run.run_id,
            stage_version(context),
            size_bytes=os.path.getsize(path),
            fps=info.fps,
            frame_count=scan.decoded_frames,
            stride=stride,
            duration_s=scan.decoded_frames / info.fps,
            width=info.width,
            height=info.height,
        )
        seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata={
            "video": dg.MetadataValue.path(path),
            "content_sha256": sha256,
            "fps": info.fps,
            "frames": scan.decoded_frames,
            "frames_in_header": info.frame_count,
            "duration_s": round(scan.decoded_frames / info.fps, 2),
            "size": f"{info.width}x{info.height}",
            "shots": len(shots),
            "stride": stride,
            "seconds": round(seconds, 2),
            "video_s_per_wall_s": round(scan.decoded_frames / info.fps / max(seconds, 1e-9), 2),
        },
        data_version=content_version(warehouse.read_title("shots", title), warehouse.read_title("frames", title)),
    )


@title_check(frames)
def frames_decoded_and_cut(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """Frames were decoded and cut into shots: shots tile the video from its first frame to its last, every
    manifest frame lies in its shot, and the tables hold the shots and frames the materialisation reported."""
    title = context.partition_key
    manifest, shots = warehouse.rows("frames", title), warehouse.rows("shots", title)
    problems = shot_problems(manifest, shots)
    video_frames = int(shots["end_frame"].max()) + 1 if len(shots["shot"]) else 0
    problems += count_problems(materialization_metadata(context), {"shots": len(shots["shot"]), "frames": video_frames})
    to_fix = "re-encode the video (ffmpeg -i VIDEO -c:v libx264 OUT.mp4) and run that file"
    return report(context, warehouse, problems, to_fix, frames=len(manifest["frame"]), shots=len(shots["shot"]))


@title_check(frames, blocking=False)
def frames_match_the_container(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """The frames decoded are the frames the container's header counts: fewer is a file cut short (a download
    stopped at 95%) or a header that over-counts; either way the title is shorter than the file says. (Decoding
    that stops before 90% of them fails the title instead.)"""
    metadata = materialization_metadata(context)
    decoded, listed = metadata.get("frames"), metadata.get("frames_in_header")
    problems = []
    if decoded is not None and listed and decoded != listed:
        problems.append(
            f"{decoded} frames decoded where the file's header says {listed}: it may be cut short (a download that "
            "stopped early) or its header over-counts; the title runs on the frames decoded"
        )
    to_fix = "fetch the file again if it was cut short, or re-encode it (ffmpeg -i VIDEO -c:v libx264 OUT.mp4)"
    return report(context, warehouse, problems, to_fix, decoded=decoded or 0, in_header=listed or 0)
