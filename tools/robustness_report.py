"""Robustness report: every file of a corpus through ``scan`` (and the report) in a temporary case.

Prints the files found, how they were read or why they were skipped, the messages, the
problems by kind and severity, the crashes (problems whose kind says a planner, reader,
parser, stage or worker crashed; an exception out of the scan or the report), the time
and peak memory, and the slowest items (single messages or Outlook items, timed as they
are read, parsed and analysed).

    python tools/robustness_report.py                   # ../shared/corpus, one worker
    python tools/robustness_report.py DIR --top 15 --json

Items are timed in this process, so the scan runs with one worker by default; with
``--workers N`` the counts are the same and only the slowest shards' totals are timed
(workers are separate processes). Crashes must be 0: the exit code is 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CRASH_KINDS = ("plan-crash", "reader-crash", "parse-crash", "analysis-crash", "worker-crash")


@dataclass
class Timings:
    """Seconds per item (a message or Outlook item as read, parsed and analysed) and per shard."""

    items: list[tuple[float, str]] = field(default_factory=list)
    shards: list[tuple[float, str]] = field(default_factory=list)

    def slowest(self, top: int) -> list[tuple[float, str]]:
        return sorted(self.items or self.shards, reverse=True)[:top]


def _timed_items(timings: Timings) -> Callable[[], None]:
    """Wrap the engine's per-item and per-shard steps (in this process) with a clock; returns the undo."""
    from forensics.engines import shard as engine

    original_item = getattr(engine, "_process_item", None)
    original_shard = engine.process_shard

    def item(raw: Any, settings: Any, findings: Any) -> int:
        started = time.perf_counter()
        try:
            return original_item(raw, settings, findings)  # type: ignore[misc]
        finally:
            where = f"{raw.locator.source_path} [{raw.locator.display()}]"
            timings.items.append((time.perf_counter() - started, where))

    def shard(unit: Any, settings: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_shard(unit, settings)
        finally:
            timings.shards.append((time.perf_counter() - started, f"{unit.path} [{unit.shard_id}]"))

    if original_item is not None:  # a private step: timed when the engine still has it
        engine._process_item = item  # type: ignore[attr-defined]
    engine.process_shard = shard  # type: ignore[assignment]

    def undo() -> None:
        if original_item is not None:
            engine._process_item = original_item  # type: ignore[attr-defined]
        engine.process_shard = original_shard

    return undo


def run(corpus: Path, out: Path, workers: int) -> tuple[dict[str, Any], Timings]:
    from forensics.pipeline import ScanOptions, scan
    from forensics.report.build import write_report

    timings = Timings()
    undo = _timed_items(timings)
    figures: dict[str, Any] = {"corpus": str(corpus), "workers": workers, "exceptions": []}
    started = time.perf_counter()
    try:
        scan([corpus], ScanOptions(out=out, workers=workers))
        figures["scan_seconds"] = round(time.perf_counter() - started, 1)
        report_started = time.perf_counter()
        write_report(out, out, argv=["tools/robustness_report.py", str(corpus)])
        figures["report_seconds"] = round(time.perf_counter() - report_started, 1)
    except Exception as e:  # noqa: BLE001 - a crash is what this script counts and shows
        where = traceback.extract_tb(e.__traceback__)[-1]
        figures["exceptions"].append(f"{''.join(traceback.format_exception_only(e)).strip()} "
                                     f"at {Path(where.filename).name}:{where.lineno}")
    finally:
        undo()
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    figures.update(case_figures(out))
    return figures, timings


def case_figures(out: Path) -> dict[str, Any]:
    """Counts read back from the case: files, formats, messages, problems by kind, crashes."""
    path = out / "case.sqlite"
    if not path.is_file():
        return {}
    with sqlite3.connect(path) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]
        kinds = conn.execute("SELECT kind, severity, COUNT(*) FROM problems GROUP BY kind, severity "
                             "ORDER BY COUNT(*) DESC, kind").fetchall()
        return {
            "files": one("SELECT COUNT(*) FROM inputs") + one("SELECT COUNT(*) FROM problems WHERE kind = 'unreadable-file'"),
            "files_read": one("SELECT COUNT(*) FROM inputs WHERE status = 'read'"),
            "files_skipped": one("SELECT COUNT(*) FROM inputs WHERE status = 'skipped'"),
            "formats": dict(conn.execute("SELECT format, COUNT(*) FROM inputs WHERE status = 'read' "
                                         "GROUP BY format ORDER BY format").fetchall()),
            "messages": one("SELECT COUNT(*) FROM messages"),
            "occurrences": one("SELECT COUNT(*) FROM occurrences"),
            "defective": one("SELECT COUNT(*) FROM messages WHERE status = 'defective'"),
            "problems": {f"{kind} ({severity})": count for kind, severity, count in kinds},
            "crash_problems": [list(r) for r in conn.execute(
                f"SELECT source_path, kind, reason FROM problems WHERE kind IN ({', '.join('?' * len(CRASH_KINDS))})",
                CRASH_KINDS)],
        }


def crashes(figures: dict[str, Any]) -> int:
    return len(figures.get("crash_problems", [])) + len(figures["exceptions"])


def print_text(figures: dict[str, Any], timings: Timings, top: int) -> None:
    print(f"corpus        {figures['corpus']} ({figures['workers']} worker(s))")
    print(f"files         {figures.get('files')}: {figures.get('files_read')} read, {figures.get('files_skipped')} "
          "skipped (not mail, with the reason)")
    print("formats       " + ", ".join(f"{k} {v}" for k, v in figures.get("formats", {}).items()))
    print(f"messages      {figures.get('messages')} unique, {figures.get('occurrences')} occurrences, "
          f"{figures.get('defective')} with defects")
    print(f"time          scan {figures.get('scan_seconds')} s, report {figures.get('report_seconds')} s; "
          f"peak RSS {figures['peak_rss_mb']} MB")
    print("problems by kind (severity):")
    for kind, count in figures.get("problems", {}).items():
        print(f"  {count:7d}  {kind}")
    print(f"crashes       {crashes(figures)}")
    for line in figures.get("crash_problems", []) + figures["exceptions"]:
        print(f"  {line}")
    label = "items" if timings.items else "shards"
    print(f"slowest {label}:")
    for seconds, where in timings.slowest(top):
        print(f"  {seconds:8.2f} s  {where}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--top", type=int, default=10, help="slowest items shown")
    parser.add_argument("--keep", type=Path, help="write the case here (and keep it) instead of a temp folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="robustness-") as tmp:
        out = args.keep or Path(tmp) / "case"
        figures, timings = run(args.corpus.resolve(), out, args.workers)
    if args.json:
        figures["slowest"] = [[round(s, 3), w] for s, w in timings.slowest(args.top)]
        print(json.dumps(figures, indent=1))
    else:
        print_text(figures, timings, args.top)
    return 1 if crashes(figures) else 0


if __name__ == "__main__":
    sys.exit(main())
