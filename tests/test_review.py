"""The review page in a real browser (Debian's Chromium through Selenium) over a real home: a name and a merge
made with the page's buttons land as corrections and update the page without reloading it, undo takes one
back; and the exports: the WebVTT plays in Chromium's `<track>`, the EAF parses, the JSON holds the persons."""

from __future__ import annotations

import csv
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from vcn_dagster.cli import main
from vcn_dagster.operations import run_titles
from vcn_resources.warehouse import Warehouse
from videoclusternet.synthetic import compose_clip

pytestmark = pytest.mark.slow
TITLE, SEASON = "show.s01e01", "show.s01"
SCRIPT = ((1.5, ("person_0", "tom_hanks")), (1.5, ("person_1",)), (1.5, ("tom_hanks", "person_1")))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("review")
    clip = compose_clip(root / "show_s01e01.mp4", fps=10, script=SCRIPT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VCN_HOME", str(root / "home"))
        mp.setenv("DAGSTER_HOME", str(root / "home" / "dagster"))
        assert run_titles([clip.path])[TITLE].success
        yield root / "home"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.add_argument("--autoplay-policy=no-user-gesture-required")
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(home: Path) -> Iterator[str]:
    """`vcn review SEASON` as a user starts it, on a free port."""
    port = _free_port()
    env = {**os.environ, "VCN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    process = subprocess.Popen(
        [sys.executable, "-m", "vcn_dagster.cli", "review", SEASON, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _cards(driver: webdriver.Chrome) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "figure.card")


def _texts(driver: webdriver.Chrome, css: str) -> list[str]:
    """The texts of what `css` finds, read in one script: htmx may swap the page between two WebDriver calls."""
    return driver.execute_script(f"return [...document.querySelectorAll({css!r})].map(e => e.textContent.trim())")


def _corrections(home: Path) -> list[tuple]:
    con = Warehouse(home).connect()
    return con.execute("SELECT id, verb, who, undone FROM corrections WHERE scope = ? ORDER BY id", [SEASON]).fetchall()


def test_name_merge_and_undo_from_the_page_without_a_reload(home: Path, page: str, browser: webdriver.Chrome):
    wait = WebDriverWait(browser, 120, ignored_exceptions=[StaleElementReferenceException])
    browser.get(f"{page}/cast/{SEASON}")
    people = len(_cards(browser))
    assert people >= 3
    # Every person's contact sheet is a real picture.
    assert all(
        browser.execute_script("return arguments[0].naturalWidth", img) > 0
        for img in browser.find_elements(By.CSS_SELECTOR, "img.sheet")
    )
    browser.execute_script("window.notReloaded = true")

    first = _cards(browser)[0]
    first.find_element(By.NAME, "name").send_keys("Ada")
    first.find_element(By.CSS_SELECTOR, "form.rename button").click()
    wait.until(lambda d: "Ada" in _texts(d, "figure.card a.who"))
    assert browser.execute_script("return window.notReloaded === true")
    assert _corrections(home)[-1][1:3] == ("name", f"{os.environ.get('USER') or _user()} (review page)")

    for card in _cards(browser)[1:3]:
        card.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    browser.find_element(By.CSS_SELECTOR, "#merge button").click()
    wait.until(lambda d: len(_cards(d)) == people - 1)
    assert browser.execute_script("return window.notReloaded === true")
    assert "applied" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert [c[1] for c in _corrections(home)] == ["name", "merge"]

    browser.find_element(By.CSS_SELECTOR, ".flash button").click()  # undo the merge
    wait.until(lambda d: len(_cards(d)) == people)
    assert browser.execute_script("return window.notReloaded === true")
    assert [c[1] for c in _corrections(home)] == ["name", "merge", "undo"]
    assert _corrections(home)[1][3]  # the merge is undone


def _user() -> str:
    import getpass

    return getpass.getuser()


def test_person_page_questions_unknown_and_corrections_pages(page: str, browser: webdriver.Chrome):
    browser.get(f"{page}/cast/{SEASON}")
    browser.find_element(By.CSS_SELECTOR, "figure.card a.who").click()
    WebDriverWait(browser, 30).until(lambda d: "/person/" in d.current_url)
    assert browser.find_elements(By.CSS_SELECTOR, ".timeline rect.on")  # on screen somewhere
    faces = browser.find_elements(By.CSS_SELECTOR, "td.faces img")
    assert faces and all(browser.execute_script("return arguments[0].complete", f) for f in faces)
    faces[0].click()  # the frame around the face, in the page
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "frame-view").is_displayed())
    for part, heading in (("questions", "Questions"), ("unknown", "Unknown"), ("corrections", "Corrections")):
        browser.find_element(By.LINK_TEXT, heading).click()
        WebDriverWait(browser, 30).until(
            lambda d, p=part, h=heading: d.current_url.endswith(p) and _texts(d, "h1")[0].startswith(h)
        )
    assert browser.find_elements(By.CSS_SELECTOR, "table.corrections tr[id^=correction-]")


