"""The embedded home folder: one place for the database, the stores, the media and model caches."""

from __future__ import annotations

import os
from pathlib import Path


def vcn_home() -> Path:
    """`$VCN_HOME`, else `.vcn` in the working directory; always absolute."""
    return Path(os.environ.get("VCN_HOME", ".vcn")).expanduser().resolve()


def dagster_home(home: Path) -> Path:
    return home / "dagster"
