"""Stage 5: the report entry point: every file people open, then the manifest that seals them.

``write_report`` writes, into one folder: a CSV and a JSON Lines file per data set of
the case, ``timeline.csv``, the charts (PNG and SVG), ``report.html``,
``data_dictionary.md``, and last ``manifest.json`` with the SHA-256 of all of them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from forensics import __version__
from forensics.correlate.export import write_graphs
from forensics.errors import ReadError
from forensics.report.charts import case_charts, render
from forensics.report.csvout import QUERIES, csv_cells, csv_writer
from forensics.report.dictionary import write_dictionary
from forensics.report.html import Context, render_report
from forensics.report.jsonl import jsonl_line
from forensics.report.manifest import rules_version, write_manifest
from forensics.report.tables import export_plan, iter_rows
from forensics.report.timeline import COLUMNS as TIMELINE_COLUMNS
from forensics.report.timeline import write_timeline
from forensics.store import CASE_FILE, Store


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportResult:
    folder: Path
    outputs: tuple[Path, ...]  # every file written, the manifest last
    rows: dict[str, int]  # data set name -> rows exported


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def _write_data(store: Store, out: Path) -> tuple[list[Path], dict[str, int], dict[str, list[str]], dict[str, list[str]]]:
    outputs: list[Path] = []
    rows: dict[str, int] = {}
    headers: dict[str, list[str]] = {}
    files: dict[str, list[str]] = {}
    for export in export_plan(store.conn, QUERIES):
        csv_path, jsonl_path = out / f"{export.name}.csv", out / f"{export.name}.jsonl"
        rows[export.name] = _write_export(store, export.sql, csv_path, jsonl_path)
        headers[export.name] = _header(csv_path)
        files[export.name] = [csv_path.name, jsonl_path.name]
        outputs += [csv_path, jsonl_path]
    timeline = out / "timeline.csv"
    rows["timeline"] = write_timeline(store, timeline)
    headers["timeline"], files["timeline"] = list(TIMELINE_COLUMNS), [timeline.name]
    outputs.append(timeline)
    return outputs, rows, headers, files


def _write_export(store: Store, sql: str, csv_path: Path, jsonl_path: Path) -> int:
    """The CSV and the JSON Lines file of one export from one pass over the query (streamed)."""
    header, rows = iter_rows(store.conn, sql)
    count = 0
    with (open(csv_path, "w", newline="", encoding="utf-8") as csv_handle,
          open(jsonl_path, "w", encoding="utf-8", newline="\n") as jsonl_handle):
        writer = csv_writer(csv_handle, header)
        for row in rows:
            writer.writerow(csv_cells(row))
            jsonl_handle.write(jsonl_line(header, row))
            count += 1
    return count


def _write_visuals(store: Store, out: Path, counts: dict[str, int]) -> list[Path]:
    outputs: list[Path] = []
    rendered = []
    for chart in case_charts(store.conn):
        svg = render(chart.figure, "svg")
        for fmt, data in (("png", render(chart.figure, "png")), ("svg", svg)):
            path = out / f"{chart.stem}.{fmt}"
            path.write_bytes(data)
            outputs.append(path)
        rendered.append((chart, svg))
    plan = {e.name: e for e in export_plan(store.conn, QUERIES)}
    ctx = Context(conn=store.conn, plan=plan, tool_version=__version__, rules_version=rules_version(),
                  counts=counts)
    page = out / "report.html"
    page.write_text(render_report(ctx, rendered), encoding="utf-8", newline="\n")
    outputs.append(page)
    return outputs


def write_report(case: Path, out: Path, *, argv: list[str], scan_started: str = "",
                 scan_finished: str = "") -> ReportResult:
    """Write the whole report of the case in folder ``case`` into folder ``out``.

    Raises:
        ReadError: ``case`` holds no case store.
    """
    if not (case / CASE_FILE).is_file():
        raise ReadError(f"no case found in {case} (expected {CASE_FILE}; run `forensics scan` first)")
    started = _utc_now()
    out.mkdir(parents=True, exist_ok=True)
    with Store(case) as store:
        data, rows, headers, files = _write_data(store, out)
        outputs = data + _write_visuals(store, out, rows)
        outputs += write_graphs(store.conn, out)  # graph.* and graph_brokers.* (forensics.correlate)
        outputs.append(write_dictionary(headers, files, out / "data_dictionary.md"))
        finished_scan = scan_finished or _meta(store, "last_scan_finished_utc")
    # The store is closed (WAL checkpointed) before its file is hashed.
    sealed = outputs + ([case / CASE_FILE] if case.resolve() == out.resolve() else [])
    with Store(case) as store:
        manifest = write_manifest(store, out, argv=argv, started=scan_started, finished=finished_scan,
                                  outputs=sealed, report_started=started, report_finished=_utc_now())
    return ReportResult(folder=out, outputs=tuple(outputs + [manifest]), rows=rows)


def _meta(store: Store, key: str) -> str:
    row = store.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else ""
