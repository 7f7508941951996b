"""The product is offline: MLflow's usage telemetry (on by default in MLflow 3, off only in CI or tests) is off
in every process that opens the tracking store, the face models leave no usage trace of onnxruntime or OpenVINO in
the user's home, and an adapted run reached nothing beyond this machine."""

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


MODELS_PROBE = """
import sys
from pathlib import Path
import numpy as np
from videoclusternet.models import load_detector, load_embedder
load_detector("yunet_onnxruntime", cache_dir=Path(sys.argv[1])).detect(np.zeros((90, 160, 3), np.uint8))
load_embedder("sface", cache_dir=Path(sys.argv[1])).embed(np.zeros((2, 112, 112, 3), np.uint8))
"""


def test_the_face_models_leave_no_usage_trace_in_the_home(tmp_path):
    """onnxruntime's Linux builds write a device id (~/.cache/Microsoft) and `import openvino` counts itself
    (~/intel) unless told not to; loaded through `videoclusternet.models`, neither does."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "CI")} | {"HOME": str(home)}
    subprocess.run([sys.executable, "-c", MODELS_PROBE, str(tmp_path / "models")], env=env, check=True)
    assert sorted(p.name for p in home.iterdir()) == []


def test_an_adapted_run_reached_nothing_beyond_this_machine(home_env, no_network):
    """The processed clip ran with --adapt (a model registered in MLflow) with sockets to other machines
    blocked: none was tried, and no name was looked up."""
    assert home_env.outcome["clip"] and no_network == []
