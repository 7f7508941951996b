"""Tables as one Parquet file per (table, title) under DuckDB views.

Why: DuckDB allows one writer per database file, and a user holding the file open for SQL would
block a run. So runs never write the database file: each stage replaces its title's Parquet file
atomically (write to a temporary name, then rename), and `vcn.duckdb` only holds views over those
files. Concurrent titles touch different files; readers see a title's old rows or its new rows,
never a mix or a half-written file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vcn_resources.schemas import TABLES, VIEWS
from videoclusternet.stages import STAGE_NAMES

log = logging.getLogger(__name__)
EMPTY_FILE = "_empty.parquet"  # zero rows, so a table with no title yet still has its columns
# Appended to, never replaced: a title's evaluations over time.
HISTORY_TABLES = ("evaluations", "evaluation_identities", "person_id_changes", "correction_log")
# Tables keyed by season (`season_cast` writes them), not by title.
SEASON_TABLES = [name for name, schema in TABLES.items() if schema.names[0] == "season"]
# What a title's stages made from its video, in pipeline order; `titles` and the history tables are not.
RESULT_TABLES = [name for name in TABLES if name not in ("titles", *HISTORY_TABLES, *SEASON_TABLES)]
# What each title stage makes: its tables, and its files under `titles/<title>/`.
STAGE_OUTPUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "frames": (("shots", "frames"), ()),
    "face_detections": (("face_detections",), ("faces.parquet",)),
    "face_tracks": (("face_track_members", "tracks"), ("probe_embeddings.parquet",)),
    "face_embeddings": (("track_embeddings",), ("embeddings.parquet",)),
    "adapted_model": (("adapted_models",), ()),
    "adapted_embeddings": ((), ("adapted_embeddings.parquet",)),
    "face_clusters": (("track_clusters", "identities"), ("identities",)),
}
# Tables renamed since a home was made: old folder -> new (ensure_layout moves them).
_RENAMED = {"cluster_assignments": "track_clusters"}
# The columns of a title's `titles` row that describe its video and its stages' work, not the title itself.
_TITLE_OWN = {"title", "path", "content_sha256", "status", "stage", "error", "updated_at", "run_id", "code_version"}
TITLE_RESULT_FIELDS = [name for name in TABLES["titles"].names if name not in _TITLE_OWN]


# Row groups of 8k rows: a reader decodes one group at a time, not a whole episode's column at once.
ROW_GROUP = 8192


# Columns that name a file of the home: stored relative to it, so that a home copied, renamed or mounted elsewhere
# still finds its pictures; the views give them as absolute paths in the home where they are read.
HOME_PATH_COLUMNS = {"identities": ("crop_path",), "season_persons": ("crop_path", "sheet_path")}


def _sql_string(text: str) -> str:
    """`text` as a DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def _sql_glob(folder: Path) -> str:
    """A DuckDB string literal globbing the Parquet files of `folder`, whatever its name holds: quotes doubled,
    and glob characters (`[`, `*`, `?`, as in a home called `Show [2019]`) taken literally."""
    return _sql_string(re.sub(r"([\[*?])", r"[\1]", str(folder)) + "/*.parquet")


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary name beside `path`, to write; it replaces `path` when the block ends without an error,
    and is removed otherwise, so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _as_parquet_returns(schema: pa.Schema) -> pa.Schema:
    """The schema as Parquet reads it back: it keeps no second-resolution timestamps (they return in ms).
    Compared with the schema as written, every connection would rewrite those tables' empty files."""
    return pa.schema(
        [
            f.with_type(pa.timestamp("ms", f.type.tz)) if pa.types.is_timestamp(f.type) and f.type.unit == "s" else f
            for f in schema
        ],
        metadata=schema.metadata,
    )


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP)


class ParquetAppender:
    """Rows appended in batches of any size, written in row groups of ROW_GROUP rows as they fill."""

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self._writer = writer
        self._pending: list[pa.Table] = []
        self._rows = 0

    def append(self, columns: dict[str, Any]) -> None:
        batch = pa.table(columns, schema=self._writer.schema)
        self._pending.append(batch)
        self._rows += batch.num_rows
        if self._rows >= ROW_GROUP:
            self.flush(whole_groups_only=True)

    def flush(self, whole_groups_only: bool = False) -> None:
        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        cut = table.num_rows // ROW_GROUP * ROW_GROUP if whole_groups_only else table.num_rows
        if cut:
            self._writer.write_table(table.slice(0, cut), row_group_size=ROW_GROUP)
        rest = table.slice(cut)
        self._pending, self._rows = ([rest] if rest.num_rows else []), rest.num_rows


