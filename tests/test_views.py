"""The SQL views people query (cast_list, screen_time, cooccurrence, title_summary), against the tables
they summarise, through the same DuckDB views `vcn sql` opens."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import pytest

from vcn_resources.schemas import VIEWS
from vcn_resources.warehouse import Warehouse

TITLE = "clip"


@pytest.fixture(scope="module")
def con(processed) -> duckdb.DuckDBPyConnection:
    return Warehouse(processed.home).connect()


def _one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql, [TITLE]).fetchone()


def test_cast_list(con, processed):
    cast = con.execute(
        "SELECT cluster, screen_rank, screen_seconds, crop_path, model_version FROM cast_list WHERE title = ? "
        "ORDER BY screen_rank",
        [TITLE],
    ).fetchall()
    assert len(cast) == len(processed.truth.identities)
    assert [r[1] for r in cast] == list(range(1, len(cast) + 1))
    assert [r[2] for r in cast] == sorted((r[2] for r in cast), reverse=True)
    assert all(Path(r[3]).is_file() for r in cast)
    assert {r[4] for r in cast} == {
        _one(con, "SELECT any_value(model_version) FROM cluster_assignments WHERE title = ?")[0]
    }
    assert sum(r[2] for r in cast) == pytest.approx(
        _one(con, "SELECT sum(screen_seconds) FROM identities WHERE title = ?")[0]
    )


def test_screen_time_shares_and_series_keys(con):
    shares = con.execute("SELECT series, season, share FROM screen_time WHERE title = ?", [TITLE]).fetchall()
    assert {(s, season) for s, season, _ in shares} == {(TITLE, None)}
    assert sum(r[2] for r in shares) == pytest.approx(1.0)
    # Series and season come from the title key: the view's SQL over a stand-in identities table.
    mem = duckdb.connect()
    mem.execute(
        "CREATE TABLE identities AS SELECT * FROM (VALUES ('show.s01e03', 0, 3.0), ('show.s01e03', 1, 1.0), "
        "('show.s02', 0, 2.0)) t(title, cluster, screen_seconds)"
    )
    mem.execute("CREATE TABLE person_appearances (season TEXT, person_id TEXT, title TEXT, cluster BIGINT)")
    mem.execute("INSERT INTO person_appearances VALUES ('show.s01', 'show.s01/p0001', 'show.s01e03', 1)")
    mem.execute("CREATE TABLE season_persons (season TEXT, person_id TEXT, name TEXT)")
    mem.execute("INSERT INTO season_persons VALUES ('show.s01', 'show.s01/p0001', 'Ann')")
    rows = mem.execute(
        f"SELECT series, season, title, cluster, person_id, name, share FROM ({VIEWS['screen_time']}) ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("show", "show.s01", "show.s01e03", 0, None, None, 0.75),
        ("show", "show.s01", "show.s01e03", 1, "show.s01/p0001", "Ann", 0.25),
        ("show", "show.s02", "show.s02", 0, None, None, 1.0),
    ]


def test_cooccurrence_counts_shots_shared(con):
    pairs = {
        (a, b): n
        for a, b, n in con.execute(
            "SELECT cluster_a, cluster_b, shots_together FROM cooccurrence WHERE title = ?", [TITLE]
        ).fetchall()
    }
    shot_clusters: dict[int, set[int]] = {}
    for shot, cluster in con.execute(
        "SELECT t.shot, c.cluster FROM tracks t JOIN cluster_assignments c USING (title, track) WHERE title = ?",
        [TITLE],
    ).fetchall():
        shot_clusters.setdefault(shot, set()).add(cluster)
    expected: dict[tuple[int, int], int] = {}
    for clusters in shot_clusters.values():
        for pair in itertools.combinations(sorted(clusters), 2):
            expected[pair] = expected.get(pair, 0) + 1
    assert pairs == expected and pairs


def test_title_summary(con, processed):
    summary = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT title, status, error, shots, faces, tracks_kept + tracks_set_aside, identities, "
            "frames_s, face_clusters_s FROM title_summary"
        ).fetchall()
    }
    status, error, shots, faces, tracks, identities, frames_s, clusters_s = summary[TITLE]
    assert (status, error) == ("done", None)
    assert shots == len(processed.truth.shot_starts)
    assert faces == _one(con, "SELECT count(*) FROM face_detections WHERE title = ?")[0]
    assert tracks == _one(con, "SELECT count(*) FROM tracks WHERE title = ?")[0]
    assert identities == len(processed.truth.identities)
    assert frames_s > 0 and clusters_s is not None
    broken = summary["broken_show.s01e02"]
    assert broken[0] == "failed" and broken[1].startswith("frames:") and broken[2:6] == (0, 0, 0, 0)


def test_vcn_sql_reads_the_views(home_env, capsys):
    from vcn_dagster.cli import main

    main(["sql", "SELECT title, count(*) AS people FROM cast_list GROUP BY title"])
    assert f"{TITLE}\t{len(home_env.truth.identities)}" in capsys.readouterr().out.splitlines()


def test_an_artifact_written_a_batch_at_a_time_appears_whole_or_not_at_all(tmp_path: Path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vcn_resources.warehouse import ROW_GROUP

    warehouse = Warehouse(tmp_path)
    schema = pa.schema([("face", pa.int64()), ("crop_jpeg", pa.binary())])
    total = 2 * ROW_GROUP + 5
    with warehouse.artifact_appender("t", "faces", schema) as artifact:
        for start in range(0, total, 7):  # batches of 7 rows, as frames with faces come
            faces = np.arange(start, min(start + 7, total))
            artifact.append({"face": faces, "crop_jpeg": [bytes([f % 256]) for f in faces]})
        assert not warehouse.has_artifact("t", "faces")  # nothing visible while it is written
    stored = pq.ParquetFile(warehouse.artifact_path("t", "faces"))
    sizes = [stored.metadata.row_group(g).num_rows for g in range(stored.metadata.num_row_groups)]
    assert sizes == [ROW_GROUP, ROW_GROUP, 5]  # whole row groups, however the rows came
    assert stored.read().column("face").to_pylist() == list(range(total))

    # A write that fails leaves the earlier file as it was, and no temporary file beside it.
    with pytest.raises(RuntimeError), warehouse.artifact_appender("t", "faces", schema) as artifact:
        artifact.append({"face": [0], "crop_jpeg": [b"x"]})
        raise RuntimeError("detector crashed")
    assert pq.read_table(warehouse.artifact_path("t", "faces")).num_rows == total
    assert [p.name for p in warehouse.artifact_path("t", "faces").parent.iterdir()] == ["faces.parquet"]


def test_a_home_named_with_quotes_and_brackets_moves_and_still_answers(tmp_path: Path):
    """`Show [2019]'s` would break a quoted glob; a home copied elsewhere must show its own rows, not the old
    place's (the views are refreshed when their paths change)."""
    first = tmp_path / "Show [2019]'s" / "home"
    Warehouse(first).write(
        "shots",
        "a.s01e01",
        {"shot": [0, 1], "start_frame": [0, 5], "end_frame": [4, 9], "start_s": [0.0, 0.5], "end_s": [0.5, 1.0]},
        "r",
        "v",
    )
    assert Warehouse(first).query("SELECT count(*) FROM shots")[1] == [(2,)]
    moved = tmp_path / "elsewhere [copy]" / "home"
    first.parent.rename(moved.parent)
    Warehouse(moved).write(
        "shots",
        "b.s01e01",
        {"shot": [0], "start_frame": [0], "end_frame": [4], "start_s": [0.0], "end_s": [0.5]},
        "r",
        "v",
    )
    assert Warehouse(moved).query("SELECT count(*) FROM shots")[1] == [(3,)]
    assert Warehouse(moved).connect().execute("SELECT count(*) FROM shots").fetchone() == (3,)