def _webm(video: Path, out: Path) -> None:
    """The clip as VP8 WebM, which Chromium plays (its mp4v track it does not)."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    ok, frame = capture.read()
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"VP80"), fps, (frame.shape[1], frame.shape[0]))
    while ok:
        writer.write(frame)
        ok, frame = capture.read()
    writer.release()


def test_exports_webvtt_plays_in_chromium_eaf_parses_json_and_csv(
    home: Path, tmp_path: Path, browser: webdriver.Chrome, monkeypatch: pytest.MonkeyPatch
):
    from pympi.Elan import Eaf

    monkeypatch.setenv("VCN_HOME", str(home))
    main(["name", TITLE, "p0001", "Ada <&> Lovelace"])  # a name a cue must escape
    for fmt, name in (("webvtt", "cast.vtt"), ("eaf", "cast.eaf"), ("json", "cast.json"), ("csv", "cast.csv")):
        main(["export", TITLE, "--format", fmt, "--out", str(tmp_path / name)])
    cast = json.loads((tmp_path / "cast.json").read_text())
    with open(tmp_path / "cast.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-2:] == ["person_id", "name"] and len(rows) == len(cast["faces"])
    assert {r["name"] for r in rows if r["person_id"] == f"{SEASON}/p0001"} == {"Ada <&> Lovelace"}
    intervals = [(p["name"] or p["person_id"], i) for p in cast["persons"] for i in p["intervals"]]
    assert cast["titles"][0]["title"] == TITLE and cast["titles"][0]["fps"] == 10
    assert all(i["end_s"] > i["start_s"] for _, i in intervals)

    eaf = Eaf(str(tmp_path / "cast.eaf"))
    assert eaf.adocument["VERSION"] == "3.0"
    assert sum(len(eaf.get_annotation_data_for_tier(t)) for t in eaf.get_tier_names()) == len(intervals)
    assert "Ada <&> Lovelace (show.s01/p0001)" in eaf.get_tier_names()

    _webm(Path(Warehouse(home).title_info(TITLE).path), tmp_path / "clip.webm")
    (tmp_path / "player.html").write_text(
        '<video id="v" src="clip.webm" muted><track default kind="subtitles" src="cast.vtt"></video>'
    )
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/player.html")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: d.execute_script("return v.textTracks[0].cues && v.textTracks[0].cues.length") > 0)
        assert browser.execute_script("return v.textTracks[0].cues.length") == len(intervals)
        # Played: at a cue's time the cue is active and names its person.
        name, first = max(intervals, key=lambda x: x[1]["end_s"] - x[1]["start_s"])
        middle = (first["start_s"] + first["end_s"]) / 2
        browser.execute_script(f"v.currentTime = {middle}; v.play()")
        wait.until(lambda d: d.execute_script("return v.currentTime") > middle)
        active = browser.execute_script(
            "return Array.from(v.textTracks[0].activeCues).map(c => c.getCueAsHTML().textContent)"
        )
        assert active and all(a for a in active)
        spoken = browser.execute_script("return Array.from(v.textTracks[0].cues).map(c => c.text)")
        assert any(name in text or "Ada &lt;&amp;&gt; Lovelace" in text for text in spoken)
    finally:
        server.shutdown()
