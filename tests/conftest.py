"""Shared fixtures: a generated clip with known people, processed once by the real pipeline."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from videoclusternet.synthetic import ClipTruth, compose_clip


@dataclass
class ProcessedHome:
    home: Path
    truth: ClipTruth
    outcome: dict[str, bool]  # title -> success
    corrupt: Path


@pytest.fixture(scope="session")
def processed(tmp_path_factory: pytest.TempPathFactory) -> ProcessedHome:
    """One `vcn run` over three titles: the demo clip, a corrupt file and an empty file."""
    root = tmp_path_factory.mktemp("vcn")
    truth = compose_clip(root / "clip.mp4", truth_csv=root / "clip.faces.csv")  # checked by the run
    corrupt = root / "broken_show_s01e02.mp4"
    corrupt.write_bytes(os.urandom(50_000))
    empty = root / "empty_show_s01e03.mp4"
    empty.touch()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VCN_HOME", str(root / "home"))
        from vcn_dagster.operations import run_titles

        outcome = {k: run.success for k, run in run_titles([truth.path, corrupt, empty], adapt=True).items()}
    return ProcessedHome(root / "home", truth, outcome, corrupt)


@pytest.fixture
def home_env(processed: ProcessedHome, monkeypatch: pytest.MonkeyPatch) -> ProcessedHome:
    monkeypatch.setenv("VCN_HOME", str(processed.home))
    monkeypatch.setenv("DAGSTER_HOME", str(processed.home / "dagster"))
    return processed


@pytest.fixture
def home_copy(processed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the processed home, for tests that damage a title."""
    home = tmp_path / "home"
    for part in ("warehouse", "titles", "dagster", "media", "models"):
        if (processed.home / part).exists():
            shutil.copytree(processed.home / part, home / part)
    monkeypatch.setenv("VCN_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home


# Fixtures that run the pipeline end to end: a test that uses one belongs to the slow tier.
END_TO_END_FIXTURES = {"processed", "home_env", "home_copy", "season"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pytest -m "not slow"` is the fast tier: tests on end-to-end fixtures are slow without saying so."""
    for item in items:
        if END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
