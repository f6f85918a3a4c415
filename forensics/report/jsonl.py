"""Stage 5: JSON Lines exports: the same data sets as the CSV files, one object per row.

Values are written as stored (no formula neutralisation: JSON is read by programs, not
run by spreadsheets), keys in column order, UTF-8 without escaping, one row per line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from forensics.report.tables import Export, iter_rows
from forensics.store import Store


# json.dumps with ensure_ascii=False builds an encoder per call; one encoder writes the same text.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def write_query_jsonl(store: Store, sql: str, path: Path) -> int:
    """Write a query's result as JSON Lines; returns the number of rows."""
    header, rows = iter_rows(store.conn, sql)
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(jsonl_line(header, row))
            count += 1
    return count


def jsonl_line(header: Sequence[str], row: Sequence[object]) -> str:
    """One row as a JSON object, keys in column order, and its newline."""
    return _ENCODER.encode(dict(zip(header, row))) + "\n"


def write_jsonl(store: Store, out: Path, plan: list[Export]) -> list[Path]:
    """One ``NAME.jsonl`` per export."""
    written: list[Path] = []
    for export in plan:
        path = out / f"{export.name}.jsonl"
        write_query_jsonl(store, export.sql, path)
        written.append(path)
    return written
