"""Title keys: the partition key of a video, derived from its file name by one documented rule.

`Show.Name.S01E03.mkv`, `show_name_s01e03.mp4` and `Show Name - 1x03.mkv` all give
`show_name.s01e03` (series slug, a dot, `sNNeNN`); any other name gives a slug of its stem.
A slug is lowercase ASCII letters, digits and `_`, at most 64 characters.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_KEY_LENGTH = 80
_KEY = re.compile(r"^[a-z0-9][a-z0-9_]*(\.s\d{2,}(e\d{2,})?)?$")
_SEASON = re.compile(r"^[a-z0-9][a-z0-9_]*\.s\d{2,}$")
# `S01E03` or `1x03`, standing apart: never inside a word or a number, so `tiny64x36` and `1920x1080` are no
# episodes.
_EPISODE = re.compile(
    r"^(?P<series>.*?)[\s._-]*(?<![a-z0-9])"
    r"(?:s(?P<s>\d{1,3})[\s._-]*e(?P<e>\d{1,4})|(?P<s2>\d{1,2})x(?P<e2>\d{1,3}))(?![0-9])",
    re.I,
)


def slug(text: str, limit: int = 64) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:limit].strip("_")


def title_key_from_filename(path: str | Path) -> str:
    """The title key for a video file name (see the module docstring)."""
    stem = Path(path).stem
    match = _EPISODE.match(stem)
    if match and slug(match["series"]):
        season = int(match["s"] or match["s2"])
        episode = int(match["e"] or match["e2"])
        return f"{slug(match['series'])}.s{season:02d}e{episode:02d}"
    key = slug(stem)
    if not key:
        raise ValueError(f"{path}: cannot derive a title key from the file name; pass one with --title")
    return key


def validate_title_key(key: str) -> str:
    """Return `key` if it is safe as a partition key and a file name, else raise ValueError saying why."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"title key {key!r}: must be 1 to {MAX_KEY_LENGTH} characters")
    if not _KEY.match(key):
        raise ValueError(
            f"title key {key!r}: use lowercase letters, digits and '_', optionally followed by '.sNNeNN' "
            "(no path separators, '..', spaces, commas or control characters)"
        )
    return key


def series_of(key: str) -> str:
    """`show.s01e03` -> `show`; a key without a season is its own series."""
    return key.split(".", 1)[0]


def season_of(key: str) -> str | None:
    """`show.s01e03` -> `show.s01`; None for a key without a season."""
    match = re.match(r"^(.+\.s\d+)e\d+$", key)
    return match[1] if match else None


def validate_season_key(key: str) -> str:
    """Return `key` if it names a season (`show.s01`), else raise ValueError saying what one looks like."""
    if not _SEASON.match(key):
        raise ValueError(f"season {key!r}: expected SERIES.sNN, e.g. show.s01")
    return key


def cast_season(key: str) -> str:
    """The season whose cast a title belongs to: `show.s01` for `show.s01e03`; a title without an episode number
    (a film, `show.s01` itself) is a season of its own."""
    return season_of(key) or key
