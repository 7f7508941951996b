"""The fast tier's end to end: every stage of a title materialised with `dg.materialize` on a tiny
generated clip (real models, real pixels, a real DuckDB file), in seconds."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from vcn_dagster.definitions import all_assets, all_checks, build_resources
from vcn_dagster.jobs import stage_keys
from vcn_resources.media import MediaLibrary
from vcn_resources.warehouse import Warehouse
from videoclusternet.synthetic import compose_clip

TITLE = "tiny.s01e01"
SCRIPT = ((1.2, ("person_0", "tom_hanks")), (1.2, ("person_1",)), (1.2, ("tom_hanks", "person_1")))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dg.ExecuteInProcessResult]:
    root = tmp_path_factory.mktemp("tiny")
    truth = compose_clip(root / "tiny.mp4", fps=10, script=SCRIPT)
    home = root / "home"
    MediaLibrary(home).register(TITLE, truth.path)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("titles", [TITLE])
        result = dg.materialize(
            [*all_assets, *all_checks],
            selection=stage_keys(adapt=False),
            partition_key=TITLE,
            instance=instance,
            resources=build_resources(home),
            raise_on_error=False,
        )
    return home, result


def test_every_stage_materialises_and_passes_its_checks(tiny):
    home, result = tiny
    assert result.success
    made = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert made == {key.to_user_string() for key in stage_keys(adapt=False)}
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_the_tables_hold_the_title_and_its_three_people(tiny):
    home, _ = tiny
    warehouse = Warehouse(home)
    (summary,) = warehouse.summaries([TITLE])
    assert summary.info.status == "done" and summary.shots == len(SCRIPT)
    assert summary.identities == 3 and summary.tracks_by_status.get("kept") == 5
    assert set(summary.info.stage_seconds) == {key.to_user_string() for key in stage_keys(adapt=False)}
