"""How far the clustering table moves with which faces of each track are embedded, and what the mirror adds.

`face_embeddings` embeds a quality-chosen sample of at most 12 faces per kept track, upright (the mirror image
as well with its `mirror` setting). For each clip folder with a faces.csv (default: every one in
../shared/data/clips), this runs `vcn run` in a fresh home (or reuses one kept by this script or by
bench_clusterers.py), embeds every face of every kept track once upright and once mirrored, then clusters the
same tracks from samples of 3, 6, 12, 24 and all faces per track (`choose_faces`, the pipeline's rule) and from
`--draws` random samples of 12 per track, with every clusterer at its defaults, on the upright embeddings and on
upright plus mirror. It prints face-level BCubed F per quality-chosen sample size, the mean and range over the
sizes from 6 up, and the mean and lowest over the random draws: two settings whose figures differ by less than
that cannot be told apart on that clip. Scores come from `videoclusternet.metrics`, the referee's figures.

    python bench/bench_sampling.py [CLIP_DIR ...] [--keep-home DIR] [--reuse] [--draws 6] [--clusterer NAME]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench_pipeline import clip_home, clips_from_command_line, run_clip, title_of

from vcn_resources.results import detection_boxes, load_title_faces, stored_track_contexts
from vcn_resources.warehouse import Warehouse
from videoclusternet.clustering import CLUSTERERS, make_clusterer
from videoclusternet.embedding import choose_faces, mirrored
from videoclusternet.metrics import PredictionRows, evaluate, read_truth_csv
from videoclusternet.models import load_embedder
from videoclusternet.pipeline import cluster_tracks, decoded_in_chunks, face_quality_score
from videoclusternet.quality import KEPT

SAMPLES = (3, 6, 12, 24, None)  # faces per track; None: all of them
SPREAD_FROM = 6  # fewer faces than this is not a setting anyone would run
DRAWN = 12  # faces per track in a random draw, as many as the pipeline embeds


def embed_all_kept(warehouse: Warehouse, title: str, cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every face of every kept track, its upright embedding and its mirror image's, as `face_embeddings`
    computes them."""
    faces = load_title_faces(warehouse, title)
    track_of = warehouse.rows("face_track_members", title)["track"]
    tracks = warehouse.rows("tracks", title)
    chosen = np.flatnonzero(np.isin(track_of, tracks["track"][tracks["status"] == KEPT]))
    embedder = load_embedder(cache_dir=cache)
    upright = np.zeros((len(chosen), embedder.dim), np.float32)
    mirror = np.zeros_like(upright)
    for start, part, crops in decoded_in_chunks(faces.crops_jpeg, chosen):
        upright[start : start + len(part)] = embedder.embed(crops)
        mirror[start : start + len(part)] = embedder.embed(mirrored(crops))
    return chosen, upright, mirror


def print_clip(clip: Path, warehouse: Warehouse, cache: Path, draws: int, clusterers: list[str]) -> None:
    """The clip's rows: per clusterer, upright and with the mirror."""
    title = title_of(clip)
    faces, upright, mirror = embed_all_kept(warehouse, title, cache)
    detections = warehouse.rows("face_detections", title)
    track_of = warehouse.rows("face_track_members", title)["track"]
    tracks = warehouse.rows("tracks", title)
    kept = tracks["track"][tracks["status"] == KEPT]
    clothes = stored_track_contexts(warehouse, title, kept)
    truth = read_truth_csv(clip / "faces.csv")
    boxes = detection_boxes(detections)
    in_kept = np.where(np.isin(track_of, kept), track_of, -1)
    quality = face_quality_score(detections["score"], detections["sharpness"])
    chosen = [choose_faces(in_kept, detections["frame"], quality, n or len(track_of)) for n in SAMPLES]
    rng = np.random.default_rng(0)
    drawn = [choose_faces(in_kept, detections["frame"], rng.random(len(track_of)), DRAWN) for _ in range(draws)]

    def face_f(name: str, raw: np.ndarray, sample: np.ndarray) -> float:
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
            seconds=detections["timestamp"],
        )
        cluster_of = dict(zip(found.tracks.tolist(), found.labels.tolist()))
        pred = PredictionRows(
            frame_idx=detections["frame"],
            boxes=boxes,
            cluster_id=[cluster_of.get(int(t)) for t in track_of],
            track_id=list(track_of),
        )
        return evaluate(truth, pred).as_dict()["face_bcubed_f"]

    for name in clusterers:
        for label, raw in (("upright", upright), ("+ mirror", upright + mirror)):
            scores = [face_f(name, raw, sample) for sample in chosen]
            random = [face_f(name, raw, sample) for sample in drawn]
            spread = [s for n, s in zip(SAMPLES, scores) if n is None or n >= SPREAD_FROM]
            cells = " ".join(f"{s:6.3f}" for s in scores)
            print(
                f"{clip.name:10} {name:16} {label:14} | {'':31}{cells} | {np.mean(spread):.3f}, "
                f"{min(spread):.3f}-{max(spread):.3f} | {np.mean(random):.3f} ({min(random):.3f})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", action="store_true", help="reuse homes under --keep-home instead of running")
    parser.add_argument("--draws", type=int, default=6, help=f"random samples of {DRAWN} faces per track")
    parser.add_argument("--clusterer", choices=CLUSTERERS, action="append", help="(repeatable) default: all")
    clips, args, cache = clips_from_command_line(parser)
    sizes = " ".join(f"{'all' if n is None else n:>6}" for n in SAMPLES)
    print(
        f"{'clip':10} {'clusterer':16} {'faces':14} | BCubed F with faces per track: {sizes} | "
        f"mean, range over {SPREAD_FROM}+ | {args.draws} random draws of {DRAWN}: mean (lowest)"
    )
    for clip in clips:
        with clip_home(clip, args.keep_home) as home:
            if not args.reuse:
                run_clip(clip, home, 1, cache)
            print_clip(clip, Warehouse(home), cache, args.draws, args.clusterer or list(CLUSTERERS))


if __name__ == "__main__":
    main()
