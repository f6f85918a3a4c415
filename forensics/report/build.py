"""Stage 5: the report entry point: every file people open, then the manifest that seals them.

``write_report`` writes, into one folder: a CSV and a JSON Lines file per data set of
the case and the graphs (GraphML, GEXF, JSON; ``tables.Formats`` chooses which of these
formats), ``timeline.csv``, the charts (PNG and SVG), ``report.html``,
``data_dictionary.md``, and last ``manifest.json`` with the SHA-256 of all of them.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import itertools
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forensics import __version__
from forensics.correlate.export import write_graphs
from forensics.errors import ReadError
from forensics.report.csvout import KEYED, QUERIES, TextChunks, csv_cells, csv_writer
from forensics.report.dictionary import write_dictionary
from forensics.report.jsonl import line_writer as jsonl_line_writer
from forensics.report.manifest import (
    MANIFEST,
    earlier_outputs,
    rules_version,
    sha256_of,
    write_manifest,
)
from forensics.report.tables import EVERY_FORMAT, Export, Formats, export_plan, export_sql
from forensics.report.timeline import COLUMNS as TIMELINE_COLUMNS
from forensics.report.timeline import write_timeline_from
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
    # Files an earlier report listed in this folder's manifest and this one did not write
    # (``_replace_earlier``): removed, or left because they changed since.
    removed: tuple[Path, ...] = ()
    left: tuple[Path, ...] = ()


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


_Job = tuple[str, str, Path | None, Path | None]  # export name, query, CSV path, JSON Lines path (None: not written)
_Sealed = dict[str, dict[str, Any]]  # path -> SHA-256 and size of a file, as the manifest records it


@dataclass(frozen=True, slots=True, kw_only=True)
class _Task:
    """A part of the report any process can write alone from the case: the graphs (in
    ``formats``, into folder ``paths[0]``), the timeline, or one export (``sql`` and the paths
    of its files: CSV, JSON Lines, or both)."""

    kind: str  # "graphs", "timeline" or "export"
    name: str
    paths: tuple[Path, ...]
    sql: str = ""
    formats: tuple[str, ...] = ()  # the graphs' formats


@dataclass(slots=True, kw_only=True)
class _Done:
    """What one process's tasks wrote: rows per data set, the exports' hashes, the graph files."""

    rows: dict[str, int] = field(default_factory=dict)
    sealed: _Sealed = field(default_factory=dict)
    graphs: list[Path] = field(default_factory=list)
    headers: dict[str, list[str]] = field(default_factory=dict)  # data set -> columns, as exported

    def add(self, other: _Done) -> None:
        self.rows.update(other.rows)
        self.sealed.update(other.sealed)
        self.graphs += other.graphs
        self.headers.update(other.headers)


def _tasks(conn: sqlite3.Connection, out: Path, formats: Formats = EVERY_FORMAT) -> list[_Task]:
    """Every task, the costliest first (processes take them in this order); ``formats``:
    each export's files, and the graphs' (no graph format: no graphs task).

    The graphs come first (one task, ~4 s on a 10,000-message case: the evidence tables
    they aggregate are built once for both views), then the timeline (events built in
    Python, ~2.5 s there), then each export by its estimated cost: every process taking
    the costliest task left, the last ones taken are small and all processes finish close
    together.
    """
    exports = [_Task(kind="export", name=e.name, sql=e.sql, paths=tuple(out / f for f in formats.files(e.name)))
               for e in export_plan(conn, QUERIES)]
    costs = _export_costs(conn, exports)
    graphs = [_Task(kind="graphs", name="graphs", paths=(out,), formats=formats.graphs)] if formats.graphs else []
    return [*graphs, _Task(kind="timeline", name="timeline", paths=(out / "timeline.csv",)),
            *sorted(exports, key=lambda t: (-costs[t.name], t.name))]


def _export_costs(conn: sqlite3.Connection, exports: list[_Task]) -> dict[str, int]:
    """Each export's cost, estimated as rows times columns (its CPU goes to formatting and
    writing cells: 0.9-1.7 µs per cell on the generated 64 MB case, whatever the export).

    Rows: those of the table the export is named after, else of the largest table its query
    names (counted, not queried: counting an export's own query costs as much as sorting it);
    columns: its query's, under ``LIMIT 0`` (no row is read).
    """
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    counts: dict[str, int] = {}

    def rows(table: str) -> int:
        if table not in counts:
            quoted = table.replace('"', '""')
            counts[table] = conn.execute(f'SELECT COUNT(*) FROM "{quoted}"').fetchone()[0]
        return counts[table]

    costs = {}
    for task in exports:
        named = [task.name] if task.name in tables else sorted(tables.intersection(re.findall(r"\w+", task.sql)))
        columns = len(conn.execute(f"SELECT * FROM ({task.sql.strip().rstrip(';')}) LIMIT 0").description)
        costs[task.name] = max((rows(t) for t in named), default=0) * columns
    return costs


def _run(conn: sqlite3.Connection, task: _Task, done: _Done) -> None:
    if task.kind == "graphs":
        # graph.* and graph_brokers.* (forensics.correlate)
        done.graphs += write_graphs(conn, task.paths[0], formats=task.formats)
        trim_memory()
    elif task.kind == "timeline":
        done.rows["timeline"] = write_timeline_from(conn, task.paths[0])
    else:
        job = (task.name, task.sql, _path_in(task.paths, "csv"), _path_in(task.paths, "jsonl"))
        done.rows.update(_write_exports(conn, [job], done.sealed, done.headers))


def _path_in(paths: tuple[Path, ...], fmt: str) -> Path | None:
    """An export's file in format ``fmt``, when that format is written."""
    return next((p for p in paths if p.suffix == f".{fmt}"), None)


def _drain(conn: sqlite3.Connection, tasks: list[_Task], claim: Callable[[], int]) -> _Done:
    """Every task this process claims (``claim``: the next index no process has taken), in order."""
    done = _Done()
    while (index := claim()) < len(tasks):
        _run(conn, tasks[index], done)
    return done


# A helper's claim on the next task: the counter all processes of a report share
# (handed to each helper when it starts, as a pool initializer's argument).
_SHARED_NEXT: Any = None


def _share_next(counter: Any) -> None:
    global _SHARED_NEXT
    _SHARED_NEXT = counter


def _claimer(counter: Any) -> Callable[[], int]:
    """Claims on a shared counter (a ``multiprocessing.Value``): each index is handed out once."""
    def claim() -> int:
        with counter.get_lock():
            index = int(counter.value)
            counter.value = index + 1
        return index

    return claim


def _drain_in_process(case_file: str, tasks: list[_Task]) -> _Done:
    """In a helper process: the case opened read-only (the graphs' and exports' temporary
    tables are its own), the tasks it claims written."""
    conn = _read_only(case_file)
    try:
        return _drain(conn, tasks, _claimer(_SHARED_NEXT))
    finally:
        conn.close()


def _start(store: Store, tasks: list[_Task], helpers: int) -> Callable[[bool], _Done]:
    """Start ``helpers`` processes on the tasks (none: write them all here, now); returns the
    wait, which has this process take the tasks left (after its own work: the charts and the
    page) and returns what every process wrote. Each process, helpers and this one, takes the costliest task no process
    has claimed yet, so the files are the same whoever writes them and however many help.
    The wait called with False (this process failed) starts no task any more and returns
    once the helpers' current ones have ended.

    The helpers are started from a thread: starting the first one waits for the forkserver
    (1-2 s when ``forensics report`` runs alone), which this process spends drawing instead.
    """
    if helpers < 1:
        # Alone: every task now, before the charts and the page (as one process wrote its
        # exports and timeline before: matplotlib and the page's sections not yet in memory).
        alone = _drain(store.conn, tasks, itertools.count().__next__)
        return lambda take: alone
    import threading
    from concurrent.futures import Future, ProcessPoolExecutor

    from forensics.engines.forkserver import mp_context

    context = mp_context()
    counter = context.Value("q", 0)  # the next task's index
    pool = ProcessPoolExecutor(max_workers=helpers, mp_context=context, initializer=_share_next,
                               initargs=(counter,))
    futures: list[Future[_Done]] = []
    failed: list[BaseException] = []

    def submit() -> None:
        try:
            futures.extend(pool.submit(_drain_in_process, str(store.path), tasks) for _ in range(helpers))
        except BaseException as e:  # noqa: BLE001 (raised again by the wait, in this process)
            failed.append(e)

    starter = threading.Thread(target=submit, name="report-helpers", daemon=True)
    starter.start()

    def finish(take: bool) -> _Done:
        try:
            if not take:
                with counter.get_lock():
                    counter.value = len(tasks)  # every task claimed: helpers stop after their current one
                return _Done()
            done = _drain(store.conn, tasks, _claimer(counter))
            starter.join()
            if failed:
                raise failed[0]
            for future in futures:
                done.add(future.result())
            return done
        finally:
            starter.join()
            pool.shutdown(wait=True, cancel_futures=True)

    return finish


def _read_only(case_file: str) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(case_file).resolve().as_uri()}?mode=ro", uri=True)


