"""Stage 5: the report entry point: every file people open, then the manifest that seals them.

``write_report`` writes, into one folder: a CSV and a JSON Lines file per data set of
the case, ``timeline.csv``, the charts (PNG and SVG), ``report.html``,
``data_dictionary.md``, and last ``manifest.json`` with the SHA-256 of all of them.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics import __version__
from forensics.correlate.export import write_graphs
from forensics.errors import ReadError
from forensics.report.csvout import KEYED, QUERIES, TextChunks, csv_cells, csv_writer
from forensics.report.dictionary import write_dictionary
from forensics.report.jsonl import line_writer as jsonl_line_writer
from forensics.report.manifest import rules_version, write_manifest
from forensics.report.tables import Export, export_plan, export_sql
from forensics.report.timeline import COLUMNS as TIMELINE_COLUMNS
from forensics.report.timeline import write_timeline
from forensics.store import CASE_FILE, Store, trim_memory

if TYPE_CHECKING:
    from forensics.report.charts import Drawn
    from forensics.report.html import Context, FirstSections

# The charts and the page are imported where they are made: a helper process imports this
# module to write exports or graphs, and matplotlib alone would cost it about a second.

# A case this large writes its exports in other processes while this one draws the charts.
PARALLEL_FROM_MESSAGES = 2000
MAX_HELPERS = 4
REPORT_CACHE_KIB = 8 * 1024
EXPORT_BATCH = 1024  # rows fetched, formatted and written together


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportResult:
    folder: Path
    outputs: tuple[Path, ...]  # every file written, the manifest last
    rows: dict[str, int]  # data set name -> rows exported


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def _write_data(store: Store, out: Path, helpers: int, sealed: _Sealed) -> tuple[
        list[Path], dict[str, int], dict[str, list[str]], dict[str, list[str]], Callable[[], list[Path]]]:
    """Every export's CSV and JSON Lines file, and the timeline; the graphs are started.

    With ``helpers``, the exports and the graphs are written by that many other processes
    while this one goes on with the timeline and the charts. The last value returned
    waits for them and returns the graph files (until then, ``rows`` and ``sealed``, the
    exports' hashes, are incomplete). The files are the same either way.
    """
    outputs: list[Path] = []
    rows: dict[str, int] = {}
    headers: dict[str, list[str]] = {}
    files: dict[str, list[str]] = {}
    jobs = []
    for export in export_plan(store.conn, QUERIES):
        csv_path, jsonl_path = out / f"{export.name}.csv", out / f"{export.name}.jsonl"
        jobs.append((export.name, export.sql, csv_path, jsonl_path))
        files[export.name] = [csv_path.name, jsonl_path.name]
        outputs += [csv_path, jsonl_path]
    finish = _start_exports(store, jobs, rows, headers, helpers, graphs=out, sealed=sealed)
    timeline = out / "timeline.csv"
    rows["timeline"] = write_timeline(store, timeline)
    headers["timeline"], files["timeline"] = list(TIMELINE_COLUMNS), [timeline.name]
    outputs.append(timeline)
    return outputs, rows, headers, files, finish


_Job = tuple[str, str, Path, Path]  # export name, query, CSV path, JSON Lines path
_Sealed = dict[str, dict[str, Any]]  # path -> SHA-256 and size of a file, as the manifest records it


def _start_exports(store: Store, jobs: list[_Job], rows: dict[str, int], headers: dict[str, list[str]],
                   helpers: int, graphs: Path | None = None, sealed: _Sealed | None = None) -> Callable[[], list[Path]]:
    """Write the exports here now, or start them in ``helpers`` processes; returns the wait,
    which also writes the graph files into folder ``graphs`` (or has a helper write them) and
    returns them.

    Each export is its own task, the largest first, after the graphs (one task that cannot
    be split). When this process has written the timeline and drawn the charts, the wait
    takes back the tasks no helper has started yet, smallest first, and does them here:
    both ends of the list finish together.
    """
    sealed = {} if sealed is None else sealed

    def record(counts: dict[str, int], hashes: _Sealed | None = None) -> None:
        sealed.update(hashes or {})
        for name, _sql, csv_path, _jsonl in jobs:
            if name in counts:
                rows[name], headers[name] = counts[name], _header(csv_path)

    def graphs_here() -> list[Path]:
        if graphs is None:
            return []
        written = write_graphs(store.conn, graphs)  # graph.* and graph_brokers.* (forensics.correlate)
        trim_memory()
        return written

    if helpers < 1:
        record(_write_exports(store.conn, jobs, sealed))
        return graphs_here
    from concurrent.futures import Future, ProcessPoolExecutor

    from forensics.engines.local import mp_context

    pool = ProcessPoolExecutor(max_workers=helpers, mp_context=mp_context())
    case_file = str(store.path)
    graph_task: list[Future[list[str]]] = (
        [pool.submit(_graphs_in_process, case_file, str(graphs))] if graphs is not None else [])
    tasks = [(job, pool.submit(_export_in_process, case_file, [job])) for job in _largest_first(store.conn, jobs)]

    def finish() -> list[Path]:
        try:
            for job, future in reversed(tasks):
                if future.cancel():  # not started by a helper: write it here
                    record(_write_exports(store.conn, [job], sealed))
            graph_here = bool(graph_task) and graph_task[0].cancel()
            written = graphs_here() if graph_here else []
            for _job, future in tasks:
                if not future.cancelled():
                    record(*future.result())
            if graph_task and not graph_here:
                written = [Path(p) for p in graph_task[0].result()]
            return written
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return finish


def _largest_first(conn: sqlite3.Connection, jobs: list[_Job]) -> list[_Job]:
    """Exports by the rows of the largest table their query names (a cheap estimate of the work)."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    counts: dict[str, int] = {}

    def weight(job: _Job) -> int:
        words = set(re.findall(r"\w+", job[1]))
        for table in tables:
            if table in words and table not in counts:
                counts[table] = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        return max((counts[t] for t in tables if t in words), default=0)

    return sorted(jobs, key=lambda job: (-weight(job), job[0]))


def _read_only(case_file: str) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(case_file).resolve().as_uri()}?mode=ro", uri=True)


