"""Which video file each title partition stands for."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from videoclusternet.video import file_sha256


class MediaLibraryResource(dg.ConfigurableResource):
    """A small registry in the home folder: `media/<title>.json` -> the video's path and hash."""

    home: str

    def _entry(self, title: str) -> Path:
        return Path(self.home) / "media" / f"{title}.json"

    def register(self, title: str, video: Path, sha256: str | None = None) -> dict[str, str]:
        entry = {"path": str(Path(video).resolve()), "sha256": sha256 or file_sha256(video)}
        path = self._entry(title)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(entry))
        tmp.replace(path)
        return entry

    def lookup(self, title: str) -> dict[str, str]:
        path = self._entry(title)
        if not path.exists():
            raise FileNotFoundError(f"title {title!r} has no registered video ({path} is missing); run `vcn run VIDEO`")
        return json.loads(path.read_text())

    def titles(self) -> list[str]:
        folder = Path(self.home) / "media"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
