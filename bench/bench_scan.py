"""End-to-end scan throughput, scaling and memory, against bare stdlib mbox iteration.

For every mbox given: bare iteration with the stdlib ``mailbox.mbox`` (which parses
each message with the email package, as the scan does) on the same file in the same
run, then ``forensics scan`` in a subprocess for each worker count, with messages/s,
MB/s, the ratio to the stdlib rate, the ratio to 1 worker, and the peak memory of the
whole process tree (main + workers, sampled with psutil, plus the largest single
process from getrusage). ``--rss-sizes`` generates mboxes of those sizes (bench/
make_big_mbox.py, same seed: each is a prefix of the next) and prints the peak
memory per size, to show it is flat. ``--breakdown`` times each stage in-process.

    python bench/bench_scan.py ../shared/corpus/spamassassin-public-corpus/spamassassin-public-corpus-all.mbox \\
        /tmp/forensics-bench/evidence/big.mbox --workers 1,2 --rss-sizes 0.25G,0.5G,1G

Outputs go to --tmp (default /tmp/forensics-bench), never beside the evidence. This is
a script, not a test: targets are printed, nothing fails.
"""

from __future__ import annotations

import argparse
import builtins
import json
import mailbox
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGET_VS_STDLIB = 1.0
TARGET_SCALING = 1.8
TARGET_RSS_MB = 500

# Run in the child: the scan's phases timed through the progress hook, then the report.
DRIVER = r"""
import json, os, resource, sys, time
from pathlib import Path
from forensics.entry import leave_heap_to_the_os, wants_worker_processes
from forensics.engines.forkserver import start_forkserver
if __name__ == "__main__" and wants_worker_processes(["scan", "--workers", sys.argv[3]]):
    start_forkserver()  # before the imports below, as the console entry does (forensics/entry.py)
from forensics.pipeline import ScanOptions, scan
from forensics.report.build import write_report
marks = {"start": time.perf_counter()}
def phase(name):  # read by the parent's sampler: peak memory per phase
    Path(sys.argv[4]).write_text(name)
def hook(done, total):
    marks.setdefault("first_shard", time.perf_counter())
    marks["last_shard"] = time.perf_counter()
    marks["shards_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if done == total:
        phase("finalizers")
if __name__ == "__main__":
    paths, out, workers = [Path(p) for p in sys.argv[1].split(os.pathsep)], Path(sys.argv[2]), int(sys.argv[3])
    phase("shards")
    result = scan(paths, ScanOptions(out=out, workers=workers, resume=False), progress=hook)
    marks["scanned"] = time.perf_counter()
    phase("report")
    peaks = {"main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
             "worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    error = ""
    try:  # a report bug must not hide the scan's figures
        write_report(out, out, argv=["bench"], scan_started=result.started_utc, scan_finished=result.finished_utc,
                     workers=workers)
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
    marks["reported"] = time.perf_counter()
    print(json.dumps({"marks": marks, "shards": result.shards_run, "tasks": result.tasks, "peaks": peaks,
                      "report_error": error}))
    leave_heap_to_the_os()  # as the console entry does after the command
"""


@contextmanager
def read_only_mailbox() -> Iterator[None]:
    """stdlib mailbox opens the file 'rb+' when it can: make it open read-only (evidence)."""
    real_open = builtins.open

    def ro_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return real_open(file, mode.replace("+", ""), *args, **kwargs)

    mailbox.open = ro_open  # type: ignore[attr-defined]  # the module's global 'open'
    try:
        yield
    finally:
        del mailbox.open  # type: ignore[attr-defined]


def stdlib_rate(path: Path) -> dict[str, float]:
    """Bare iteration: stdlib splits the mbox and parses every message; nothing else."""
    start, cpu = time.perf_counter(), time.process_time()
    with read_only_mailbox():
        box = mailbox.mbox(path, create=False)
        count = sum(1 for _ in box)
        box.close()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"messages": count, "seconds": seconds, "msg_s": count / seconds,
            "mb_s": path.stat().st_size / 1e6 / seconds, "cpu_s": cpu}


