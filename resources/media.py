"""Which video file each title partition stands for."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from videoclusternet.video import file_sha256


class MediaLibraryResource(dg.ConfigurableResource):
    """A small registry in the home folder: `media/<title>.json` -> the video's path and hash, and the
    title's frame stride, so that every later run of the title (backfill, drop, nightly) uses the same."""

    home: str

    def _entry(self, title: str) -> Path:
        return Path(self.home) / "media" / f"{title}.json"

    def register(self, title: str, video: Path, sha256: str | None = None, stride: int | None = None) -> dict:
        """Point the title at `video`; `stride` None keeps the title's stride (1 for a new title)."""
        path = self._entry(title)
        if stride is None:
            stride = json.loads(path.read_text()).get("stride", 1) if path.exists() else 1
        entry = {"path": str(Path(video).resolve()), "sha256": sha256 or file_sha256(video), "stride": stride}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(entry))
        tmp.replace(path)
        return entry

    def lookup(self, title: str) -> dict:
        path = self._entry(title)
        if not path.exists():
            raise FileNotFoundError(f"title {title!r} has no registered video ({path} is missing); run `vcn run VIDEO`")
        return json.loads(path.read_text())

    def forget(self, title: str) -> None:
        self._entry(title).unlink(missing_ok=True)

    def titles(self) -> list[str]:
        folder = Path(self.home) / "media"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