@dataclass(frozen=True)
class TitleInfo:
    """A title's row of `titles`: its video, where its run stands, and the wall seconds of each stage done."""

    title: str
    path: str | None
    content_sha256: str | None
    status: str | None
    stage: str | None
    error: str | None
    fps: float | None
    frame_count: int | None
    stride: int | None
    duration_s: float | None
    width: int | None
    height: int | None
    stage_seconds: dict[str, float]
    run_id: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TitleInfo:
        own = {f.name for f in fields(cls)} - {"stage_seconds"}
        seconds = {s: row[f"{s}_s"] for s in STAGE_NAMES if row.get(f"{s}_s") is not None}
        return cls(**{k: row.get(k) for k in own}, stage_seconds=seconds)

    @property
    def frame_step_s(self) -> float:
        """Seconds between two frames that faces were detected on."""
        return (self.stride or 1) / (self.fps or 1.0)


@dataclass(frozen=True)
class AdaptedModel:
    """A title's row of `adapted_models`: the MLflow run and registered version of its adapted face model."""

    mlflow_run_id: str
    model_uri: str
    registered_model: str
    model_version: str
    checkpoint_sha256: str

    @property
    def name(self) -> str:
        """`vcn-<series>/<version>`, as cluster assignments record it."""
        return f"{self.registered_model}/{self.model_version}"


@dataclass(frozen=True)
class TitleSummary:
    """What a title's run found: its `titles` row, and the counts of what its stages made."""

    info: TitleInfo
    shots: int
    faces: int
    tracks_by_status: dict[str, int]
    identities: int


