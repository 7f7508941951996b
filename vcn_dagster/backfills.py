"""Season backfills: one Dagster backfill over every registered title of a season (`show.s01`), each title
with its own stages (adaptation's too, for a title registered adapted).

With a Dagster webserver reachable the backfill is launched there (GraphQL `launchPartitionBackfill`)
and its daemon runs it. Without one it is recorded in the instance and run here, one title after the
other, each run tagged with the backfill id, so the UI shows the same backfill either way.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.utils import make_new_backfill_id

from resources import MediaLibraryResource
from vcn_dagster.jobs import pipeline_job_for, stage_keys
from vcn_dagster.partitions import titles_partitions
from vcn_dagster.titles import season_of

SEASON_TAG = "vcn/season"
BACKFILL_TAG = "dagster/backfill"  # Dagster's own tag: the UI lists a backfill's runs by it
_SEASON = re.compile(r"^[a-z0-9][a-z0-9_]*\.s\d{2,}$")
_LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""


@dataclass
class SeasonBackfill:
    """What was launched: the backfill, where, and (when run here) each title's outcome."""

    backfill_id: str
    season: str
    titles: list[str]
    where: str
    outcome: dict[str, bool] = field(default_factory=dict)


def season_titles(instance: dg.DagsterInstance, season: str) -> list[str]:
    """The registered title partitions of `season`; a clear error when the season is malformed or empty."""
    if not _SEASON.match(season):
        raise ValueError(f"season {season!r}: expected SERIES.sNN, e.g. show.s01")
    keys = instance.get_dynamic_partitions(titles_partitions.name)
    titles = sorted(k for k in keys if season_of(k) == season)
    if not titles:
        known = sorted({s for k in keys if (s := season_of(k))})
        raise ValueError(f"no registered title of season {season!r}; known seasons: {', '.join(known) or 'none'}")
    return titles


def _graphql(url: str, query: str, variables: dict | None = None, timeout: float = 10.0) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/graphql", body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def webserver_reachable(url: str) -> bool:
    """True when a Dagster webserver answers GraphQL at `url`."""
    try:
        return "version" in (_graphql(url, "{ version }", timeout=2.0).get("data") or {})
    except (OSError, ValueError):  # refused, timed out, HTTP errors (URLError is an OSError), not JSON
        return False


def launch_on_webserver(url: str, season: str, adapts: dict[str, bool]) -> list[SeasonBackfill]:
    """Asset backfills over the titles, launched on the webserver; its daemon runs them. One per kind of
    title: the titles registered adapted get their own, with adaptation's stages too (one backfill with
    per-asset partitions would do, but Dagster's GraphQL cannot resolve those for dynamic partitions).
    `face_clusters`, told nothing, clusters each title as it is registered."""
    launched = []
    for adapt in (False, True):
        titles = [title for title, adapted in adapts.items() if adapted == adapt]
        if titles:
            launched.append(_launch_one(url, season, titles, adapt))
    return launched


def _launch_one(url: str, season: str, titles: list[str], adapt: bool) -> SeasonBackfill:
    params = {
        "partitionNames": titles,
        "assetSelection": [{"path": key.path} for key in stage_keys(adapt)],
        "tags": [{"key": SEASON_TAG, "value": season}, {"key": "vcn/launched_by", "value": "vcn backfill-season"}],
        "title": f"season {season}{' (adapted titles)' if adapt else ''}",
    }
    reply = _graphql(url, _LAUNCH, {"params": params})
    if reply.get("errors"):
        raise RuntimeError(f"{url}: {reply['errors'][0].get('message')}")
    result = reply["data"]["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"{url}: {result['__typename']}: {result.get('message')}")
    return SeasonBackfill(result["backfillId"], season, titles, where=url)


def run_in_process(instance: dg.DagsterInstance, home: Path, season: str, adapts: dict[str, bool]) -> SeasonBackfill:
    """Record an asset backfill over the titles' stages in the instance, then run each title's pipeline job
    here: `adapted_title_pipeline` for a title registered adapted, else `title_pipeline`."""
    from vcn_dagster.definitions import all_assets, all_checks, build_resources

    # With this home's resources, whatever home the module-level `defs` was built for.
    jobs = [pipeline_job_for(adapt) for adapt in (False, True)]
    defs = dg.Definitions(assets=all_assets, asset_checks=all_checks, jobs=jobs, resources=build_resources(home))
    asset_graph = defs.resolve_asset_graph()
    tags = {SEASON_TAG: season, "vcn/launched_by": "vcn backfill-season"}
    targets = {AssetKeyPartitionKey(key, title) for title, adapt in adapts.items() for key in stage_keys(adapt)}
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=make_new_backfill_id(),
        backfill_timestamp=time.time(),
        tags=tags,
        dynamic_partitions_store=instance,
        asset_graph_subset=AssetGraphSubset.from_asset_partition_set(targets, asset_graph),
        title=f"season {season}",
        description="vcn backfill-season, run in process",
        run_config=None,
    )
    data = backfill.asset_backfill_data
    # Everything counts as requested from the start, so a daemon that sees this backfill only watches it.
    data = data.replace_requested_subset(data.target_subset).with_requested_runs_for_target_roots(True)
    instance.add_backfill(backfill.with_asset_backfill_data(data, instance, asset_graph))

    done, failed = set(), set()
    outcome = {}
    for title, adapt in adapts.items():
        job = defs.resolve_job_def(pipeline_job_for(adapt).name)
        result = job.execute_in_process(
            partition_key=title,
            instance=instance,
            tags={**tags, BACKFILL_TAG: backfill.backfill_id},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
        outcome[title] = result.success
        made = {e.asset_key for e in result.get_asset_materialization_events()}
        done |= {AssetKeyPartitionKey(key, title) for key in made}
        failed |= {AssetKeyPartitionKey(key, title) for key in stage_keys(adapt) if key not in made}
    data = data._replace(
        materialized_subset=AssetGraphSubset.from_asset_partition_set(done, asset_graph),
        failed_and_downstream_subset=AssetGraphSubset.from_asset_partition_set(failed, asset_graph),
    )
    status = BulkActionStatus.COMPLETED_SUCCESS if all(outcome.values()) else BulkActionStatus.COMPLETED_FAILED
    finished = (instance.get_backfill(backfill.backfill_id) or backfill).with_asset_backfill_data(
        data, instance, asset_graph
    )
    instance.update_backfill(finished.with_status(status).with_end_timestamp(time.time()))
    return SeasonBackfill(backfill.backfill_id, season, list(adapts), where="in process", outcome=outcome)


def launch_season_backfill(
    instance: dg.DagsterInstance, home: Path, season: str, url: str, in_process: bool = False
) -> list[SeasonBackfill]:
    """Launch a backfill over the season's titles: on the webserver at `url` when it answers (and
    `in_process` is off; two there when some titles are registered adapted and some not), else in this process."""
    media = MediaLibraryResource(home=str(home))
    adapts = {title: media.adapts(title) for title in season_titles(instance, season)}
    if not in_process and webserver_reachable(url):
        return launch_on_webserver(url, season, adapts)
    return [run_in_process(instance, home, season, adapts)]
