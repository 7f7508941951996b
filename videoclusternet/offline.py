"""Nothing about a run leaves the machine: the runtimes vcn loads report usage unless told not to.

- onnxruntime (Linux builds too) writes a device id under ~/.cache/Microsoft and sends usage events;
  ORT_DISABLE_TELEMETRY stops both.
- MLflow records an installation id under ~/.config/mlflow and sends usage events; MLFLOW_DISABLE_TELEMETRY
  stops it.
- `import openvino` sends an event and counts imports under ~/intel through `openvino_telemetry`, with no
  switch but a consent file in the user's home. Its importers fall back to a silent stub when that package
  cannot be imported, so the module is marked as absent.

A user's own setting of a variable wins. Dagster's usage statistics are off in the home's instance settings.
"""

from __future__ import annotations

import os
import sys

OPT_OUTS = {"ORT_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


def no_usage_reports() -> None:
    """Turn off the usage reports of onnxruntime, MLflow and OpenVINO in this process and those it starts;
    call it before they are imported."""
    for name, value in OPT_OUTS.items():
        os.environ.setdefault(name, value)
    sys.modules.setdefault("openvino_telemetry", None)  # `import openvino_telemetry` now raises ImportError