class Warehouse:
    """The product's tables (Parquet per title) and the DuckDB file of views users query, in one home folder."""

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)

    def __repr__(self) -> str:
        return f"Warehouse({str(self.home)!r})"

    @property
    def root(self) -> Path:
        return self.home / "warehouse"

    @property
    def db_path(self) -> Path:
        return self.home / "vcn.duckdb"

    def season_dir(self, season: str) -> Path:
        """Per-season files that are not tables: the faces of each person, for the next linking to match."""
        path = self.home / "seasons" / season
        path.mkdir(parents=True, exist_ok=True)
        return path

    def title_dir(self, title: str) -> Path:
        """Per-title files that are not tables: aligned crops, embeddings, representative faces."""
        path = self.home / "titles" / title
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write(
        self, table: str, key: str, columns: dict[str, Any], run_id: str, code_version: str, append: bool = False
    ) -> int:
        """Replace the rows of `table` for `key` (a title, or a season for a season table) with `columns`
        (equal-length lists/arrays), or with `append` add them beside the earlier ones (history tables).
        Returns the row count."""
        schema = TABLES[table]
        n = len(next(iter(columns.values()))) if columns else 0
        data = {schema.names[0]: [key] * n, "run_id": [run_id] * n, "code_version": [code_version] * n, **columns}
        arrays = [pa.array(data[f.name], type=f.type) if f.name in data else pa.nulls(n, f.type) for f in schema]
        name = f"{key}.{uuid.uuid4().hex[:12]}" if append else key
        write_parquet_atomic(pa.Table.from_arrays(arrays, schema=schema), self.root / table / f"{name}.parquet")
        return n

    def artifact_path(self, title: str, name: str) -> Path:
        """Where a title's private file (not a SQL table) lies: a Parquet file, in row groups of 8k rows."""
        return self.title_dir(title) / f"{name}.parquet"

    def write_artifact(self, title: str, name: str, columns: dict[str, Any]) -> Path:
        """A title's private file, replaced atomically like the tables."""
        path = self.artifact_path(title, name)
        write_parquet_atomic(pa.table(columns), path)
        return path

    @contextmanager
    def artifact_appender(self, title: str, name: str, schema: pa.Schema) -> Iterator[ParquetAppender]:
        """Write a title's private file a batch at a time (a long title's rows need not all be in memory);
        it replaces the old file, atomically, only when the block ends without an error."""
        with atomic_file(self.artifact_path(title, name)) as tmp, pq.ParquetWriter(tmp, schema) as writer:
            appender = ParquetAppender(writer)
            yield appender
            appender.flush()

    def has_artifact(self, title: str, name: str) -> bool:
        return self.artifact_path(title, name).exists()

    def read_artifact(self, title: str, name: str, columns: list[str] | None = None) -> pa.Table:
        path = self.artifact_path(title, name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: materialise the upstream asset of title {title!r} first")
        return pq.read_table(path, columns=columns)

    def read_title(self, table: str, title: str) -> pa.Table | None:
        path = self.root / table / f"{title}.parquet"
        return pq.read_table(path) if path.exists() else None

    def rows(self, table: str, title: str) -> dict[str, np.ndarray]:
        """A title's rows of an upstream table as numpy columns; a clear error when it was never written."""
        found = self.read_title(table, title)
        if found is None:
            raise FileNotFoundError(f"table {table!r} has no rows for title {title!r}: materialise it first")
        return {name: found.column(name).to_numpy(zero_copy_only=False) for name in found.column_names}

    def update_title(self, title: str, run_id: str, code_version: str, **fields: Any) -> None:
        """Merge `fields` into the title's row of `titles` (one stage at a time writes it)."""
        old = self.read_title("titles", title)
        row = {k: v[0] for k, v in old.to_pydict().items()} if old is not None and old.num_rows else {}
        row.update(fields, updated_at=dt.datetime.now(dt.UTC))
        row.pop("title", None)
        row.pop("run_id", None)
        row.pop("code_version", None)
        self.write("titles", title, {k: [v] for k, v in row.items()}, run_id, code_version)

    def title_info(self, title: str) -> TitleInfo | None:
        """The title's row of `titles`; None for a title never run."""
        row = self.read_title("titles", title)
        if row is None or not row.num_rows:
            return None
        return TitleInfo.from_row({k: v[0] for k, v in row.to_pydict().items()})

    def require_title(self, title: str) -> TitleInfo:
        """The title's row of `titles`; a clear error for a title that was never run."""
        info = self.title_info(title)
        if info is None:
            raise FileNotFoundError(f"title {title!r} has no row in `titles`: run its `frames` stage first")
        return info

    def summaries(self, titles: list[str] | None = None) -> list[TitleSummary]:
        """The summary of each title (every title of the home, by key, when None); titles never run are left out."""
        con = self.connect()
        wanted = "" if titles is None else "WHERE title IN (SELECT unnest(?))"
        cursor = con.execute(f"SELECT * FROM titles {wanted} ORDER BY title", [] if titles is None else [titles])
        columns = [d[0] for d in cursor.description]
        infos = {row[0]: TitleInfo.from_row(dict(zip(columns, row))) for row in cursor.fetchall()}

        def counts(sql: str) -> dict[str, int]:
            return dict(con.execute(sql).fetchall())

        shots = counts("SELECT title, count(*) FROM shots GROUP BY title")
        faces = counts("SELECT title, count(*) FROM face_detections GROUP BY title")
        people = counts("SELECT title, count(*) FROM identities GROUP BY title")
        by_status: dict[str, dict[str, int]] = {}
        for title, status, n in con.execute("SELECT title, status, count(*) FROM tracks GROUP BY ALL").fetchall():
            by_status.setdefault(title, {})[status] = n
        order = titles if titles is not None else sorted(infos)
        return [
            TitleSummary(infos[t], shots.get(t, 0), faces.get(t, 0), by_status.get(t, {}), people.get(t, 0))
            for t in order
            if t in infos
        ]

    def content_sha256(self, title: str) -> str | None:
        """The hash of the video the title's frames were last cut from (None before its first run)."""
        info = self.title_info(title)
        return info.content_sha256 if info else None

    def adapted_model(self, title: str) -> AdaptedModel:
        """The title's adapted model as `adapted_model` registered it; a clear error when there is none."""
        row = self.read_title("adapted_models", title)
        if row is None or not row.num_rows:
            raise FileNotFoundError(f"title {title!r} has no adapted model: materialise `adapted_model` first")
        values = {k: v[0] for k, v in row.to_pydict().items()}
        return AdaptedModel(**{f.name: values[f.name] for f in fields(AdaptedModel)})

    def retract_below(self, title: str, stage_name: str) -> None:
        """Remove what the stages after `stage_name` made of the title, last stage first, as that stage starts:
        its new rows never meet the old run's rows below it (new detections joined to old clusters, when a run
        with other settings stops halfway). The run goes on to make them again."""
        later = STAGE_NAMES[STAGE_NAMES.index(stage_name) + 1 :]
        for stage_name_below in reversed(later):
            tables, artifacts = STAGE_OUTPUTS[stage_name_below]
            for table in tables:
                (self.root / table / f"{title}.parquet").unlink(missing_ok=True)
            for artifact in artifacts:
                path = self.home / "titles" / title / artifact
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def retract_title(self, title: str) -> None:
        """Remove what the title's stages made (its rows of every result table, then its files), for a title
        whose video changed. Last stage first: a reader meanwhile sees an upstream part of the old results,
        never rows whose upstream rows are gone."""
        for table in reversed(RESULT_TABLES):
            (self.root / table / f"{title}.parquet").unlink(missing_ok=True)
        shutil.rmtree(self.home / "titles" / title, ignore_errors=True)

    def forget_title(self, title: str) -> None:
        """Remove every trace of the title from the tables: its results, its `titles` row, its evaluations."""
        self.retract_title(title)
        history = re.compile(rf"{re.escape(title)}\.[0-9a-f]{{12}}\.parquet")  # `write(..., append=True)` names
        for table in HISTORY_TABLES:
            for path in (self.root / table).glob("*.parquet"):
                if history.fullmatch(path.name):
                    path.unlink()
        (self.root / "titles" / f"{title}.parquet").unlink(missing_ok=True)

    def ensure_layout(self) -> None:
        for old, new in _RENAMED.items():
            if (self.root / old).is_dir() and not (self.root / new).exists():
                os.replace(self.root / old, self.root / new)
        for name, schema in TABLES.items():
            empty = self.root / name / EMPTY_FILE
            if not empty.exists() or pq.read_schema(empty) != _as_parquet_returns(schema):
                write_parquet_atomic(schema.empty_table(), empty)

    def _view_sql(self) -> list[str]:
        sql = [f"CREATE OR REPLACE VIEW {name} AS {self._table_select(name)}" for name in TABLES]
        sql += [f"CREATE OR REPLACE VIEW {name} AS {body}" for name, body in VIEWS.items()]
        return sql

    def _table_select(self, name: str) -> str:
        """The query of table `name`'s view: its Parquet files, with paths of the home made absolute (one
        written before they were stored relative, already absolute, is left as it is)."""
        source = f"read_parquet({_sql_glob(self.root / name)}, union_by_name = true)"
        if name not in HOME_PATH_COLUMNS:
            return f"SELECT * FROM {source}"
        home = _sql_string(f"{self.home.absolute()}/")
        absolute = [
            f"CASE WHEN starts_with({c}, '/') THEN {c} ELSE {home} || {c} END AS {c}" for c in HOME_PATH_COLUMNS[name]
        ]
        return f"SELECT * REPLACE ({', '.join(absolute)}) FROM {source}"

    def home_relative(self, path: Path) -> str:
        """`path`, a file of the home, as stored in a HOME_PATH_COLUMNS column."""
        return path.absolute().relative_to(self.home.absolute()).as_posix()

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A private in-memory connection with the same views: the pipeline's own reads never lock the file."""
        self.ensure_layout()
        con = duckdb.connect()
        for statement in self._view_sql():
            con.execute(statement)
        return con

    def query(self, sql: str, warn: Callable[[str], None] = log.warning) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of a query on the database file, opened read-only (refreshed views first);
        duckdb.Error for a query DuckDB refuses. While another process holds the file open for writing, the
        query runs on the same views in memory, and `warn` says who holds it."""
        self.sync_views()
        try:
            con = duckdb.connect(str(self.db_path), read_only=True)
        except duckdb.IOException as exc:
            holder = re.search(r"held in (\S+) \(PID (\d+)\)", str(exc))
            who = f"process {holder[2]} ({Path(holder[1]).name})" if holder else "another process"
            warn(
                f"{self.db_path} is open for writing in {who}; answered from the Parquet files instead. Open it "
                f"read-only there to share it: duckdb.connect('{self.db_path}', read_only=True)"
            )
            con = self.connect()
        with con:
            cursor = con.execute(sql)
            return [d[0] for d in cursor.description], cursor.fetchall()

    def sync_views(self) -> bool:
        """(Re)create the views in the database file when their definition changed.

        Skipped with a warning while someone else holds the file: the data is in the Parquet
        files either way, and the views are refreshed on a later run.
        """
        self.ensure_layout()
        statements = self._view_sql()
        digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
        stamp = self.root / ".views.json"
        if self.db_path.exists() and stamp.exists() and json.loads(stamp.read_text()).get("sha256") == digest:
            return False
        try:
            with duckdb.connect(str(self.db_path)) as con:
                for statement in statements:
                    con.execute(statement)
        except duckdb.IOException as exc:
            log.warning("%s is in use; views not refreshed this time (%s)", self.db_path, exc)
            return False
        stamp.write_text(json.dumps({"sha256": digest}))
        return True
