"""Experiment tracking (MLflow) and the compute device, as resources."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from videoclusternet.offline import no_usage_reports


class MlflowResource(dg.ConfigurableResource):
    """MLflow tracking store: sqlite in the home by default, or any tracking server URI.

    One experiment per series (`vcn/<series>`), one run per title materialisation.
    """

    home: str
    tracking_uri: str | None = None  # e.g. http://mlflow:5000; default sqlite:///<home>/mlflow.db
    # Where the MLflow UI is served: a tracking server serves its own; for the sqlite store, where
    # `mlflow ui --backend-store-uri <uri>` serves by default.
    ui_url: str | None = None

    @property
    def uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{Path(self.home) / 'mlflow.db'}"

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """The run's page in the MLflow UI."""
        served = self.tracking_uri if (self.tracking_uri or "").startswith(("http://", "https://")) else None
        base = (self.ui_url or served or "http://127.0.0.1:5000").rstrip("/")
        return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"

    def client(self):
        no_usage_reports()  # MLflow's usage telemetry is on by default in MLflow 3
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        return mlflow

    def experiment_id(self, series: str) -> str:
        mlflow = self.client()
        name = f"vcn/{series}"
        found = mlflow.get_experiment_by_name(name)
        if found:
            return found.experiment_id
        # With a sqlite store MLflow would put artifacts under the working directory; keep them in the home.
        artifacts = None if self.tracking_uri else (Path(self.home) / "mlartifacts").as_uri()
        try:
            return mlflow.create_experiment(name, artifact_location=artifacts)
        except Exception:  # created meanwhile by a concurrent title of the same series
            return mlflow.get_experiment_by_name(name).experiment_id


class DeviceResource(dg.ConfigurableResource):
    """Where torch runs: CUDA when present, else the CPU; `VCN_DEVICE` overrides."""

    device: str | None = None

    def resolve(self) -> str:
        import torch

        wanted = self.device or os.environ.get("VCN_DEVICE")
        if wanted:
            return wanted
        return "cuda" if torch.cuda.is_available() else "cpu"
