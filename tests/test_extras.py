"""Without the `adapt` extra (torch, MLflow): `vcn run` works with the generic model, and `--adapt` says which
extra to install. The packages are hidden from a `vcn` process by an import hook that refuses them, as an
install without them would (`pip install -e .` in a fresh venv was checked by hand too, see the README)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from videoclusternet.synthetic import compose_clip

WITHOUT_ADAPT = """
import sys

class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "mlflow"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Uninstalled())
from vcn_dagster.cli import main
main()
"""


def _vcn(home: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VCN_HOME": str(home)}
    return subprocess.run([sys.executable, "-c", WITHOUT_ADAPT, *argv], env=env, capture_output=True, text=True)


def test_adapt_without_the_extra_names_the_extra_and_touches_nothing(tmp_path: Path):
    video = tmp_path / "show.s01e01.mp4"
    video.write_bytes(b"never read")
    run = _vcn(tmp_path / "home", "run", str(video), "--adapt")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        "vcn run: adaptation needs torch, mlflow: install the 'adapt' extra "
        "(pip install 'videoclusternet[adapt]'), or run without --adapt"
    )
    assert not (tmp_path / "home" / "media").exists()


@pytest.mark.slow
def test_run_without_the_extra_clusters_with_the_generic_model(tmp_path: Path):
    clip = compose_clip(tmp_path / "show.s01e01.mp4", fps=10, script=((1.2, ("person_0", "tom_hanks")),))
    run = _vcn(tmp_path / "home", "run", str(clip.path))
    assert run.returncode == 0, run.stderr
    assert "show.s01e01: done" in run.stdout and "identities: 2" in run.stdout
