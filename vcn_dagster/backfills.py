"""Season backfills: one Dagster backfill over every registered title of a season (`show.s01`), each title
with its own stages (adaptation's too, for a title registered adapted).

With a Dagster webserver reachable the backfill is launched there (GraphQL `launchPartitionBackfill`)
and its daemon runs it; the season cast sensor links the season as its episodes finish. Without one the titles
run here, then the season's cast, one after the other, each run tagged with the
season and one backfill id (`vcn/backfill`), so Runs filtered by that tag show them together. Only public
Dagster APIs: GraphQL, run tags, `execute_in_process`.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from vcn_assets.partitions import seasons_partitions, titles_partitions
from vcn_dagster.jobs import (
    adapted_title_pipeline_job,
    pipeline_job_name,
    season_cast_job,
    stage_keys,
    title_pipeline_job,
)
from vcn_resources.media import MediaLibrary
from videoclusternet.titles import season_of, validate_season_key

SEASON_TAG = "vcn/season"
BACKFILL_TAG = "vcn/backfill"  # one id over the runs of a season backfill run in process
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
    cast_linked: bool | None = None  # run here: whether the season's cast was linked afterwards


def season_titles(instance: dg.DagsterInstance, season: str) -> list[str]:
    """The registered title partitions of `season`; a clear error when the season is malformed or empty."""
    validate_season_key(season)
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
    """Run each title's pipeline job here, one after the other: `adapted_title_pipeline` for a title registered
    adapted, else `title_pipeline`; every run tagged with the season and this backfill's id."""
    from vcn_dagster.definitions import all_assets, all_checks, build_resources

    # With this home's resources, whatever home the module-level `defs` was built for.
    jobs = [title_pipeline_job, adapted_title_pipeline_job, season_cast_job]
    defs = dg.Definitions(assets=all_assets, asset_checks=all_checks, jobs=jobs, resources=build_resources(home))
    backfill_id = f"season-{uuid.uuid4().hex[:8]}"
    tags = {SEASON_TAG: season, BACKFILL_TAG: backfill_id, "vcn/launched_by": "vcn backfill-season"}
    outcome = {}
    for title, adapt in adapts.items():
        result = defs.resolve_job_def(pipeline_job_name(adapt)).execute_in_process(
            partition_key=title,
            instance=instance,
            tags=tags,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
        outcome[title] = result.success
    # The last step: the season's cast, from the episodes that finished.
    if not instance.has_dynamic_partition(seasons_partitions.name, season):
        instance.add_dynamic_partitions(seasons_partitions.name, [season])
    linked = defs.resolve_job_def(season_cast_job.name).execute_in_process(
        partition_key=season, instance=instance, tags=tags, raise_on_error=False
    )
    return SeasonBackfill(backfill_id, season, list(adapts), "in process", outcome, linked.success)


def launch_season_backfill(
    instance: dg.DagsterInstance, home: Path, season: str, url: str, in_process: bool = False
) -> list[SeasonBackfill]:
    """Launch a backfill over the season's titles: on the webserver at `url` when it answers (and
    `in_process` is off; two there when some titles are registered adapted and some not), else in this process."""
    media = MediaLibrary(home)
    adapts = {title: bool((entry := media.find(title)) and entry.adapt) for title in season_titles(instance, season)}
    if not in_process and webserver_reachable(url):
        return launch_on_webserver(url, season, adapts)
    return [run_in_process(instance, home, season, adapts)]