def run_scan(path: Path | tuple[Path, ...], out: Path, workers: int, size: int | None = None,
             pss: bool = True) -> dict[str, Any]:
    """One scan (of one path or several) in a fresh subprocess; peak memory of its whole process
    tree sampled. ``size``: the input's bytes, for MB/s (default: the one file's size).

    ``pss``: sample the tree's PSS too. Reading it (``/proc/PID/smaps``) costs about 9 ms of
    CPU per 300 MB process, 10-20% of a core at five samples a second: with one worker that
    runs on the idle core, with two it is taken from the workers, and the 2-worker run was
    measured up to ~10% slower. Timing runs leave it out (``--no-pss``)."""
    import psutil

    paths = path if isinstance(path, tuple) else (path,)
    size = paths[0].stat().st_size if size is None else size

    shutil.rmtree(out, ignore_errors=True)
    phase_file = out.parent / f"{out.name}.phase"
    phase_file.write_text("start")
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", DRIVER, os.pathsep.join(map(str, paths)), str(out), str(workers), str(phase_file)],
                             stdout=subprocess.PIPE, cwd=HERE)
    peak = peak_pss = 0
    by_phase: dict[str, float] = {}  # peak PSS of the tree per phase (shards, finalizers, report)
    proc = psutil.Process(child.pid)
    cpu: dict[int, float] = {}  # last CPU seconds seen per process of the tree (workers included)
    worker_rss: dict[int, int] = {}
    while child.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
            if pss:  # PSS counts pages shared by forked workers once: the memory the tree really uses.
                tree_pss = sum(getattr(p.memory_full_info(), "pss", 0) for p in tree)
                peak_pss = max(peak_pss, tree_pss)
                now = phase_file.read_text() or "start"
                by_phase[now] = max(by_phase.get(now, 0), tree_pss / 1e6)
            for p in tree:
                times = p.cpu_times()
                cpu[p.pid] = times.user + times.system
                if p.pid != child.pid:
                    worker_rss[p.pid] = max(worker_rss.get(p.pid, 0), p.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    stdout = child.stdout.read() if child.stdout else b""
    if child.returncode != 0:
        raise SystemExit(f"scan failed ({child.returncode}) on {path}")
    info = json.loads(stdout.decode().strip().splitlines()[-1])
    marks = info["marks"]
    import sqlite3

    with sqlite3.connect(out / "case.sqlite") as conn:
        messages = conn.execute("SELECT COUNT(*) FROM occurrences").fetchone()[0]
    return {
        "workers": workers, "messages": messages, "seconds": seconds, "shards": info["shards"],
        "msg_s": messages / seconds, "mb_s": size / 1e6 / seconds,
        "shards_s": marks.get("last_shard", marks["start"]) - marks["start"],  # hash, plan, all shards
        "finalize_s": marks["scanned"] - marks.get("last_shard", marks["start"]),
        "report_s": marks["reported"] - marks["scanned"],
        "peak_tree_mb": peak / 1e6, "peak_pss_mb": peak_pss / 1e6, "cpu_s": sum(cpu.values()),
        "report_error": info.get("report_error", ""), "pss_by_phase": by_phase,
        "scan_main_mb": info["peaks"]["main"], "shards_main_mb": marks.get("shards_peak_mb", 0.0), "scan_worker_mb": max(worker_rss.values(), default=0) / 1e6,
    }


def _phases(r: dict[str, Any]) -> str:
    return ", ".join(f"{name} {mb:.0f} MB" for name, mb in r["pss_by_phase"].items() if name != "start")


def bench_file(path: Path, workers: list[int], tmp: Path, rounds: int = 1, pss: bool = True) -> None:
    """Each round runs the stdlib iteration, then a scan per worker count (in reverse order
    every other round, so a slow spell of the machine does not always fall on the same
    count); with several rounds, a summary of the rounds follows."""
    size_mb = path.stat().st_size / 1e6
    print(f"\n== {path} ({size_mb:.1f} MB)")
    runs: dict[int, list[dict[str, Any]]] = {count: [] for count in workers}
    bases: list[dict[str, float]] = []
    for round_no in range(rounds):
        if rounds > 1:
            print(f"-- round {round_no + 1} of {rounds}, load average {os.getloadavg()[0]:.1f}")
        base = stdlib_rate(path)
        bases.append(base)
        print(f"stdlib mailbox.mbox iteration: {base['messages']} messages in {base['seconds']:.1f} s = "
              f"{base['msg_s']:.0f} msg/s, {base['mb_s']:.2f} MB/s; CPU {base['cpu_s']:.1f} s")
        order = workers if round_no % 2 == 0 else workers[::-1]
        for count in order:
            runs[count].append(run_scan(path, tmp / f"case-{count}", count, pss=pss))
        one = runs[1][-1] if 1 in runs else None
        for count in workers:
            _print_run(runs[count][-1], base, one)
    if rounds > 1:
        _print_rounds(runs, bases)


def _print_run(r: dict[str, Any], base: dict[str, float], one: dict[str, Any] | None) -> None:
    count = r["workers"]
    scaling = ""
    if one and count > 1:  # on a busy machine the wall ratio says little: CPU says what idle cores would give
        bound = one["cpu_s"] / (r["cpu_s"] / count)
        scaling = (f", {r['msg_s'] / one['msg_s']:.2f}x 1 worker (target {TARGET_SCALING}; "
                   f"CPU-time bound on idle cores {bound:.2f}x)")
    print(f"scan --workers {count}: {r['messages']} messages in {r['seconds']:.1f} s = {r['msg_s']:.0f} msg/s, "
          f"{r['mb_s']:.2f} MB/s, {r['msg_s'] / base['msg_s']:.2f}x stdlib (target {TARGET_VS_STDLIB}){scaling}")
    print(f"    phases: hash+plan+shards {r['shards_s']:.1f} s ({r['shards']} shards), "
          f"finalizers+verify {r['finalize_s']:.1f} s, report {r['report_s']:.1f} s; "
          f"CPU {r['cpu_s']:.0f} s (CPU per message {r['cpu_s'] / base['cpu_s']:.1f}x stdlib's; on a busy "
          f"machine this is the steadier figure); peak memory of the tree: PSS {r['peak_pss_mb']:.0f} MB "
          f"(target < {TARGET_RSS_MB}), RSS sum {r['peak_tree_mb']:.0f} MB; main process: "
          f"{r['shards_main_mb']:.0f} MB after the shards, {r['scan_main_mb']:.0f} MB after the "
          f"finalizers; largest worker {r['scan_worker_mb']:.0f} MB")
    if r["pss_by_phase"]:
        print(f"    peak PSS of the tree by phase: {_phases(r)}")
    else:
        print("    PSS not sampled (--no-pss): the PSS figures above are 0")
    if r["report_error"]:
        print(f"    REPORT FAILED (its time is up to the failure): {r['report_error']}")


def _print_rounds(runs: dict[int, list[dict[str, Any]]], bases: list[dict[str, float]]) -> None:
    """Median and best of the rounds per worker count, and the ratio to 1 worker each way:
    the ratio of the medians, of the bests, and the worst and best ratio of one round's pair."""
    from statistics import median

    print(f"\n   summary of {len(bases)} rounds (seconds, whole scan and report):")
    print(f"   stdlib iteration: median {median(b['seconds'] for b in bases):.2f} s, "
          f"best {min(b['seconds'] for b in bases):.2f} s")
    for count, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        line = f"   --workers {count}: median {median(secs):.1f} s, best {min(secs):.1f} s, all " + \
            ", ".join(f"{s:.1f}" for s in secs)
        if count > 1 and 1 in runs:
            ones = [r["seconds"] for r in runs[1]]
            pairs = [a / b for a, b in zip(ones, secs)]
            line += (f"; vs 1 worker: median {median(ones) / median(secs):.2f}x, best {min(ones) / min(secs):.2f}x, "
                     f"per round {', '.join(f'{p:.2f}' for p in pairs)}x (target {TARGET_SCALING})")
        print(line)


def rss_series(sizes: list[str], workers: int, tmp: Path, seed: int) -> None:
    sys.path.insert(0, str(HERE))
    import make_big_mbox

    evidence = tmp / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    print(f"\n== peak memory by input size (generated, seed {seed}, {workers} workers)")
    for size in sizes:
        path = evidence / f"gen-{size}.mbox"
        with open(path, "wb") as handle:
            for entry in make_big_mbox.generate(make_big_mbox.parse_size(size), seed):
                handle.write(entry)
        r = run_scan(path, tmp / "case-rss", workers)
        print(f"{size:>6}: {path.stat().st_size / 1e6:7.0f} MB, {r['messages']} messages, {r['seconds']:.0f} s, "
              f"{r['msg_s']:.0f} msg/s, peak PSS {r['peak_pss_mb']:.0f} MB (target < {TARGET_RSS_MB}), "
              f"RSS sum {r['peak_tree_mb']:.0f} MB; main {r['shards_main_mb']:.0f} MB after the shards, "
              f"{r['scan_main_mb']:.0f} MB after the finalizers; largest worker {r['scan_worker_mb']:.0f} MB")
        print(f"        by phase: {_phases(r)}; phases: shards {r['shards_s']:.0f} s, finalizers "
              f"{r['finalize_s']:.0f} s, report {r['report_s']:.0f} s")
        path.unlink()


def breakdown(path: Path, limit: int) -> None:
    """Seconds per stage, in this process, on the first ``limit`` messages."""
    import forensics.stages as stages
    from forensics.analyse import MessageContext, Settings, attachment_rows, message_row, occurrence_row
    from forensics.ingest import plan_input, READERS
    from forensics.parse import parse_rfc5322
    from forensics.records import Findings
    from forensics.store import encode_findings

    planned = plan_input(path)
    spent: dict[str, float] = {}
    settings, findings, count = Settings(), Findings(), 0

    def timed(name: str, fn: Any, *args: Any) -> Any:
        t = time.perf_counter()
        value = fn(*args)
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
        return value

    for shard in planned.shards:
        items = iter(READERS[shard.reader].read(shard))
        while count < limit and (raw := timed("read (mbox split)", next, items, None)) is not None:
            count += 1
            for message in timed("parse", parse_rfc5322, raw):
                rows = timed("core rows", lambda m: [message_row(m), occurrence_row(m), *attachment_rows(m)], message)
                context = MessageContext()
                for analyser in stages.ANALYSERS:
                    rows += timed(f"{analyser.__module__}.{analyser.__name__}", analyser, message, settings, context)
                findings.extend(rows)
    timed("encode rows", encode_findings, findings)
    total = sum(spent.values())
    print(f"\n== time per stage, 1 process, {count} messages of {path.name}: {count / total:.0f} msg/s")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{seconds:8.2f} s {100 * seconds / total:5.1f} %  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mboxes", nargs="*", type=lambda p: Path(p).resolve())
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, e.g. 1,2")
    parser.add_argument("--rss-sizes", default="", help="generated sizes for the memory series, e.g. 0.25G,0.5G,1G")
    parser.add_argument("--rss-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--breakdown", type=int, default=0, metavar="N", help="time each stage on N messages")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds per mbox (worker order reversed every other round), then median and best")
    parser.add_argument("--no-pss", action="store_true",
                        help="time without sampling PSS (it costs the 2-worker run up to ~10%%: see run_scan)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tmp", type=Path, default=Path("/tmp/forensics-bench"))
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",") if w]
    args.tmp.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    print(f"forensics bench, commit {commit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for path in args.mboxes:
        if args.breakdown:
            breakdown(path, args.breakdown)
        bench_file(path, workers, args.tmp, args.rounds, pss=not args.no_pss)
    if args.rss_sizes:
        rss_series(args.rss_sizes.split(","), args.rss_workers, args.tmp, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