def _write_exports(conn: sqlite3.Connection, jobs: list[_Job], sealed: _Sealed | None = None,
                   headers: dict[str, list[str]] | None = None) -> dict[str, int]:
    """Each job's export; the SHA-256 and size of each file written go into ``sealed``, its
    columns into ``headers``."""
    counts = {}
    for name, sql, csv_path, jsonl_path in jobs:
        columns: list[str] = []
        with export_sql(conn, Export(name=name, sql=sql), KEYED) as query:  # its keyed form, if any
            counts[name] = _write_export(conn, query, csv_path, jsonl_path, sealed, columns=columns)
        if headers is not None:
            headers[name] = columns
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


def _write_export(conn: sqlite3.Connection, sql: str, csv_path: Path | None, jsonl_path: Path | None,
                  sealed: _Sealed | None = None, *, columns: list[str] | None = None) -> int:
    """The CSV and the JSON Lines file of one export (a path None: that file is not written,
    nor its text made) from one pass over the query (streamed, a batch of rows at a time:
    one write per batch and file, not two per row); the files' SHA-256 and sizes go into
    ``sealed``, the query's columns into ``columns``."""
    cursor = conn.execute(sql)
    header = [d[0] for d in cursor.description]
    if columns is not None:
        columns[:] = header
    line = jsonl_line_writer(header)
    count = 0
    files: dict[str, _SealedFile] = {}
    try:
        for fmt, path in (("csv", csv_path), ("jsonl", jsonl_path)):
            if path is not None:
                files[fmt] = _SealedFile(path)
        csv_file, jsonl_file = files.get("csv"), files.get("jsonl")
        sink = TextChunks()
        writer = csv_writer(sink, header)  # type: ignore[arg-type]
        while batch := cursor.fetchmany(EXPORT_BATCH):
            if csv_file is not None:
                writer.writerows([csv_cells(row) for row in batch])
                csv_file.write(sink.drain())
            if jsonl_file is not None:
                jsonl_file.write("".join([line(row) for row in batch]))
            count += len(batch)
        if csv_file is not None:
            csv_file.write(sink.drain())  # the header of an empty export
    except BaseException:
        sealed = None  # a file left half written is not sealed
        raise
    finally:
        for file in files.values():
            file.close(sealed)
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


