"""Shared fixtures: a generated clip with known people, processed once by the real pipeline."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from videoclusternet.synthetic import ClipTruth, compose_clip, garbage


@dataclass
class ProcessedHome:
    home: Path
    truth: ClipTruth
    outcome: dict[str, bool]  # title -> success
    corrupt: Path


# Every address a test process tried to reach beyond this machine: the product is offline (no telemetry, no
# weights downloaded), so the suite runs as under `unshare -n`: such a connection fails, and is remembered.
REACHED_OUT: list[str] = []
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", None}


@pytest.fixture(scope="session", autouse=True)
def no_network() -> list[str]:
    import socket

    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def local(host) -> bool:
        return host in _LOCAL_NAMES or str(host).startswith("127.")

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            REACHED_OUT.append(f"connect {address}")
            raise OSError(101, "Network is unreachable (the test suite is offline)")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not local(host):
            REACHED_OUT.append(f"getaddrinfo {host}")
            raise socket.gaierror(socket.EAI_NONAME, "the test suite is offline")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield REACHED_OUT


@pytest.fixture(scope="session")
def processed(tmp_path_factory: pytest.TempPathFactory) -> ProcessedHome:
    """One `vcn run` over three titles: the demo clip, a corrupt file and an empty file."""
    root = tmp_path_factory.mktemp("vcn")
    truth = compose_clip(root / "clip.mp4", truth_csv=root / "clip.faces.csv")  # checked by the run
    corrupt = root / "broken_show_s01e02.mp4"
    corrupt.write_bytes(garbage(50_000))
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
