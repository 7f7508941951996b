"""Bad input, as a hostile user gives it: each gets an error naming the file and the reason, the title is
failed, the other titles carry on, and no results of another video stay visible under the title."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest

from vcn_assets.faces import face_detections
from vcn_dagster.cli import main
from vcn_dagster.definitions import all_assets, all_checks, build_resources
from vcn_dagster.operations import run_titles
from vcn_resources.media import MediaLibrary
from vcn_resources.warehouse import RESULT_TABLES, Warehouse

TITLE = "clip"


def _title_row(home: Path, title: str) -> dict:
    con = Warehouse(home).connect()
    cursor = con.execute("SELECT * FROM titles WHERE title = ?", [title])
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row)) if row else {}


def _result_rows(home: Path, title: str) -> dict[str, int]:
    con = Warehouse(home).connect()
    return {t: con.execute(f"SELECT count(*) FROM {t} WHERE title = ?", [title]).fetchone()[0] for t in RESULT_TABLES}


def test_a_title_pointed_at_a_broken_video_keeps_none_of_the_old_videos_results(home_copy: Path, tmp_path: Path):
    assert all(_result_rows(home_copy, TITLE).values())
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(20_000))
    assert {k: r.success for k, r in run_titles([broken], title=TITLE).items()} == {TITLE: False}
    row = _title_row(home_copy, TITLE)
    assert row["status"] == "failed" and str(broken) in row["error"]
    assert row["path"] == str(broken.resolve()) and row["frame_count"] is None and row["face_clusters_s"] is None
    assert _result_rows(home_copy, TITLE) == dict.fromkeys(RESULT_TABLES, 0)
    assert not (home_copy / "titles" / TITLE).exists()  # crops, embeddings, representative faces


def test_a_video_changed_after_its_frames_were_cut_fails_detection(home_copy: Path, processed, tmp_path: Path):
    changed = tmp_path / "clip.mp4"
    shutil.copyfile(processed.truth.path, changed)
    MediaLibrary(home_copy).register(TITLE, changed)
    with changed.open("ab") as fh:  # as if the drop were overwritten while the title ran
        fh.write(b"\0" * 1000)
    result = dg.materialize(
        [*all_assets, *all_checks],
        selection=[face_detections.key],
        partition_key=TITLE,
        instance=dg.DagsterInstance.get(),
        resources=build_resources(home_copy),
        raise_on_error=False,
    )
    assert not result.success
    row = _title_row(home_copy, TITLE)
    assert row["status"] == "failed"
    expected = f"face_detections: {changed}: the file changed after its frames were cut; run the title again"
    assert row["error"] == expected


def test_names_without_a_key_clashing_keys_and_missing_files_fail_alone(
    home_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    unnamed = tmp_path / "日本語.mp4"
    first, clash = tmp_path / "a b.mp4", tmp_path / "a_b.mp4"
    for video in (unnamed, first, clash):
        video.write_bytes(os.urandom(5_000))
    missing = tmp_path / "gone_s01e01.mp4"
    outcome = {k: r.success for k, r in run_titles([unnamed, first, clash, missing, tmp_path]).items()}
    assert outcome == {str(unnamed): False, "a_b": False, str(clash): False, "gone.s01e01": False, tmp_path.name: False}
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_code:  # the same through the command, which prints what happened
        main(["run", str(unnamed), str(first), str(clash), str(missing), str(tmp_path)])
    assert exit_code.value.code == 1
    err = capsys.readouterr().err
    assert f"{unnamed}: cannot derive a title key" in err
    assert f"{clash}: title key 'a_b' is also the key of {first}" in err
    assert f"FAILED: title a_b failed in frames: {first}: not a decodable video" in err  # the reason, no traceback
    assert "Traceback" not in err
    assert _title_row(home_copy, "gone.s01e01")["error"] == f"frames: {missing}: file not found"
    assert _title_row(home_copy, tmp_path.name)["error"] == f"frames: {tmp_path}: not a file"
    assert str(first) in _title_row(home_copy, "a_b")["error"]  # the first of the clash ran, and failed on its own


def test_a_stride_below_one_is_refused_before_any_title_is_touched(home_copy: Path, processed):
    before = _title_row(home_copy, TITLE)
    with pytest.raises(SystemExit, match="--stride 0: must be at least 1"):
        main(["run", str(processed.truth.path), "--title", TITLE, "--stride", "0"])
    assert _title_row(home_copy, TITLE) == before


@pytest.mark.parametrize(
    ("truth", "reason"),
    [
        ("frame_idx,x1,y1,x2,y2,identity\n", "no truth rows under the header"),
        ("frame_idx,x1,y1,x2,y2,identity\n0,1,1,nan,9,ann\n", "line 2: a value is not finite"),
        ("frame_idx,x1,y1,x2,y2,identity\n0,1,1,9,9,ann\n-3,1,1,9,9,ann\n", "line 3: frame_idx -3 is not a frame"),
        ("frame_idx,x1,y1,x2,y2,identity\n0,9,1,1,9,ann\n", r"line 2: box \[9.0, 1.0, 1.0, 9.0\] is empty"),
        ("frame_idx,x1,y1,x2,y2,identity\n100000,1,1,9,9,ann\n", "line 2: frame_idx 100000 is beyond the last frame"),
        ("frame_idx,x1,y1,x2,y2\n0,1,1,9,9\n", r"missing column\(s\) \['identity'\]"),
    ],
)
def test_evaluate_refuses_truth_that_cannot_be_scored(home_copy: Path, tmp_path: Path, truth: str, reason: str):
    path = tmp_path / "truth.csv"
    path.write_text(truth)
    with pytest.raises(SystemExit, match=f"^{re.escape(f'vcn evaluate: {path}: ')}{reason}"):
        main(["evaluate", TITLE, "--truth", str(path)])
    con = Warehouse(home_copy).connect()
    assert con.execute("SELECT count(*) FROM evaluations WHERE run_id = 'vcn evaluate'").fetchone() == (0,)


def test_evaluate_refuses_a_failed_title_and_a_meaningless_iou(home_copy: Path, processed):
    truth = str(processed.truth.path.with_name("clip.faces.csv"))
    refused = r"title 'broken_show.s01e02' has no clusters to score \(status failed: frames"
    with pytest.raises(SystemExit, match=refused):
        main(["evaluate", "broken_show.s01e02", "--truth", truth])
    with pytest.raises(SystemExit, match=r"IoU threshold 5.0: must be above 0 and at most 1"):
        main(["evaluate", TITLE, "--truth", truth, "--iou", "5"])
