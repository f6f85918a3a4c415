"""Benchmark: the report phase of a finished case, part by part, against a baseline tree.

Each measurement runs in a fresh process whose ``forensics`` package comes from the tree
under test (this checkout, or a baseline unpacked with ``git archive REV | tar -x -C DIR``),
and the trees alternate round by round, so load from other users of the machine falls on
both alike. Per part, in one process (no helpers), it prints CPU seconds (best of the
rounds) for both trees and their ratio:

- ``imports``: importing ``forensics.report.build`` (and what it pulls in);
- ``exports``: every CSV and JSON Lines export, written one after another;
- ``timeline``, ``charts`` (PNG and SVG of each), ``graph`` (``graph.*``, ``graph_brokers.*``),
  ``page`` (``report.html``), ``dictionary``, ``manifest`` (hashing every file written; a tree
  whose exports hash their files as they write them passes those hashes on);

then the whole ``write_report`` with 1 and with 2 workers: wall-clock, and CPU of the main
process (helpers are children of the forkserver, which this process does not wait for). With ``--check``, every file the two trees wrote is compared byte for byte
(of ``manifest.json``, which holds the run's times, only its ``outputs``: each file's hash and size).

    git archive 9f3b0f7 | tar -x -C /tmp/rep-base
    python bench/bench_report.py CASE_FOLDER --baseline /tmp/rep-base --rounds 3 --check
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PARTS = ("imports", "exports", "timeline", "charts", "graph", "page", "dictionary", "manifest")

# Run in the child: the parts one after another in one process, CPU and wall time of each.
_PARTS_CHILD = r"""
import json, sys, time
from pathlib import Path
def clock():
    return time.process_time(), time.perf_counter()
times = {}
c0, w0 = clock()
from forensics.report import build
from forensics.report.csvout import QUERIES
from forensics.report.tables import export_plan
from forensics.report.timeline import write_timeline
from forensics.report.dictionary import write_dictionary
from forensics.correlate.export import write_graphs
from forensics.store import Store
import forensics.report.charts, forensics.report.html  # imported where used since 0e786ee: counted here for both trees
c1, w1 = clock(); times["imports"] = (c1 - c0, w1 - w0)
case, out, skip = Path(sys.argv[1]), Path(sys.argv[2]), set(sys.argv[3].split(","))
out.mkdir(parents=True, exist_ok=True)
import inspect
from forensics.report.manifest import write_manifest
with Store(case) as store:
    store.conn.execute(f"PRAGMA cache_size=-{build.REPORT_CACHE_KIB}")
    def part(name, fn, *args, **kwargs):
        if name in skip:
            times[name] = (0.0, 0.0); return None
        a, b = clock(); value = fn(*args, **kwargs); c, d = clock(); times[name] = (c - a, d - b); return value
    jobs = [(e.name, e.sql, out / f"{e.name}.csv", out / f"{e.name}.jsonl") for e in export_plan(store.conn, QUERIES)]
    # A tree whose exports hash their files as they write them (the manifest then does not read them).
    sealed = {} if "sealed" in inspect.signature(build._write_exports).parameters else None
    counts = part("exports", build._write_exports, store.conn, jobs, *([sealed] if sealed is not None else []))
    events = part("timeline", write_timeline, store, out / "timeline.csv")
    if events is not None:
        counts["timeline"] = events
    charts, drawn = part("charts", build._write_charts, store, out) or ([], [])
    part("graph", write_graphs, store.conn, out)
    part("page", build._write_page, store, out, counts, drawn)
    headers = {name: build._header(out / f"{name}.csv") for name in counts}
    files = {name: [f"{name}.csv", f"{name}.jsonl"] for name, *_ in jobs} | (
        {"timeline": ["timeline.csv"]} if events is not None else {})
    part("dictionary", write_dictionary, headers, files, out / "data_dictionary.md")
    outputs = [p for p in out.iterdir() if p.is_file()]
    extra = {"sealed": sealed} if sealed is not None else {}
    part("manifest", write_manifest, store, out, argv=["bench"], started="", finished="", outputs=outputs,
         rules="bench", **extra)
