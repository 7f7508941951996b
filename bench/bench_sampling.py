"""How far the clustering table moves with which faces of each track are embedded: its noise floor.

`face_embeddings` embeds a quality-chosen sample of at most 12 faces per kept track. For each clip
folder with a faces.csv (default: every one in ../shared/data/clips), this runs `vcn run` in a fresh
home (or reuses one kept by this script or by bench_clusterers.py), embeds every face of every kept
track once (upright plus mirror image, as the pipeline does), then clusters the same tracks from
samples of 3, 6, 12, 24 and all faces per track (`choose_faces`, the pipeline's rule) with every
clusterer at its defaults. It prints face-level BCubed F per sample size, and the mean and range over
the sizes from 6 up: two clusterers whose figures differ by less than that range cannot be told apart
on that clip. Scores come from `videoclusternet.metrics`, which gives the referee's figures.

    python bench/bench_sampling.py [CLIP_DIR ...] [--keep-home DIR] [--reuse]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench_pipeline import clip_home, clips_from_command_line, run_clip, title_of

from vcn_resources.results import detection_boxes, load_title_faces, stored_track_contexts
from vcn_resources.warehouse import Warehouse
from videoclusternet.clustering import CLUSTERERS, make_clusterer
from videoclusternet.embedding import choose_faces, with_mirror
from videoclusternet.metrics import PredictionRows, evaluate, read_truth_csv
from videoclusternet.models import load_embedder
from videoclusternet.pipeline import cluster_tracks, decoded_in_chunks, face_quality_score
from videoclusternet.quality import KEPT

SAMPLES = (3, 6, 12, 24, None)  # faces per track; None: all of them
SPREAD_FROM = 6  # fewer faces than this is not a setting anyone would run


def embed_all_kept(warehouse: Warehouse, title: str, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every face of every kept track, and its embedding as `face_embeddings` computes one."""
    faces = load_title_faces(warehouse, title)
    track_of = warehouse.rows("face_track_members", title)["track"]
    tracks = warehouse.rows("tracks", title)
    chosen = np.flatnonzero(np.isin(track_of, tracks["track"][tracks["status"] == KEPT]))
    embedder = load_embedder(cache_dir=cache)
    raw = np.zeros((len(chosen), embedder.dim), np.float32)
    for start, part, crops in decoded_in_chunks(faces.crops_jpeg, chosen):
        raw[start : start + len(part)] = with_mirror(embedder, crops)
    return chosen, raw


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", action="store_true", help="reuse homes under --keep-home instead of running")
    clips, args, cache = clips_from_command_line(parser)
    sizes = " ".join(f"{'all' if n is None else n:>6}" for n in SAMPLES)
    print(f"{'clip':10} {'clusterer':16} | BCubed F with faces per track: {sizes} | mean, range over {SPREAD_FROM}+")
    for clip in clips:
        with clip_home(clip, args.keep_home) as home:
            title = title_of(clip)
            if not args.reuse:
                run_clip(clip, home, 1, cache)
            warehouse = Warehouse(home)
            faces, raw = embed_all_kept(warehouse, title, cache)
            detections = warehouse.rows("face_detections", title)
            track_of = warehouse.rows("face_track_members", title)["track"]
            tracks = warehouse.rows("tracks", title)
            kept = tracks["track"][tracks["status"] == KEPT]
            clothes = stored_track_contexts(warehouse, title, kept)
            quality = face_quality_score(detections["score"], detections["sharpness"])
            truth = read_truth_csv(clip / "faces.csv")
            boxes = detection_boxes(detections)
            for name in CLUSTERERS:
                scores = []
                for per_track in SAMPLES:
                    sample = choose_faces(
                        np.where(np.isin(track_of, kept), track_of, -1),
                        detections["frame"],
                        quality,
                        per_track or len(track_of),
                    )
                    rows = np.searchsorted(faces, sample)  # `faces` is sorted and holds every sampled face
                    found = cluster_tracks(
                        kept,
                        track_of[sample],
                        raw[rows],
                        detections["frame"],
                        track_of,
                        make_clusterer(name),
                        context=clothes,
                        boxes=boxes,
                    )
                    cluster_of = dict(zip(found.tracks.tolist(), found.labels.tolist()))
                    pred = PredictionRows(
                        frame_idx=detections["frame"],
                        boxes=boxes,
                        cluster_id=[cluster_of.get(int(t)) for t in track_of],
                        track_id=list(track_of),
                    )
                    scores.append(evaluate(truth, pred).as_dict()["face_bcubed_f"])
                spread = [s for n, s in zip(SAMPLES, scores) if n is None or n >= SPREAD_FROM]
                cells = " ".join(f"{s:6.3f}" for s in scores)
                print(
                    f"{clip.name:10} {name:16} | {'':31}{cells} | {np.mean(spread):.3f}, "
                    f"{min(spread):.3f}-{max(spread):.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