def test_pictures_of_a_moved_home_are_found_where_the_home_is_now(tmp_path: Path):
    """`crop_path` is stored relative to the home: after a move, the views point into the new place."""
    first = tmp_path / "first"
    picture = first / "titles" / "a.s01e01" / "identities" / "cluster_0.jpg"
    picture.parent.mkdir(parents=True)
    picture.write_bytes(b"jpeg")
    row = {"cluster": [0], "tracks": [1], "faces": [3], "screen_seconds": [0.3], "first_seen_s": [0.0]}
    row |= {"last_seen_s": [0.2], "crop_path": [Warehouse(first).home_relative(picture)]}
    Warehouse(first).write("identities", "a.s01e01", row, "r", "v")
    moved = tmp_path / "mounted elsewhere" / "home"
    moved.parent.mkdir()
    first.rename(moved)
    for answer in (
        Warehouse(moved).query("SELECT crop_path FROM identities")[1],
        Warehouse(moved).connect().execute("SELECT crop_path FROM identities").fetchall(),
    ):
        (path,) = answer[0]
        assert Path(path) == moved / "titles" / "a.s01e01" / "identities" / "cluster_0.jpg" and Path(path).exists()


def test_opening_the_views_writes_nothing(tmp_path: Path):
    """Each `vcn sql`, `vcn titles` opens the views: the tables' empty files are written once, not at every call
    (Parquet returns second-resolution timestamps in ms: compared as written, five were rewritten each time)."""
    warehouse = Warehouse(tmp_path)
    warehouse.connect().close()
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "warehouse").rglob("_empty.parquet")}
    assert written
    warehouse.connect().close()
    assert {p: p.stat().st_mtime_ns for p in written} == written