print(json.dumps(times))
"""

# The whole report as ``forensics report`` writes it, with N workers; with "warm", as the end
# of ``forensics scan`` writes it: the report's module imported and the forkserver running
# (the scan's workers came from it) before the clock starts.
_WHOLE_CHILD = r"""
import json, sys, time
from pathlib import Path
def main():
    if sys.argv[4] == "warm":
        from concurrent.futures import ProcessPoolExecutor
        import forensics.report.build
        from forensics.engines.local import mp_context
        with ProcessPoolExecutor(1, mp_context=mp_context()) as pool:
            pool.submit(sum, ()).result()
    c0, w0 = time.process_time(), time.perf_counter()
    from forensics.report.build import write_report
    write_report(Path(sys.argv[1]), Path(sys.argv[2]), argv=["bench"], workers=int(sys.argv[3]))
    print(json.dumps({"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0}))
if __name__ == "__main__":
    main()
"""


def _child(tree: Path, code: str, *args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          cwd=tempfile.gettempdir(), timeout=1800, check=False)
    if done.returncode:
        raise SystemExit(f"{tree}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _best(runs: list[dict[str, object]], key: str, index: int) -> float:
    return min(float(r[key][index]) if isinstance(r[key], list) else float(r[key]) for r in runs)  # type: ignore[index,arg-type]


def _differing(a: Path, b: Path) -> list[str]:
    """Files that differ; of ``manifest.json`` (times, paths) only its ``outputs`` (hash and size of each file)."""
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    differ = [n for n in names if n != "manifest.json"
              and not ((a / n).is_file() and (b / n).is_file() and filecmp.cmp(a / n, b / n, shallow=False))]
    manifests = [json.loads((d / "manifest.json").read_text(encoding="utf-8")) for d in (a, b)
                 if (d / "manifest.json").is_file()]
    if len(manifests) == 2 and manifests[0]["outputs"] != manifests[1]["outputs"]:
        differ.append("manifest.json outputs")
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", type=Path, help="folder holding case.sqlite (a finished scan)")
    parser.add_argument("--baseline", type=Path, help="a baseline source tree (git archive of an older commit)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="whole-report runs with these worker counts ('' for none)")
    parser.add_argument("--no-parts", action="store_true", help="only the whole-report runs")
    parser.add_argument("--check", action="store_true", help="compare every file of the two trees byte for byte")
    parser.add_argument("--skip", default="", help="parts not to run (e.g. charts,graph,timeline: the page then has no charts)")
    parser.add_argument("--warm", action="store_true",
                        help="whole reports as a scan ends them: report imported, forkserver running")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-report")
    args = parser.parse_args()
    trees = {"new": HERE} | ({"old": args.baseline.resolve()} if args.baseline else {})
    shutil.rmtree(args.dir, ignore_errors=True)
    parts: dict[str, list[dict[str, object]]] = {t: [] for t in trees}
    whole: dict[tuple[str, int], list[dict[str, object]]] = {}
    workers = [int(w) for w in args.workers.split(",") if w]
    for round_ in range(args.rounds):
        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
        for tree in order:
            if not args.no_parts:
                out = args.dir / f"{tree}-parts"
                shutil.rmtree(out, ignore_errors=True)
                parts[tree].append(_child(trees[tree], _PARTS_CHILD, str(args.case.resolve()), str(out), args.skip))
            for n in workers:
                out = args.dir / f"{tree}-w{n}"
                shutil.rmtree(out, ignore_errors=True)
                whole.setdefault((tree, n), []).append(
                    _child(trees[tree], _WHOLE_CHILD, str(args.case.resolve()), str(out), str(n),
                           "warm" if args.warm else "cold"))
        print(f"round {round_ + 1} of {args.rounds} done", file=sys.stderr)
    names = list(trees)
    if not args.no_parts:
        print(f"{'part (CPU s, best)':22}" + "".join(f"{t:>10}" for t in names) + ("     ratio" if len(names) > 1 else ""))
        for part in PARTS:
            values = [_best(parts[t], part, 0) for t in names]
            ratio = f"{values[1] / values[0]:9.2f}x" if len(values) > 1 and values[0] else ""
            print(f"{part:22}" + "".join(f"{v:10.2f}" for v in values) + ratio)
        totals = [sum(_best(parts[t], p, 0) for p in PARTS) for t in names]
        print(f"{'sum of parts':22}" + "".join(f"{v:10.2f}" for v in totals)
              + (f"{totals[1] / totals[0]:9.2f}x" if len(totals) > 1 else ""))
    for n in workers:
        for key in ("wall", "cpu"):
            values = [_best(whole[(t, n)], key, 0) for t in names]
            label = f"write_report -j {n} " + ("wall" if key == "wall" else "main CPU")
            print(f"{label:22}" + "".join(f"{v:10.2f}" for v in values)
                  + (f"{values[1] / values[0]:9.2f}x" if len(values) > 1 and values[0] else ""))
    if args.check and len(names) > 1:
        for suffix in (["parts"] if not args.no_parts else []) + [f"w{n}" for n in workers]:
            diff = _differing(args.dir / f"new-{suffix}", args.dir / f"old-{suffix}")
            print(f"files differing ({suffix}, manifest.json: its outputs only): {diff or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
