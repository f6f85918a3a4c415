"""The case store: one SQLite file an investigator can open with any SQLite tool.

Tables are generated from the row classes in ``records`` (and any stage's own row
classes listed in ``ROW_TYPES``), keyed so that scanning the same evidence twice
inserts nothing new. Each shard's rows and its completion mark are committed in one
transaction: after a crash, a shard is either wholly in the case or not at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import json
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from forensics.records import (
    AttachmentRow,
    Findings,
    InputRow,
    MessageRow,
    OccurrenceRow,
    ProblemRow,
    Row,
    ShardRow,
)

CASE_FILE = "case.sqlite"
SCHEMA_VERSION = 1
# Meta key present while a scan that started on an empty case has not built its secondary
# indexes yet (``Store.defer_indexes``); gone once they exist.
INDEXES_DEFERRED = "indexes_deferred"
CACHE_KIB = 64 * 1024  # page cache for keyed inserts into large tables; bounded, not per-row
BUSY_SECONDS = 3600.0
ROW_TYPES: list[type[Row]] = [
    InputRow, MessageRow, OccurrenceRow, AttachmentRow, ProblemRow, ShardRow,
]


def register(row_type: type[Row]) -> type[Row]:
    """Add a stage's row class to the schema (used as a class decorator)."""
    if row_type not in ROW_TYPES:
        ROW_TYPES.append(row_type)
    return row_type


def _sql_type(annotation: Any) -> str:
    text = str(annotation)
    if text.startswith("int") or text == "bool":
        return "INTEGER"
    if text.startswith("float"):
        return "REAL"
    return "TEXT"


def create_table_sql(row_type: type[Row]) -> str:
    columns = [f'"{f.name}" {_sql_type(f.type)}' for f in dataclasses.fields(row_type)]
    key = ", ".join(f'"{k}"' for k in row_type.KEY)
    return f'CREATE TABLE IF NOT EXISTS "{row_type.TABLE}" ({", ".join(columns)}, PRIMARY KEY ({key}))'


def index_columns(row_type: type[Row]) -> list[tuple[str, ...]]:
    """Secondary indexes: a row class's own ``INDEXES``, and ``message_sha256`` wherever it is a
    column but not the first of the key, because every case-wide stage joins on it and
    without an index such a join scans the table once per row (quadratic in the case size).
    """
    wanted = [tuple(cols) for cols in getattr(row_type, "INDEXES", ())]
    names = [f.name for f in dataclasses.fields(row_type)]
    if "message_sha256" in names and row_type.KEY[:1] != ("message_sha256",):
        wanted.append(("message_sha256",))
    return list(dict.fromkeys(wanted))


def index_name(row_type: type[Row], columns: tuple[str, ...]) -> str:
    return f'idx_{row_type.TABLE}_{"_".join(columns)}'


def create_index_sql(row_type: type[Row], columns: tuple[str, ...]) -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    return f'CREATE INDEX IF NOT EXISTS "{index_name(row_type, columns)}" ON "{row_type.TABLE}" ({cols})'


