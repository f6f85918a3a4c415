"""The case store: one SQLite file an investigator can open with any SQLite tool.

Tables are generated from the row classes in ``records`` (and any stage's own row
classes listed in ``ROW_TYPES``), keyed so that scanning the same evidence twice
inserts nothing new. Each shard's rows and its completion mark are committed in one
transaction: after a crash, a shard is either wholly in the case or not at all.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Iterator
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


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (tuple, list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


class Store:
    """A case: open or create ``case.sqlite`` in an output folder."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / CASE_FILE
        self.conn = sqlite3.connect(self.path)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
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
        names = [f.name for f in dataclasses.fields(row_type)]
        sql = (
            f'INSERT OR IGNORE INTO "{row_type.TABLE}" ({", ".join(chr(34) + n + chr(34) for n in names)}) '
            f'VALUES ({", ".join("?" for _ in names)})'
        )
        self.conn.executemany(sql, [tuple(_cell(getattr(r, n)) for n in names) for r in batch])

    def commit_shard(self, findings: Findings, shard: ShardRow) -> None:
        """Store a shard's rows and mark it done, atomically."""
        with self.conn:
            for table in sorted(findings.rows):
                self.insert(findings.rows[table])
            self.insert([shard])

    def done_shards(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT shard_id FROM shards")}

    def set_meta(self, key: str, value: str) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def query(self, sql: str, params: tuple[object, ...] = ()) -> Iterator[sqlite3.Row]:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        yield from cursor.execute(sql, params)
