"""The product is offline: MLflow's usage telemetry (on by default in MLflow 3, off only in CI or tests) is off
in every process that opens the tracking store, and an adapted run reached nothing beyond this machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# MLflow reads these when it is imported and turns its telemetry off: a user's shell has none of them.
CI_MARKERS = ("PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")
PROBE = """
import sys
from vcn_resources.tracking import MlflowResource
if sys.argv[1] == "vcn":
    MlflowResource(home=sys.argv[2]).client()
else:
    import mlflow
from mlflow.telemetry.utils import is_telemetry_disabled
print(is_telemetry_disabled())
"""


@pytest.mark.parametrize(("opened_by", "disabled"), [("vcn", "True"), ("mlflow alone", "False")])
def test_mlflow_telemetry_is_off_where_vcn_opens_the_store(tmp_path, opened_by, disabled):
    pytest.importorskip("mlflow")
    env = {k: v for k, v in os.environ.items() if k not in CI_MARKERS}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, opened_by.split()[0], str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == disabled  # "mlflow alone": the default this guards against


def test_an_adapted_run_reached_nothing_beyond_this_machine(home_env, no_network):
    """The processed clip ran with --adapt (a model registered in MLflow) with sockets to other machines
    blocked: none was tried, and no name was looked up."""
    assert home_env.outcome["clip"] and no_network == []