_PLAIN = frozenset({str, int, float, type(None), bytes})  # stored as they are


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (tuple, list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


# (table, column names, rows as tuples of plain values), one entry per table, sorted by table
EncodedRows = list[tuple[str, tuple[str, ...], list[tuple[object, ...]]]]


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'


def encode_findings(findings: Findings) -> EncodedRows:
    """Rows as tuples of SQLite values, grouped by table (done in the worker, not the writer)."""
    encoded: EncodedRows = []
    for table in sorted(findings.rows):
        rows = findings.rows[table]
        by_type: dict[type[Row], list[Row]] = {}
        for row in rows:  # a table normally has one row class; keep any other apart
            by_type.setdefault(type(row), []).append(row)
        for row_type, group in by_type.items():
            columns = tuple(f.name for f in dataclasses.fields(row_type))
            values = operator.attrgetter(*columns) if len(columns) > 1 else _single(columns[0])
            # The type test inline, not a call per value: this runs for every cell of the case.
            encoded.append((table, columns, [
                tuple([v if type(v) in _PLAIN else _cell(v) for v in values(r)]) for r in group
            ]))
    return encoded


def trim_memory() -> None:
    """Hand memory freed by a finished phase back to the system (after a garbage collection)."""
    gc.collect()
    release_heap()


def release_heap() -> None:
    """Return the C allocator's free pages to the system (glibc ``malloc_trim``; elsewhere nothing).

    Freed Python objects and SQLite pages go back to the allocator, which keeps them: a
    task's rows (tens of MB of short-lived objects) freed between SQLite's long-lived
    cache pages leave holes the heap cannot shrink past, and the resident size creeps
    up with every shard (measured: 176 MB instead of 115 MB after 16 shards of 4 MiB,
    353 MB on a 268 MB mbox). Cheap (a walk of the free lists), so it runs per commit.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Any:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _malloc_trim()


def _single(column: str) -> Any:
    getter = operator.attrgetter(column)
    return lambda row: (getter(row),)


def _finalized(*names: str) -> None:
    """Nothing runs beside: the finalizers before this one have finished."""


class Store:
    """A case: open or create ``case.sqlite`` in an output folder."""

    def __init__(self, folder: Path, *, cache_kib: int = CACHE_KIB) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / CASE_FILE
        # A writer waits for another connection's commit (finalizers run at once, see
        # pipeline.run_finalizers) instead of failing after the default 5 s.
        self.conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit is atomic and survives kill -9 of this process (only a power
        # loss may drop the last commits, never leave half of one); shards are re-run then.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(f"PRAGMA cache_size=-{cache_kib}")
        # Returns once the finalizers named (by function name; none named: all) that run
        # beside this store's are done: a finalizer calls it before reading what another
        # lane writes (pipeline.run_finalizers sets it).
        self.await_finalizers: Callable[..., None] = _finalized
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        import forensics.stages  # noqa: F401 - importing the stages registers their row types

        with self.conn:
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self.conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            for row_type in ROW_TYPES:
                self.conn.execute(create_table_sql(row_type))
            if self.get_meta(INDEXES_DEFERRED) is None:
                self._create_indexes()

    def _create_indexes(self) -> None:
        for row_type in ROW_TYPES:
            for columns in index_columns(row_type):
                self.conn.execute(create_index_sql(row_type, columns))

    def defer_indexes(self) -> bool:
        """Drop the secondary indexes while a scan fills an empty case; ``create_indexes`` builds them.

        Keeping an index up to date row by row costs the single writer a b-tree descent
        per row (its keys, URLs and hashes, arrive in no order); one ``CREATE INDEX`` over
        the filled table sorts once. Only an empty case is changed: a case already holding
        evidence keeps its indexes (rebuilding them for a few added files would cost more).
        The primary keys stay, so rows already present are still ignored. A scan killed in
        between leaves the mark in ``meta``: the resumed scan keeps filling without the
        indexes and builds them at the end. Returns whether the indexes are deferred.
        """
        if self.get_meta(INDEXES_DEFERRED) is not None:
            return True
        if any(self.conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in ("shards", "messages")):
            return False
        with self.conn:
            self.conn.execute("INSERT INTO meta VALUES (?, '1')", (INDEXES_DEFERRED,))
            for row_type in ROW_TYPES:
                for columns in index_columns(row_type):
                    self.conn.execute(f'DROP INDEX IF EXISTS "{index_name(row_type, columns)}"')
        return True

    def create_indexes(self) -> None:
        """Build the secondary indexes (after ``defer_indexes``; nothing to do otherwise)."""
        with self.conn:
            self._create_indexes()
            self.conn.execute("DELETE FROM meta WHERE key = ?", (INDEXES_DEFERRED,))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def insert(self, rows: Iterable[Row]) -> None:
        """Insert rows of one type; rows already present (same key) are left as they are."""
        batch = list(rows)
        if not batch:
            return
        row_type = type(batch[0])
        names = tuple(f.name for f in dataclasses.fields(row_type))
        values = operator.attrgetter(*names) if len(names) > 1 else _single(names[0])
        # The same inline encoding as encode_findings: finalizers insert a row per token.
        self.conn.executemany(_insert_sql(row_type.TABLE, names), [
            tuple([v if type(v) in _PLAIN else _cell(v) for v in values(r)]) for r in batch
        ])

    def commit_shard(self, findings: Findings, shard: ShardRow) -> None:
        """Store a shard's rows and mark it done, atomically."""
        self.commit_encoded([(encode_findings(findings), shard)])

    def commit_encoded(self, results: Iterable[tuple[EncodedRows, ShardRow]]) -> None:
        """Store already encoded rows of one or more shards and mark them done, in one transaction.

        Workers encode their rows (``encode_findings``) so that only tuples of plain values
        cross the process boundary and this, the single writer, does nothing but insert.
        """
        with self.conn:
            for tables, shard in results:
                for table, columns, values in tables:
                    self.conn.executemany(_insert_sql(table, columns), values)
                self.insert([shard])

    def done_shards(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT shard_id FROM shards")}

    @contextlib.contextmanager
    def statistics(self) -> Iterator[None]:
        """Planner statistics (a bounded ANALYZE) while case-wide SQL stages run, then none.

        Without them SQLite may join a large table through an automatic index when a
        declared index makes the query linear. They are cleared afterwards because they
        describe the b-trees' history, not the evidence: the case must be the same
        whether it was filled in one scan or several.
        """
        self.conn.execute("PRAGMA analysis_limit=1000")
        self.conn.execute("ANALYZE")
        self.conn.commit()
        try:
            yield
        finally:
            with self.conn:
                self.conn.execute("DELETE FROM sqlite_stat1")
            self.conn.execute("ANALYZE sqlite_master")  # reload: the planner forgets them too

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def query(self, sql: str, params: tuple[object, ...] = ()) -> Iterator[sqlite3.Row]:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        yield from cursor.execute(sql, params)