def _page_context(store: Store, counts: dict[str, int], rules: str | None = None,
                  formats: Formats = EVERY_FORMAT) -> Context:
    from forensics.report.html import Context

    plan = {e.name: e for e in export_plan(store.conn, QUERIES)}
    return Context(conn=store.conn, plan=plan, tool_version=__version__,
                   rules_version=rules_version() if rules is None else rules, counts=counts, formats=formats)


def _write_page(store: Store, out: Path, counts: dict[str, int], rendered: list[Drawn],
                rules: str | None = None, first: FirstSections | None = None, formats: Formats = EVERY_FORMAT) -> Path:
    """``report.html``; ``first``: its sections already made (``html.first_sections``) with these ``counts``."""
    from forensics.report.html import render_report

    page = out / "report.html"
    page.write_text(render_report(_page_context(store, counts, rules, formats), rendered, first),
                    encoding="utf-8", newline="\n")
    return page


def _data_sets(tasks: list[_Task], done: _Done, rows: dict[str, int]) -> tuple[
        list[Path], dict[str, list[str]], dict[str, list[str]]]:
    """The exports' and the timeline's files, in plan order, their headers and file names;
    ``rows`` gets each one's row count (the same order, whichever process wrote it)."""
    data: list[Path] = []
    headers: dict[str, list[str]] = {}
    files: dict[str, list[str]] = {}
    for task in [t for t in tasks if t.kind == "export"] + [t for t in tasks if t.kind == "timeline"]:
        rows[task.name] = done.rows[task.name]
        data += task.paths
        files[task.name] = [p.name for p in task.paths]
        headers[task.name] = list(TIMELINE_COLUMNS) if task.kind == "timeline" else done.headers[task.name]
    return data, headers, files


