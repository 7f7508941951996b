"""`vcn review`: a local web page to see a cast and correct it. Starlette with Jinja templates; htmx (vendored
from npm) turns each button into a request that swaps the page's body, so a correction never reloads the
page. Every button writes the same correction as the CLI (`vcn_dagster.operations.correct`), under the name
of the person at the keyboard and "review page"."""

from __future__ import annotations

import getpass
import threading
import warnings
from pathlib import Path
from urllib.parse import urlencode, urlparse

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from vcn_dagster import operations
from vcn_dagster.review import cast as views
from vcn_resources.home import vcn_home
from vcn_resources.results import StoredCrops, stored_crops
from vcn_resources.warehouse import Warehouse

HERE = Path(__file__).parent
# Dagster closes its own event loop after an in-process run; from a server's worker thread that says nothing
# more than this warning.
warnings.filterwarnings("ignore", message="coroutine 'BaseEventLoop.shutdown_asyncgens' was never awaited")
templates = Jinja2Templates(directory=HERE / "templates")


def _who() -> str:
    return f"{getpass.getuser()} (review page)"


class Review:
    """The page's handlers over one home; corrections one at a time (each links the season again)."""

    def __init__(self, home: Path, default_key: str | None) -> None:
        self.home, self.default_key = home, default_key
        self._correcting = threading.Lock()
        # A title's crops stay open between requests: the faces of a page are near each other in the file.
        self._crops: dict[tuple[str, int], StoredCrops] = {}
        self._reading = threading.Lock()

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.home)

    def page(self, request: Request, template: str, key: str, people: list[dict] | None = None, **context) -> Response:
        people = operations.people(key) if people is None else people
        return templates.TemplateResponse(
            request,
            template,
            {
                "key": key,
                "people": people,
                "named": {views.short_id(p["person_id"]): p["name"] or views.short_id(p["person_id"]) for p in people},
                "done": request.query_params.get("done"),
                "error": request.query_params.get("error"),
                "static": False,
                "sheet_src": lambda p: f"/cast/{key}/sheet/{views.short_id(p)}.png",
                "face_src": lambda title, face: f"/face/{title}/{face}.jpg",
                "person_href": lambda p: f"/cast/{key}/person/{views.short_id(p)}",
                "short_id": views.short_id,
                **context,
            },
        )

    # --- pages ------------------------------------------------------------------------------------------------

    def home_page(self, request: Request) -> Response:
        if self.default_key:
            return RedirectResponse(f"/cast/{self.default_key}", 303)
        return templates.TemplateResponse(request, "index.html", {"casts": views.casts(self.warehouse)})

    def people_page(self, request: Request) -> Response:
        return self.page(request, "people.html", request.path_params["key"])

    def person_page(self, request: Request) -> Response:
        key, short = request.path_params["key"], request.path_params["person"]
        _, season, _ = operations.cast_scope(key)
        person_id = operations.person_id(season, short)
        people = operations.people(key)
        found = [p for p in people if p["person_id"] == person_id]
        if not found:
            return PlainTextResponse(f"no person {person_id} in {key}", 404)
        person = found[0]
        return self.page(
            request,
            "person.html",
            key,
            people,
            person=person,
            tracks=views.person_tracks(self.warehouse, person_id),
            timelines=views.timelines(self.warehouse, person_id, person["name"]),
        )

    def questions_page(self, request: Request) -> Response:
        key = request.path_params["key"]
        asked = operations.questions(key, 10)
        for q in asked:  # a track question shows the track's own best face
            shown = views.track(self.warehouse, *q["track"]) if q["track"] else None
            q["face"] = shown.shown[0] if shown and shown.shown else None
        return self.page(request, "questions.html", key, questions=asked)

    def unknown_page(self, request: Request) -> Response:
        key = request.path_params["key"]
        people = operations.people(key)
        titles = sorted({t for p in people for t, _ in p["tracks"]})
        return self.page(request, "unknown.html", key, people, tracks=views.set_aside_tracks(self.warehouse, titles))

    def corrections_page(self, request: Request) -> Response:
        key = request.path_params["key"]
        return self.page(request, "corrections.html", key, corrections=operations.corrections(key))

    # --- pictures ---------------------------------------------------------------------------------------------

    def sheet(self, request: Request) -> Response:
        key, short = request.path_params["key"], request.path_params["person"]
        _, season, _ = operations.cast_scope(key)
        path = self.warehouse.season_dir(season) / "persons" / f"{Path(short).name}.png"
        return FileResponse(path) if path.exists() else PlainTextResponse("no contact sheet", 404)

    def face(self, request: Request) -> Response:
        title, face = request.path_params["title"], request.path_params["face"]
        try:
            # Keyed by the file's time too: a re-run of the title writes new crops under new face ids.
            opened = (title, self.warehouse.artifact_path(title, "faces").stat().st_mtime_ns)
            with self._reading:
                if opened not in self._crops:
                    self._crops = {opened: stored_crops(self.warehouse, title), **self._crops}
                jpeg = self._crops[opened][face]
            return Response(jpeg, media_type="image/jpeg")
        except (OSError, IndexError):
            return PlainTextResponse(f"no face {face} of {title}", 404)

    def frame(self, request: Request) -> Response:
        from vcn_resources.pictures import frame_with_box

        title, face = request.path_params["title"], request.path_params["face"]
        info = self.warehouse.title_info(title)
        try:
            frame, box = views.face_box(self.warehouse, title, face)
            return Response(frame_with_box(info.path, frame, box), media_type="image/jpeg")
        except (AttributeError, KeyError, OSError, FileNotFoundError) as exc:
            return PlainTextResponse(f"no frame for face {face} of {title}: {exc}", 404)

    # --- corrections ------------------------------------------------------------------------------------------

    async def correct(self, request: Request) -> Response:
        """One button: a correction (form field `verb`), or an undo; then back to the page it came from."""
        if not _same_origin(request):
            return PlainTextResponse("corrections come from this page only", 403)
        key = request.path_params["key"]
        form = await request.form()
        back = urlparse(str(form.get("back") or f"/cast/{key}")).path
        verb = str(form["verb"])
        try:
            with self._correcting:
                if verb == "undo":
                    number = operations.undo(key, int(form["correction"]), who=_who())
                else:
                    number = operations.correct(
                        key,
                        verb,
                        persons=[str(p) for p in form.getlist("persons") if p],
                        name=str(form.get("name", "")).strip(),
                        title=str(form.get("title", "")),
                        track=int(form.get("track", -1)),
                        to=str(form.get("to", "")),
                        who=_who(),
                    )
        except (operations.OperationError, ValueError, KeyError) as exc:
            return RedirectResponse(f"{back}?{urlencode({'error': str(exc)})}", 303)
        if verb in ("merge", "move", "not_a_face") or "/person/" in back:
            back = _still_there(key, back)
        return RedirectResponse(f"{back}?{urlencode({'done': number})}", 303)


