"""Which video file each title partition stands for."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class MediaEntry:
    """A title's registered video and how the title is run: every `stride`-th frame, with the face model adapted
    to it or not (`adapt`), and with each face's mirror image embedded too or upright only (`mirror`)."""

    path: str
    sha256: str  # of the file's content; "" for a file that did not decode, which is never hashed
    stride: int = 1
    adapt: bool = False
    mirror: bool = True  # entries written before the setting existed read as the default


class MediaLibrary:
    """A small registry in the home folder: `media/<title>.json` holds the title's `MediaEntry`, so that every
    later run of the title (backfill, drop, nightly) does the same."""

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)

    def __repr__(self) -> str:
        return f"MediaLibrary({str(self.home)!r})"

    def _entry_path(self, title: str) -> Path:
        return self.home / "media" / f"{title}.json"

    def register(
        self,
        title: str,
        video: Path,
        sha256: str | None = None,
        stride: int | None = None,
        adapt: bool | None = None,
        mirror: bool | None = None,
    ) -> MediaEntry:
        """Point the title at `video`, hashed unless `sha256` is given. `stride`, `adapt` and `mirror` None keep
        the title's (1, False and True for a new title)."""
        from videoclusternet.video import file_sha256  # OpenCV comes with it: not for readers of the registry

        before = self.find(title)
        entry = MediaEntry(
            path=str(Path(video).resolve()),
            sha256=file_sha256(video) if sha256 is None else sha256,
            stride=(before.stride if before else 1) if stride is None else stride,
            adapt=(before.adapt if before else False) if adapt is None else adapt,
            mirror=(before.mirror if before else True) if mirror is None else mirror,
        )
        path = self._entry_path(title)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(entry)))
        tmp.replace(path)
        return entry

    def find(self, title: str) -> MediaEntry | None:
        """The title's entry; None for a title with no registered video."""
        path = self._entry_path(title)
        return MediaEntry(**json.loads(path.read_text())) if path.exists() else None

    def lookup(self, title: str) -> MediaEntry:
        """The title's entry; a clear error for a title with no registered video."""
        entry = self.find(title)
        if entry is None:
            raise FileNotFoundError(
                f"title {title!r} has no registered video ({self._entry_path(title)} is missing); run `vcn run VIDEO`"
            )
        return entry

    def forget(self, title: str) -> None:
        self._entry_path(title).unlink(missing_ok=True)

    def titles(self) -> list[str]:
        folder = self.home / "media"
        return sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
