"""Media stage: from a registered video to its frame manifest and shots."""

import os
import time

import dagster as dg

from assets.common import CODE_VERSION, progress_bar, title_asset, title_stage
from resources import MediaLibraryResource, WarehouseResource
from videoclusternet.pipeline import scan_frames
from videoclusternet.video import file_sha256


class FramesConfig(dg.Config):
    stride: int = 1  # detect faces on every `stride`-th frame; shots are always cut on every frame


@title_asset("media", {"video", "parquet"})
def frames(
    context: dg.AssetExecutionContext,
    config: FramesConfig,
    media: MediaLibraryResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Probe the title's video, cut it into shots, and store the frame manifest (frame, timestamp, shot)
    and the shots table. Decoded frames are not kept."""
    title = context.partition_key
    with title_stage(context, warehouse, "frames"):
        entry = media.lookup(title)
        path = entry["path"]
        sha256 = file_sha256(path)
        warehouse.update_title(
            title, context.run.run_id, CODE_VERSION, path=path, content_sha256=sha256, status="processing"
        )
        started = time.perf_counter()
        with progress_bar(None, f"{title} frames") as bar:
            scan = scan_frames(path, stride=config.stride, progress=bar.update)
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
            CODE_VERSION,
        )
        warehouse.write(
            "frames",
            title,
            {"frame": scan.frame_idx, "timestamp": scan.timestamps, "shot": scan.shot_idx},
            context.run.run_id,
            CODE_VERSION,
        )
        warehouse.update_title(
            title,
            context.run.run_id,
            CODE_VERSION,
            size_bytes=os.path.getsize(path),
            fps=info.fps,
            frame_count=info.frame_count,
            duration_s=info.duration_s,
            width=info.width,
            height=info.height,
        )
        seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata={
            "video": dg.MetadataValue.path(path),
            "content_sha256": sha256,
            "fps": info.fps,
            "frames": info.frame_count,
            "duration_s": round(info.duration_s, 2),
            "size": f"{info.width}x{info.height}",
            "shots": len(shots),
            "stride": config.stride,
            "seconds": round(seconds, 2),
            "video_s_per_wall_s": round(info.duration_s / max(seconds, 1e-9), 2),
        },
        data_version=dg.DataVersion(sha256[:16]),
    )