def _still_there(key: str, back: str) -> str:
    """The page to go back to: a person's page only while the person still exists (a merge may end it)."""
    if "/person/" not in back:
        return back
    _, season, _ = operations.cast_scope(key)
    person = operations.person_id(season, back.rsplit("/", 1)[-1])
    return back if any(p["person_id"] == person for p in operations.people(key)) else f"/cast/{key}"


def _same_origin(request: Request) -> bool:
    """A correction only from this page: another site's form posted to 127.0.0.1 carries its own Origin."""
    origin = request.headers.get("origin")
    return origin is None or urlparse(origin).netloc == request.headers.get("host")


def review_app(key: str | None = None) -> Starlette:
    """The review page's web app over the home ($VCN_HOME, as every command); `/` opens `key`'s cast."""
    review = Review(vcn_home(), key)
    return Starlette(
        routes=[
            Route("/", review.home_page),
            Route("/cast/{key}", review.people_page),
            Route("/cast/{key}/person/{person}", review.person_page),
            Route("/cast/{key}/questions", review.questions_page),
            Route("/cast/{key}/unknown", review.unknown_page),
            Route("/cast/{key}/corrections", review.corrections_page),
            Route("/cast/{key}/sheet/{person}.png", review.sheet),
            Route("/cast/{key}/correct", review.correct, methods=["POST"]),
            Route("/face/{title}/{face:int}.jpg", review.face),
            Route("/frame/{title}/{face:int}.jpg", review.frame),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers={operations.OperationError: _not_found},
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(str(exc), 404)
