"""The deployment config loads: the home's instance settings, the one-machine dagster.yaml and the Helm values,
each validated with Dagster's own instance config schema."""

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import PoolGranularity, dagster_instance_config
from dagster._core.storage.config import pg_config

from vcn_dagster.instance import INSTANCE_SETTINGS, write_instance_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
# The chart's settings for pools (its ConcurrencyPools schema, which forbids other keys) and their dagster.yaml names.
CHART_POOL_KEYS = {
    "defaultLimit": "default_limit",
    "granularity": "granularity",
    "opGranularityRunBuffer": "op_granularity_run_buffer",
}


def _validated(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """`config` as a dagster.yaml in `folder`, loaded and checked the way a DagsterInstance loads its own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(yaml.safe_dump(config))
    validated, _ = dagster_instance_config(str(folder))
    return dict(validated)


def test_home_settings_match_the_committed_template() -> None:
    assert yaml.safe_load((DEPLOY / "local" / "dagster.yaml").read_text()) == INSTANCE_SETTINGS


def test_home_instance_loads_with_one_gpu_slot(tmp_path: Path) -> None:
    """A home's dagster.yaml loads as a real instance whose pools allow one step at a time, per op."""
    shutil.copy(DEPLOY / "local" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        pools = instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1
    assert pools.pool_granularity == PoolGranularity.OP
    assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds == 180


def test_settings_are_added_to_an_existing_home_without_overriding_it(tmp_path: Path) -> None:
    """Homes made before pools get them on the next `vcn` command; what the user set stays."""
    (tmp_path / "dagster.yaml").write_text(
        "telemetry:\n  enabled: true\nconcurrency:\n  pools:\n    default_limit: 2\n"
    )
    path = write_instance_settings(tmp_path)
    settings = yaml.safe_load(path.read_text())
    assert settings == {
        "telemetry": {"enabled": True},
        "concurrency": {"pools": {"default_limit": 2, "granularity": "op"}},
        "run_monitoring": INSTANCE_SETTINGS["run_monitoring"],
    }
    before = path.stat().st_mtime_ns
    write_instance_settings(tmp_path)
    assert path.stat().st_mtime_ns == before, "an up-to-date file is left alone"


def _chart_instance(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dagster.yaml the chart renders from `values` (its instance ConfigMap), and its Postgres settings."""
    pg = values["postgresql"]
    postgres = {
        "postgres_db": {
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},  # the chart reads it from its secret
            "hostname": pg["postgresqlHost"] or "vcn-postgresql",  # the bundled server's service
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
        }
    }

    def storage(module: str, cls: str) -> dict[str, Any]:
        return {"module": f"dagster_postgres.{module}", "class": cls, "config": postgres}

    pools = values["concurrency"]["pools"]
    instance = {
        "run_storage": storage("run_storage", "PostgresRunStorage"),
        "event_log_storage": storage("event_log", "PostgresEventLogStorage"),
        "schedule_storage": storage("schedule_storage", "PostgresScheduleStorage"),
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": {}},
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
        "concurrency": {"pools": {CHART_POOL_KEYS[key]: value for key, value in pools.items()}},
        "telemetry": values["telemetry"],
    }
    return instance, postgres


def test_helm_values_have_what_the_chart_needs() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    user_code = values["dagster-user-deployments"]
    assert user_code["enabled"]
    (deployment,) = user_code["deployments"]
    assert {"repository", "tag", "pullPolicy"} <= deployment["image"].keys()
    assert isinstance(deployment["port"], int)
    module = deployment["dagsterApiGrpcArgs"][deployment["dagsterApiGrpcArgs"].index("--module-name") + 1]
    assert module == "vcn_dagster.definitions" and importlib.util.find_spec(module) is not None
    mounts = {m["name"] for m in deployment["volumeMounts"]} & {v["name"] for v in deployment["volumes"]}
    assert mounts and deployment["includeConfigInLaunchedRuns"]["enabled"], "every pod needs the shared home"
    assert values["runLauncher"]["type"] == "K8sRunLauncher" and "k8sRunLauncher" in values["runLauncher"]["config"]
    assert values["concurrency"]["enabled"] and values["concurrency"]["pools"].keys() <= CHART_POOL_KEYS.keys()
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"


def test_helm_values_render_a_valid_postgres_instance(tmp_path: Path) -> None:
    """The instance config the values make passes Dagster's schema (pools included), and the storage settings
    pass the Postgres storages' own schema (dagster-postgres takes it from dagster: `pg_config`)."""
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    instance, postgres = _chart_instance(values)
    validated = _validated(instance, tmp_path)
    assert validated["concurrency"] == {"pools": {"default_limit": 1, "granularity": "op"}}
    result = validate_config(pg_config(), postgres)
    assert result.success, [error.message for error in result.errors]
