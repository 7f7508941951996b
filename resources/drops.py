"""Where new videos arrive: a drop folder, behind a small listing interface so an object store can follow."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dagster as dg

from videoclusternet.video import file_sha256

SETTLE_SECONDS = 30.0  # unchanged size and change time for this long: the copy into the folder has finished
MAX_PER_TICK = 8  # settled files hashed (and launched) per sensor tick; the rest wait for the next tick


@dataclass(frozen=True)
class DroppedFile:
    """One file in the drop location. `mtime` is when it last changed, in seconds since the epoch."""

    name: str
    path: str
    size: int
    mtime: float


class DropListing(Protocol):
    """What the media drop sensor needs from a drop location."""

    def list(self) -> list[DroppedFile]:
        """The files directly in the location (no folders), in any order."""
        ...

    def sha256(self, file: DroppedFile) -> str:
        """Hex SHA-256 of the file's content."""
        ...


class LocalDropFolder:
    """A folder on a local or mounted file system; a missing folder is an empty one."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def list(self) -> list[DroppedFile]:
        if not self.folder.is_dir():
            return []
        found = []
        for entry in os.scandir(self.folder):
            if not entry.is_file(follow_symlinks=True):
                continue
            stat = entry.stat(follow_symlinks=True)
            # ctime too: `mv` keeps a file's old mtime, but the move itself changes its ctime.
            changed = max(stat.st_mtime, stat.st_ctime)
            found.append(DroppedFile(entry.name, str(Path(entry.path).resolve()), stat.st_size, changed))
        return found

    def sha256(self, file: DroppedFile) -> str:
        return file_sha256(file.path)


class DropFolderResource(dg.ConfigurableResource):
    """The drop location the media drop sensor watches, and how long a file must rest before it is taken."""

    path: str
    settle_seconds: float = SETTLE_SECONDS
    max_per_tick: int = MAX_PER_TICK

    def listing(self) -> DropListing:
        return LocalDropFolder(Path(self.path))


def drop_folder_from_env(home: Path) -> DropFolderResource:
    """`$VCN_DROP_DIR` (default `<home>/drop`), settle time `$VCN_DROP_SETTLE_S`, at most `$VCN_DROP_MAX_PER_TICK`."""
    return DropFolderResource(
        path=str(Path(os.environ.get("VCN_DROP_DIR") or home / "drop").expanduser().resolve()),
        settle_seconds=float(os.environ.get("VCN_DROP_SETTLE_S", SETTLE_SECONDS)),
        max_per_tick=int(os.environ.get("VCN_DROP_MAX_PER_TICK", MAX_PER_TICK)),
    )
