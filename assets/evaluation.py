"""Evaluation as part of the product: a title's clusters scored against ground truth, kept in `evaluations`
(the figures) and `evaluation_identities` (where each true identity's faces went).

`vcn evaluate TITLE --truth GT.csv` and the `face_clusters_match_truth` check share this code. The
check runs when a truth file sits next to the title's video: `<video stem>.faces.csv`, or `faces.csv`
in a folder that holds one video (the layout of our evaluation clips).
"""

from pathlib import Path

import dagster as dg

from vcn_assets.checks_common import report, title_check
from vcn_assets.identities import face_clusters
from vcn_resources.evaluation import evaluate_title, truth_file_for
from vcn_resources.media import MediaLibrary
from vcn_resources.warehouse import Warehouse

# The product's quality targets on footage with ground truth; below them the check warns.
TARGETS = {"face_bcubed_f": 0.95, "face_wcp": 0.97, "detection_recall": 0.9}
CLUSTER_RATIO = (0.9, 1.3)


def shortfalls(figures: dict) -> list[str]:
    """The product targets a title's figures miss."""
    missed = [f"{k} {figures[k]:.3f} < {target}" for k, target in TARGETS.items() if figures[k] < target]
    low, high = CLUSTER_RATIO
    if not low <= figures["face_cluster_ratio"] <= high:
        missed.append(f"face_cluster_ratio {figures['face_cluster_ratio']:.2f} outside {low}..{high}")
    return missed


@title_check(face_clusters, blocking=False)
def face_clusters_match_truth(
    context: dg.AssetCheckExecutionContext,
    media: dg.ResourceParam[MediaLibrary],
    warehouse: dg.ResourceParam[Warehouse],
) -> dg.AssetCheckResult:
    """When ground truth sits next to the video: the clusters meet the product's targets (BCubed F, WCP,
    detection recall, predicted/true clusters); the figures are stored in `evaluations` either way."""
    title = context.partition_key
    truth = truth_file_for(Path(media.lookup(title).path))
    if truth is None:
        return dg.AssetCheckResult(passed=True, metadata={"truth": "none next to the video"})
    try:
        evaluation = evaluate_title(warehouse, title, truth, context.run.run_id)
    except ValueError as exc:  # an unreadable truth file: say which and why, store nothing
        return report(context, warehouse, [str(exc)], "fix or remove the truth file", truth=str(truth))
    figures = evaluation.as_dict()
    shown = {k: round(figures[k], 4) for k in [*TARGETS, "face_cluster_ratio", "face_nmi"]}
    split = max(evaluation.identities, key=lambda s: s.clusters + s.unclustered, default=None)
    if split is not None:
        shown["most_split_identity"] = f"{split.identity}: {split.clusters} clusters, {split.unclustered} unclustered"
    to_fix = f"correct the cast in a browser (vcn review {title}), or try another clusterer (vcn cluster {title})"
    return report(context, warehouse, shortfalls(figures), to_fix, truth=str(truth), **shown)
