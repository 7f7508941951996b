"""Season stage: the identities of a season's finished episodes linked into the season's persons."""

import dagster as dg

from vcn_assets.checks_common import report, season_check
from vcn_assets.identities import cut_metadata, face_clusters
from vcn_assets.partitions import seasons_partitions
from vcn_resources.casts import make_season_cast
from vcn_resources.warehouse import Warehouse
from videoclusternet.stages import SEASON_CAST


class SeasonCastConfig(dg.Config):
    # None: the clusterer the episodes were clustered with (all alike; else "auto"), so that `vcn cluster`'s
    # choice carries on to the season's persons.
    clusterer: str | None = None
    threshold: float | None = None


@dg.asset(
    partitions_def=seasons_partitions,
    # Every title's clusters feed the cast of the title's season; a sensor (`season_cast_sensor`) asks for the
    # season whose episode changed, so the mapping only draws the lineage.
    deps=[dg.AssetDep(face_clusters, partition_mapping=dg.AllPartitionMapping())],
    group_name="identities",
    code_version=SEASON_CAST.version,
    kinds={"python", "parquet"},
)
def season_cast(
    context: dg.AssetExecutionContext, config: SeasonCastConfig, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """The season's persons: its finished episodes' kept tracks clustered at once, by the clusterer of the
    episodes (people seen together stay apart), with ids that last over re-runs and new episodes;
    `season_persons`, `person_appearances`, `person_tracks`, and every id change in `person_id_changes`."""
    season = context.partition_key
    try:
        cast = make_season_cast(
            warehouse, season, config.clusterer, config.threshold, context.run.run_id, SEASON_CAST.version
        )
    except (ValueError, OSError) as exc:
        raise dg.Failure(f"season {season}: {exc}") from exc
    return dg.MaterializeResult(
        metadata={
            "episodes": len(cast.episodes),
            "episodes_left_out": ", ".join(cast.left_out) or "none",
            "persons": len(cast.person_ids),
            "recurring": len(cast.person_ids) - cast.guests,
            "guests": cast.guests,
            "id_changes": len(cast.changes),
            "clusterer": cast.clusterer,
            **cut_metadata(cast.cut),
        }
    )


@season_check(season_cast)
def every_kept_track_has_one_person(
    context: dg.AssetCheckExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.AssetCheckResult:
    """Every kept track of the season's linked episodes has exactly one person, and `season_persons` lists each
    person of `person_tracks` once."""
    season = context.partition_key
    tracks, persons = warehouse.rows("person_tracks", season), warehouse.rows("season_persons", season)
    problems = []
    keys = list(zip(tracks["title"].tolist(), tracks["track"].tolist()))
    if len(set(keys)) != len(keys):
        problems.append("tracks with more than one person")
    if sorted(set(tracks["person_id"].tolist())) != sorted(persons["person_id"].tolist()):
        problems.append("season_persons does not list the persons of person_tracks once each")
    to_fix = "link the season again (vcn run of one of its episodes); if it fails again, report it as a bug"
    return report(context, warehouse, problems, to_fix, persons=len(persons["person_id"]))
