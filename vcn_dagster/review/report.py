"""`vcn review KEY --static DIR`: the cast as one self-contained, read-only HTML file to share (pictures inside
it), and a contact sheet per person as PNG files beside it."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

from starlette.templating import Jinja2Templates

from vcn_dagster import operations
from vcn_dagster.review import cast as views
from vcn_resources.home import vcn_home
from vcn_resources.pictures import face_crops
from vcn_resources.warehouse import Warehouse

HERE = Path(__file__).parent
FACES_PER_TRACK = 3  # in the report: enough to recognise a track, few enough to keep the file small


def _data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


def write_report(key: str, folder: Path) -> Path:
    """Write `folder/index.html` (people, then each person's timeline and tracks) and `folder/sheets/*.png`;
    returns the HTML file's path."""
    warehouse = Warehouse(vcn_home())
    _, season, _ = operations.cast_scope(key)
    people = operations.people(key)
    sheets = folder / "sheets"
    sheets.mkdir(parents=True, exist_ok=True)
    sheet_src = {}
    for p in people:
        made = warehouse.season_dir(season) / "persons" / f"{views.short_id(p['person_id'])}.png"
        target = sheets / made.name
        shutil.copyfile(made, target)
        sheet_src[p["person_id"]] = _data_uri(target.read_bytes(), "image/png")
    details = []
    for p in people:
        tracks = views.person_tracks(warehouse, p["person_id"])
        for t in tracks:
            t.shown = t.shown[:FACES_PER_TRACK]
        details.append((p, views.timelines(warehouse, p["person_id"], p["name"]), tracks))
    crops = face_crops(warehouse, [(t.title, f) for _, _, tracks in details for t in tracks for f in t.shown])
    environment = Jinja2Templates(directory=HERE / "templates").env
    html = environment.get_template("report.html").render(
        key=key,
        people=people,
        details=details,
        static=True,
        css=(HERE / "static" / "review.css").read_text(),
        sheet_src=sheet_src.__getitem__,
        face_src=lambda title, face: _data_uri(crops[(title, face)], "image/jpeg"),
        person_href=lambda pid: f"#{views.short_id(pid)}",
        short_id=views.short_id,
        request=None,
    )
    out = folder / "index.html"
    out.write_text(html)
    return out
