"""Bad input, as a hostile user gives it: each gets an error naming the file and the reason, the title is
failed, the other titles carry on, and no results of another video stay visible under the title."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from vcn_assets.faces import face_detections
from vcn_dagster.cli import main
from vcn_dagster.definitions import all_assets, all_checks, build_resources
from vcn_dagster.operations import run_titles
from vcn_resources.media import MediaLibrary
from vcn_resources.warehouse import RESULT_TABLES, Warehouse
from videoclusternet.synthetic import garbage

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
    broken.write_bytes(garbage(20_000))
    assert {k: r.success for k, r in run_titles([broken], title=TITLE).items()} == {TITLE: False}
    row = _title_row(home_copy, TITLE)
    assert row["status"] == "failed" and str(broken) in row["error"]
    assert row["path"] == str(broken.resolve()) and row["frame_count"] is None and row["face_clusters_s"] is None
    # Refused on its first frame, never hashed (a 20 GB file that is no video took 99 s of hashing to fail).
    assert row["content_sha256"] is None and MediaLibrary(home_copy).find(TITLE).sha256 == ""
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
        video.write_bytes(garbage(5_000))
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
    assert f"error: title gone.s01e01: frames: {missing}: file not found" in err
    assert f"error: title {tmp_path.name}: frames: {tmp_path}: not a file" in err
    assert not _title_row(home_copy, "gone.s01e01") and not _title_row(home_copy, tmp_path.name)  # none made
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


def test_a_symlink_loop_fails_its_file_alone_and_the_good_title_finishes(
    home_copy: Path, processed, tmp_path: Path, capsys: pytest.CaptureFixture
):
    loop, other = tmp_path / "loop_s01e01.mp4", tmp_path / "other"
    loop.symlink_to(other)
    other.symlink_to(loop)
    good = tmp_path / "good_s01e01.mp4"
    shutil.copyfile(processed.truth.path, good)
    with pytest.raises(SystemExit) as exit_code:
        main(["run", str(loop), str(good)])
    assert exit_code.value.code == 1
    err = capsys.readouterr().err
    assert f"error: title loop.s01e01: frames: {loop}: Too many levels of symbolic links" in err
    assert "Traceback" not in err
    assert _title_row(home_copy, "good.s01e01")["status"] == "done"


def test_the_commands_settings_are_kept_with_the_title_even_when_its_run_fails(home_copy: Path, tmp_path: Path):
    video = tmp_path / "Settings.S01E01.mp4"
    video.write_bytes(garbage(5_000))  # not decodable: the run fails fast, which is not the point here
    with pytest.raises(SystemExit):
        main(["run", str(video), "--stride", "2", "--no-mirror"])
    entry = MediaLibrary(home_copy).lookup("settings.s01e01")
    assert (entry.stride, entry.adapt, entry.mirror) == (2, False, False)
    with pytest.raises(SystemExit):
        main(["run", str(video), "--mirror"])
    entry = MediaLibrary(home_copy).lookup("settings.s01e01")
    assert (entry.stride, entry.mirror) == (2, True)


def test_a_second_file_with_a_titles_key_is_refused_unless_replace(home_copy: Path, tmp_path: Path, capsys):
    part1, part2 = tmp_path / "Dup.Show.S01E01.Part1.mp4", tmp_path / "Dup.Show.S01E01.Part2.mp4"
    for video in (part1, part2):
        video.write_bytes(garbage(5_000))  # not decodable: the runs fail fast, which is not the point here
    run_titles([part1])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_code:
        main(["run", str(part2)])
    assert exit_code.value.code == 1
    err = capsys.readouterr().err
    assert f"error: {part2}: title 'dup_show.s01e01' is {part1}'s; pass --title KEY" in err
    assert _title_row(home_copy, "dup_show.s01e01")["path"] == str(part1)
    with pytest.raises(SystemExit):  # it fails to decode, but it is the title's video now
        main(["run", str(part2), "--replace"])
    assert _title_row(home_copy, "dup_show.s01e01")["path"] == str(part2)


def test_a_stride_longer_than_the_video_sees_every_shot(home_copy: Path, processed):
    assert run_titles([processed.truth.path], title=TITLE, stride=100_000, adapt=False)[TITLE].success
    con = Warehouse(home_copy).connect()
    frames = con.execute("SELECT count(*), count(DISTINCT shot) FROM frames WHERE title = ?", [TITLE]).fetchone()
    shots = con.execute("SELECT count(*) FROM shots WHERE title = ?", [TITLE]).fetchone()[0]
    assert frames == (shots, shots) and shots > 1  # one frame of each shot
    faces = con.execute("SELECT DISTINCT frame FROM face_detections WHERE title = ?", [TITLE]).fetchall()
    listed = {f for (f,) in con.execute("SELECT frame FROM frames WHERE title = ?", [TITLE]).fetchall()}
    assert faces and {f for (f,) in faces} <= listed


def test_export_of_a_failed_title_says_why_and_exits_1(home_copy: Path, tmp_path: Path):
    out = tmp_path / "out.csv"
    with pytest.raises(SystemExit, match=r"^vcn export: broken_show.s01e02 failed in frames: .*nothing to export"):
        main(["export", "broken_show.s01e02", "--out", str(out)])
    assert not out.exists()


def test_sql_answers_while_a_notebook_holds_the_database_for_writing(home_copy: Path, capsys):
    import subprocess
    import sys

    Warehouse(home_copy).sync_views()
    db = home_copy / "vcn.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys, time; c = duckdb.connect({str(db)!r}); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "1"
        capsys.readouterr()
        main(["sql", "SELECT count(*) AS n FROM titles"])
        captured = capsys.readouterr()
        assert captured.out.splitlines()[0] == "n" and int(captured.out.splitlines()[1]) >= 1
        (line,) = captured.err.strip().splitlines()
        assert line.startswith(f"vcn sql: {db} is open for writing in process {holder.pid} (")
        assert "read_only=True" in line
    finally:
        holder.kill()


def test_a_file_cut_short_runs_on_its_decoded_frames_with_a_warning(
    home_copy: Path, processed, tmp_path: Path, capsys: pytest.CaptureFixture
):
    import cv2

    capture = cv2.VideoCapture(str(processed.truth.path))
    ok, frame = capture.read()
    whole = tmp_path / "whole.mkv"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"VP80"), 25, (frame.shape[1], frame.shape[0]))
    while ok:
        writer.write(frame)
        ok, frame = capture.read()
    writer.release()
    cut = tmp_path / "cut_s01e01.mkv"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.95)])  # a download stopped at 95%
    capsys.readouterr()
    main(["run", str(cut)])
    out = capsys.readouterr().out
    row = _title_row(home_copy, "cut.s01e01")
    listed = int(cv2.VideoCapture(str(cut)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert row["status"] == "done" and row["frame_count"] < listed
    assert f"warning: frames check frames_match_the_container: {row['frame_count']} frames decoded where" in out
    assert "; to fix: fetch the file again if it was cut short, or re-encode it" in out
    con = Warehouse(home_copy).connect()
    last = con.execute("SELECT max(frame) FROM frames WHERE title = 'cut.s01e01'").fetchone()[0]
    assert last < row["frame_count"]  # no phantom frame in the manifest


def test_limits_refuse_before_reading_and_a_4k_frame_is_announced(
    home_copy: Path, processed, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    import cv2
    import numpy as np

    big = tmp_path / "big_s01e01.mp4"
    shutil.copyfile(processed.truth.path, big)
    monkeypatch.setenv("VCN_MAX_FILE_GB", "0.00001")
    with pytest.raises(SystemExit):
        main(["run", str(big)])
    assert f"error: title big.s01e01: frames: {big}: 0.0 GB is over the limit of 1e-05 GB (VCN_MAX_FILE_GB" in (
        capsys.readouterr().err
    )
    monkeypatch.delenv("VCN_MAX_FILE_GB")
    monkeypatch.setenv("VCN_MAX_HOURS", "0.0001")
    with pytest.raises(SystemExit):
        main(["run", str(big)])
    assert "h is over the limit of 0.0001 h (VCN_MAX_HOURS raises it)" in capsys.readouterr().err
    assert not _title_row(home_copy, "big.s01e01")  # refused before it became a title
    monkeypatch.delenv("VCN_MAX_HOURS")

    uhd = tmp_path / "uhd_s01e01.mp4"
    writer = cv2.VideoWriter(str(uhd), cv2.VideoWriter_fourcc(*"mp4v"), 10, (3840, 2160))
    for _ in range(3):
        writer.write(np.full((2160, 3840, 3), 90, np.uint8))
    writer.release()
    main(["run", str(uhd)])
    err = capsys.readouterr().err
    assert f"warning: {uhd}: 3840x2160 frames: face detection takes about 4 times as long as at 1920x1080" in err
    assert _title_row(home_copy, "uhd.s01e01")["status"] == "done"


def test_a_run_with_other_settings_that_stops_halfway_leaves_no_mixed_rows(home_copy: Path):
    """A re-run with `--stride 3` that got through face_detections only (killed, say): the old run's tracks and
    clusters are gone with it, so no new detection is joined to an old cluster."""
    from vcn_assets.media import frames

    result = dg.materialize(
        [*all_assets, *all_checks],
        selection=[frames.key, face_detections.key],
        partition_key=TITLE,
        instance=dg.DagsterInstance.get(),
        resources=build_resources(home_copy),
        run_config={"ops": {"frames": {"config": {"stride": 3}}}},
        raise_on_error=False,
    )
    assert result.success
    rows = _result_rows(home_copy, TITLE)
    assert rows["face_detections"] and rows["frames"]
    assert all(rows[t] == 0 for t in ("face_track_members", "tracks", "track_embeddings", "track_clusters"))
    con = Warehouse(home_copy).connect()
    mixed = con.execute(
        "SELECT count(*) FROM detections WHERE title = ? AND (cluster IS NOT NULL OR person_id IS NOT NULL)", [TITLE]
    ).fetchone()
    assert mixed == (0,)


def test_a_reader_that_stops_reading_gets_no_traceback(tmp_path: Path):
    """`vcn sql ... | head`: the pipe closes under the writer; one quiet exit, no BrokenPipeError traceback."""
    env = {**os.environ, "VCN_HOME": str(tmp_path / "home")}
    vcn = [sys.executable, "-m", "vcn_dagster.cli", "sql", "SELECT * FROM range(200000)"]
    writer = subprocess.Popen(vcn, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout.readline() == b"range\n"
    writer.stdout.close()  # as `head -1` does
    assert writer.wait(60) == 1
    assert writer.stderr.read() == b""


def test_failed_titles_are_listed_and_forgotten_together(home_copy: Path, tmp_path: Path, capsys):
    """A text file that became a failed title is no clutter for good: `vcn titles --failed` lists the failed
    titles alone, and `vcn delete --failed` forgets them; the good title stays."""
    notes = tmp_path / "notes_s01e09.mp4"
    notes.write_text("not a video\n")
    with pytest.raises(SystemExit):
        main(["run", str(notes)])
    capsys.readouterr()
    main(["titles", "--failed"])
    listed = capsys.readouterr().out.splitlines()[1:]
    assert any(line.startswith("notes.s01e09\tfailed\t") for line in listed)
    assert all("\tfailed\t" in line for line in listed)
    main(["delete", "--failed"])
    assert "title notes.s01e09 deleted" in capsys.readouterr().out
    main(["titles"])
    remaining = capsys.readouterr().out
    assert "notes.s01e09" not in remaining and "failed" not in remaining and f"{TITLE}\tdone" in remaining


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="drops root's right to read any file with setpriv"
)
def test_a_file_the_user_cannot_read_fails_alone(home_copy: Path, processed, tmp_path: Path):
    """Root reads every file, so the run drops that capability (as a user without rights on the file would be)."""
    locked, good = tmp_path / "locked_s01e01.mp4", tmp_path / "good_s01e05.mp4"
    shutil.copyfile(processed.truth.path, good)
    shutil.copyfile(processed.truth.path, locked)
    locked.chmod(0)
    caps = "-dac_override,-dac_read_search"
    vcn = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", sys.executable, "-m", "vcn_dagster.cli"]
    run = subprocess.run([*vcn, "run", str(locked), str(good)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"error: title locked.s01e01: frames: {locked}: Permission denied" in run.stderr
    assert _title_row(home_copy, "good.s01e05")["status"] == "done" and not _title_row(home_copy, "locked.s01e01")