def _export_in_process(case_file: str, jobs: list[_Job]) -> tuple[dict[str, int], _Sealed]:
    """In a helper process: the case opened read-only, some exports written (rows, hashes)."""
    conn = _read_only(case_file)
    try:
        sealed: _Sealed = {}
        return _write_exports(conn, jobs, sealed), sealed
    finally:
        conn.close()


def _graphs_in_process(case_file: str, folder: str) -> list[str]:
    """In a helper process: the case opened read-only (the graphs' tables are temporary), the graphs written."""
    conn = _read_only(case_file)
    try:
        return [str(p) for p in write_graphs(conn, Path(folder))]
    finally:
        conn.close()


def _write_exports(conn: sqlite3.Connection, jobs: list[_Job], sealed: _Sealed | None = None) -> dict[str, int]:
    """Each job's export; the SHA-256 and size of each file written go into ``sealed``."""
    counts = {}
    for name, sql, csv_path, jsonl_path in jobs:
        with export_sql(conn, Export(name=name, sql=sql), KEYED) as query:  # its keyed form, if any
            counts[name] = _write_export(conn, query, csv_path, jsonl_path, sealed)
    return counts


class _SealedFile:
    """A text file written as UTF-8 (as ``open(path, "w", encoding="utf-8", newline=...)`` writes
    text without line endings to translate), hashed as it is written: the manifest need not
    read it back (the exports are nine tenths of a report's bytes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = open(path, "wb")  # noqa: SIM115 (closed by close(), in the caller's finally)
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self.digest.update(data)
        self.handle.write(data)
        self.size += len(data)

    def close(self, sealed: _Sealed | None) -> None:
        self.handle.close()
        if sealed is not None:
            sealed[str(self.path)] = {"sha256": self.digest.hexdigest(), "size": self.size}


def _write_export(conn: sqlite3.Connection, sql: str, csv_path: Path, jsonl_path: Path,
                  sealed: _Sealed | None = None) -> int:
    """The CSV and the JSON Lines file of one export from one pass over the query (streamed,
    a batch of rows at a time: one write per batch and file, not two per row); the files'
    SHA-256 and sizes go into ``sealed``."""
    cursor = conn.execute(sql)
    header = [d[0] for d in cursor.description]
    line = jsonl_line_writer(header)
    count = 0
    csv_file, jsonl_file = _SealedFile(csv_path), None
    try:
        jsonl_file = _SealedFile(jsonl_path)
        sink = TextChunks()
        writer = csv_writer(sink, header)  # type: ignore[arg-type]
        while batch := cursor.fetchmany(EXPORT_BATCH):
            writer.writerows([csv_cells(row) for row in batch])
            csv_file.write(sink.drain())
            jsonl_file.write("".join([line(row) for row in batch]))
            count += len(batch)
        csv_file.write(sink.drain())  # the header of an empty export
    except BaseException:
        sealed = None  # a file left half written is not sealed
        raise
    finally:
        csv_file.close(sealed)
        if jsonl_file is not None:
            jsonl_file.close(sealed)
    return count


def _write_charts(store: Store, out: Path) -> tuple[list[Path], list[Drawn]]:
    """Each chart drawn, written as PNG and SVG, and let go before the next is drawn."""
    from forensics.report.charts import Drawn, iter_charts, render

    outputs: list[Path] = []
    drawn = []
    for chart in iter_charts(store.conn):
        svg = render(chart.figure, "svg")
        for fmt, data in (("png", render(chart.figure, "png")), ("svg", svg)):
            path = out / f"{chart.stem}.{fmt}"
            path.write_bytes(data)
            outputs.append(path)
        drawn.append(Drawn(stem=chart.stem, title=chart.title, empty=chart.empty, svg=svg))
        chart.figure.clear()
        del chart
        gc.collect()  # a figure is a web of reference cycles: free it now, not at some later collection
    return outputs, drawn


def _page_context(store: Store, counts: dict[str, int], rules: str | None = None) -> Context:
    from forensics.report.html import Context

    plan = {e.name: e for e in export_plan(store.conn, QUERIES)}
    return Context(conn=store.conn, plan=plan, tool_version=__version__,
                   rules_version=rules_version() if rules is None else rules, counts=counts)


def _write_page(store: Store, out: Path, counts: dict[str, int], rendered: list[Drawn],
                rules: str | None = None, first: FirstSections | None = None) -> Path:
    """``report.html``; ``first``: its sections already made (``html.first_sections``) with these ``counts``."""
    from forensics.report.html import render_report

    page = out / "report.html"
    page.write_text(render_report(_page_context(store, counts, rules), rendered, first),
                    encoding="utf-8", newline="\n")
    return page


def report_helpers(store: Store, workers: int | None) -> int:
    """Processes to write the exports beside this one: none for a small case (starting one
    costs more than it saves), else one less than the workers (default: every core)."""
    wanted = (os.cpu_count() or 1) if workers is None else workers
    if wanted <= 1:
        return 0
    big = store.conn.execute(f"SELECT COUNT(*) >= {PARALLEL_FROM_MESSAGES} FROM messages").fetchone()[0]
    return min(wanted - 1, MAX_HELPERS) if big else 0


def write_report(case: Path, out: Path, *, argv: list[str], scan_started: str = "",
                 scan_finished: str = "", workers: int | None = None) -> ReportResult:
    """Write the whole report of the case in folder ``case`` into folder ``out``.

    ``workers``: processes to use for a large case (default: every core); the files are
    the same whatever the number.

    Raises:
        ReadError: ``case`` holds no case store.
    """
    if not (case / CASE_FILE).is_file():
        raise ReadError(f"no case found in {case} (expected {CASE_FILE}; run `forensics scan` first)")
    started = _utc_now()
    out.mkdir(parents=True, exist_ok=True)
    with Store(case) as store:
        # The report reads each table once or twice, in key order: a small page cache does
        # (the scan's is sized for keyed inserts into large tables).
        store.conn.execute(f"PRAGMA cache_size=-{REPORT_CACHE_KIB}")
        rules = rules_version()  # once for the page and the manifest
        sealed: _Sealed = {}  # the exports' hashes, taken as they were written
        data, rows, headers, files, finish = _write_data(store, out, report_helpers(store, workers), sealed)
        try:
            charts, rendered = _write_charts(store, out)
            trim_memory()
            # The page, while helpers may still be exporting: its row counts are filled in later.
            from forensics.report.html import first_sections

            first = first_sections(_page_context(store, rows, rules), rendered, later=True)
        finally:
            # The graph files; and the rest of the page and the dictionary need every export's
            # row count and header (``rows`` and ``headers`` are complete once it returns).
            graphs = finish()
        outputs = data + charts + [_write_page(store, out, rows, rendered, rules, first)] + graphs
        outputs.append(write_dictionary(headers, files, out / "data_dictionary.md"))
        finished_scan = scan_finished or _meta(store, "last_scan_finished_utc")
    # The store is closed (WAL checkpointed) before its file is hashed.
    outputs_sealed = outputs + ([case / CASE_FILE] if case.resolve() == out.resolve() else [])
    with Store(case) as store:
        manifest = write_manifest(store, out, argv=argv, started=scan_started, finished=finished_scan,
                                  outputs=outputs_sealed, report_started=started, report_finished=_utc_now(),
                                  rules=rules, sealed=sealed)
    return ReportResult(folder=out, outputs=tuple(outputs + [manifest]), rows=rows)


def _meta(store: Store, key: str) -> str:
    row = store.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else ""
