"""The report writers' fast paths write what the plain ones wrote, byte for byte: a JSON Lines
row from its template is ``json``'s encoding of the row as a dict, a CSV row whose cells need
no neutralising is the row itself, a whole export (CSV and JSON Lines, written in batches)
equals the files written one row at a time with the csv and json modules, the timeline's
times are strftime's, and a chart saved without savefig's second walk of its artists is the
chart savefig writes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from test_report_support import add_findings, hostile_mbox, scan_case

from forensics.report.build import EXPORT_BATCH, _write_export
from forensics.report.charts import chart_makers, render, style
from forensics.report.csvout import csv_cells
from forensics.report.jsonl import jsonl_line, line_writer
from forensics.report.safe import neutralise_cell
from forensics.report.timeline import _datetime_text
from forensics.store import Store

HOSTILE_TEXT = [
    "", " ", "plain", 'say "hi"', "back\\slash", "tab\tnew\nline\rcr", "\x00\x01\x08\x0b\x0c\x1b\x1f\x7f",
    "\u2028\u2029\ufeff", "zoë 日本語 עברית", "😀🏳️‍🌈", "%s %(x)s %%", "{}", "</script>", "=1+1", "+1", "-1",
    "@SUM(A1)", "\tTAB", "\rCR", "'quoted", "null", "NaN",
]
NUMBERS = [0, -1, 2**63 - 1, -(2**63), 0.0, -0.0, 1.5, 1e300, 1e-300, 0.1 + 0.2, float("nan"), float("inf"),
           float("-inf"), True, False, None]


@pytest.mark.parametrize("value", HOSTILE_TEXT + NUMBERS, ids=repr)
def test_a_templated_json_line_is_jsons_encoding_of_the_row(value: object) -> None:
    header = ["a", "b%s", 'c"q', "zoë", "x"]
    row = ("first", value, 7, None, value)
    assert line_writer(header)(row) == jsonl_line(header, row)


def test_a_header_naming_a_column_twice_is_written_as_a_dict_keeps_it() -> None:
    header = ["id", "name", "id"]
    assert line_writer(header)((1, "x", 2)) == jsonl_line(header, (1, "x", 2)) == '{"id": 2, "name": "x"}\n'


def test_a_blob_fails_as_json_fails() -> None:
    with pytest.raises(TypeError, match="bytes is not JSON serializable"):
        line_writer(["a"])((b"\x00",))


@pytest.mark.parametrize("value", HOSTILE_TEXT + NUMBERS, ids=repr)
def test_csv_cells_neutralise_exactly_as_neutralise_cell(value: object) -> None:
    row = ("x", value, 3)
    assert list(csv_cells(row)) == [neutralise_cell(v) for v in row]


def _plain_export(conn: sqlite3.Connection, sql: str, csv_path: Path, jsonl_path: Path) -> None:
    """The export as it was written before batching: a row at a time."""
    cursor = conn.execute(sql)
    header = [d[0] for d in cursor.description]
    with (open(csv_path, "w", newline="", encoding="utf-8") as c,
          open(jsonl_path, "w", encoding="utf-8", newline="\n") as j):
        writer = csv.writer(c, lineterminator="\r\n")
        writer.writerow(header)
        for row in cursor:
            writer.writerow([neutralise_cell(v) for v in row])
            j.write(json.JSONEncoder(ensure_ascii=False).encode(dict(zip(header, row))) + "\n")


@pytest.mark.parametrize("rows", [0, 1, EXPORT_BATCH, 2 * EXPORT_BATCH + 3])
def test_a_batched_export_is_the_export_written_row_by_row(tmp_path: Path, rows: int) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (i INTEGER, text TEXT, number REAL, other)")
    values = HOSTILE_TEXT + NUMBERS
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", [
        (i, values[i % len(values)] if isinstance(values[i % len(values)], str) else str(i),
         float(i) / 3, values[(i * 7) % len(values)]) for i in range(rows)])
    sql = "SELECT i, text, number, other, text AS again FROM t ORDER BY i"
    count = _write_export(conn, sql, tmp_path / "new.csv", tmp_path / "new.jsonl")
    _plain_export(conn, sql, tmp_path / "old.csv", tmp_path / "old.jsonl")
    assert count == rows
    assert (tmp_path / "new.csv").read_bytes() == (tmp_path / "old.csv").read_bytes()
    assert (tmp_path / "new.jsonl").read_bytes() == (tmp_path / "old.jsonl").read_bytes()


@pytest.mark.parametrize("when", [
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1000, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 1, 2, 3, tzinfo=UTC),
    datetime(102, 8, 22, 10, 0, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
], ids=str)
def test_timeline_datetimes_are_strftimes_text(when: datetime) -> None:
    assert _datetime_text(when) == when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _savefig(fig: Figure, fmt: str) -> bytes:
    """``charts.render`` as it was: plain ``savefig``, with its drawing-disabled layout pass."""
    buffer = io.BytesIO()
    with style():
        fig.savefig(buffer, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None, "Creator": None})
    return buffer.getvalue()


@pytest.mark.parametrize("findings", [True, False], ids=["full", "no-data"])
def test_charts_render_the_bytes_plain_savefig_writes(tmp_path: Path, findings: bool) -> None:
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(tmp_path / "ev", tmp_path / "case")
    if findings:
        add_findings(tmp_path / "case")
    with Store(tmp_path / "case") as store:
        makers = chart_makers(store.conn)
        empties = [empty for *_, empty in makers]
        assert len(makers) == 5 and any(empties) != findings  # "no data" figures without the findings
        for stem, _title, make, _empty in makers:
            with style():
                ours, plain = make(), make()
            for fmt in ("svg", "png"):  # the report's order: each figure is saved twice
                assert render(ours, fmt) == _savefig(plain, fmt), f"{stem}.{fmt}"
