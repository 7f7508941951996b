"""Which video file each title partition stands for."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from videoclusternet.video import file_sha256


class MediaLibraryResource(dg.ConfigurableResource):
    """A small registry in the home folder: `media/<title>.json` -> the video's path and hash, the title's
    frame stride, and whether its face model is adapted to it, so that every later run of the title
    (backfill, drop, nightly) does the same."""

    home: str

    def _entry(self, title: str) -> Path:
        return Path(self.home) / "media" / f"{title}.json"

    def register(
        self,
        title: str,
        video: Path,
        sha256: str | None = None,
        stride: int | None = None,
        adapt: bool | None = None,
    ) -> dict:
        """Point the title at `video`. `stride` and `adapt` None keep the title's (1 and False for a new title)."""
        path = self._entry(title)
        before = json.loads(path.read_text()) if path.exists() else {}
        entry = {
            "path": str(Path(video).resolve()),
            "sha256": sha256 or file_sha256(video),
            "stride": before.get("stride", 1) if stride is None else stride,
            "adapt": before.get("adapt", False) if adapt is None else adapt,
        }
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

    def adapts(self, title: str) -> bool:
        """Whether the title's face model is adapted to it and its tracks clustered with that (`vcn run --adapt`);
        False for a title with no registered video (its run fails at `frames`, saying so)."""
        path = self._entry(title)
        return path.exists() and bool(json.loads(path.read_text()).get("adapt", False))

    def forget(self, title: str) -> None:
        self._entry(title).unlink(missing_ok=True)

    def titles(self) -> list[str]:
        folder = Path(self.home) / "media"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