def _replace_earlier(out: Path, earlier: dict[str, dict[str, Any]], written: list[Path]) -> tuple[list[Path], list[Path]]:
    """Remove the files an earlier report listed in this folder's manifest (``earlier``) that
    this one did not write (it chose fewer formats, or a data set is gone): the manifest is
    the folder's seal, and a file beside it that it does not list would pass for part of
    this report. Only files still exactly as that report sealed them (size and SHA-256)
    are removed: the tool removes its own files and nothing else (never the case, never a
    file it did not list). Returns those removed and those left (changed since).
    """
    names = {p.name for p in written} | {CASE_FILE, MANIFEST}
    removed: list[Path] = []
    left: list[Path] = []
    for name, record in sorted(earlier.items()):
        path = out / name
        if name in names or Path(name).name != name or path.is_symlink() or not path.is_file():
            continue
        if record.get("size") == path.stat().st_size and record.get("sha256") == sha256_of(path):
            path.unlink()
            removed.append(path)
        else:
            left.append(path)
    return removed, left


def report_helpers(store: Store, workers: int | None) -> int:
    """Processes to write the exports beside this one: none for a small case (starting one
    costs more than it saves), else one less than the workers (default: every core)."""
    wanted = (os.cpu_count() or 1) if workers is None else workers
    if wanted <= 1:
        return 0
    big = store.conn.execute(f"SELECT COUNT(*) >= {PARALLEL_FROM_MESSAGES} FROM messages").fetchone()[0]
    return min(wanted - 1, MAX_HELPERS) if big else 0


def write_report(case: Path, out: Path, *, argv: list[str], scan_started: str = "",
                 scan_finished: str = "", workers: int | None = None, formats: Formats = EVERY_FORMAT) -> ReportResult:
    """Write the whole report of the case in folder ``case`` into folder ``out``.

    ``workers``: processes to use for a large case (default: every core); the files are
    the same whatever the number. ``formats``: the data sets' and graphs' files (default:
    every format). The files an earlier report sealed in ``out`` and this one does not
    write are removed (``_replace_earlier``).

    Raises:
        ReadError: ``case`` holds no case store.
    """
    if not (case / CASE_FILE).is_file():
        raise ReadError(f"no case found in {case} (expected {CASE_FILE}; run `forensics scan` first)")
    started = _utc_now()
    out.mkdir(parents=True, exist_ok=True)
    earlier = earlier_outputs(out)  # read before this report replaces the manifest
    with Store(case) as store:
        # The report reads each table once or twice, in key order: a small page cache does
        # (the scan's is sized for keyed inserts into large tables).
        store.conn.execute(f"PRAGMA cache_size=-{REPORT_CACHE_KIB}")
        tasks = _tasks(store.conn, out, formats)
        finish = _start(store, tasks, report_helpers(store, workers))  # helpers take tasks from now on
        rows: dict[str, int] = {}  # filled once every task is done
        try:
            rules = rules_version()  # once for the page and the manifest
            charts, rendered = _write_charts(store, out)
            trim_memory()
            # The page, while helpers may still be writing: its row counts are filled in later.
            from forensics.report.html import first_sections

            first = first_sections(_page_context(store, rows, rules, formats), rendered, later=True)
        except BaseException:
            finish(False)  # no more tasks started; the helpers' current ones end before the error goes on
            raise
        # This process takes the tasks left, then waits for the helpers: the rest of the page
        # and the dictionary need every export's row count and header.
        done = finish(True)
        data, headers, files = _data_sets(tasks, done, rows)
        outputs = data + charts + [_write_page(store, out, rows, rendered, rules, first, formats)] + done.graphs
        outputs.append(write_dictionary(headers, files, out / "data_dictionary.md"))
        finished_scan = scan_finished or _meta(store, "last_scan_finished_utc")
    # The store is closed (WAL checkpointed) before its file is hashed.
    outputs_sealed = outputs + ([case / CASE_FILE] if case.resolve() == out.resolve() else [])
    removed, left = _replace_earlier(out, earlier, outputs_sealed)
    with Store(case) as store:
        manifest = write_manifest(store, out, argv=argv, started=scan_started, finished=finished_scan,
                                  outputs=outputs_sealed, report_started=started, report_finished=_utc_now(),
                                  rules=rules, sealed=done.sealed,
                                  formats={"tables": list(formats.tables), "graphs": list(formats.graphs)})
    return ReportResult(folder=out, outputs=tuple(outputs + [manifest]), rows=rows,
                        removed=tuple(removed), left=tuple(left))


def _meta(store: Store, key: str) -> str:
    row = store.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else ""
