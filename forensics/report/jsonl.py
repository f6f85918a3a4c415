"""Stage 5: JSON Lines exports: the same data sets as the CSV files, one object per row.

Values are written as stored (no formula neutralisation: JSON is read by programs, not
run by spreadsheets), keys in column order, UTF-8 without escaping, one row per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

from forensics.jsontext import float_text
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


# What json's encoder writes for each type SQLite returns (and bool), value by value.
_VALUE_TEXT: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,  # json's own (C) string encoder, as ensure_ascii=False uses it
    int: int.__repr__,
    float: float_text,
    type(None): lambda _value: "null",
    bool: lambda value: "true" if value else "false",
}


def line_writer(header: Sequence[str]) -> Callable[[Sequence[object]], str]:
    """``jsonl_line`` for one header, made once: the keys are encoded once and each row is its
    values' JSON put into a template (the encoder's per-call setup costs more than a row's text).

    A row holding any other type (a BLOB) goes through ``jsonl_line``, and so does every row of
    a header that names a column twice (a dict keeps one key, where its first copy stood).
    """
    if len(set(header)) != len(header):
        return lambda row: jsonl_line(header, row)
    template = "{" + ", ".join(encode_basestring(h).replace("%", "%%") + ": %s" for h in header) + "}\n"
    text = _VALUE_TEXT

    def line(row: Sequence[object]) -> str:
        try:
            return template % tuple([text[v.__class__](v) for v in row])
        except KeyError:
            return jsonl_line(header, row)

    return line


def write_jsonl(store: Store, out: Path, plan: list[Export]) -> list[Path]:
    """One ``NAME.jsonl`` per export."""
    written: list[Path] = []
    for export in plan:
        path = out / f"{export.name}.jsonl"
        write_query_jsonl(store, export.sql, path)
        written.append(path)
    return written
