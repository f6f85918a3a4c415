"""The scan's serial work in the main process, this tree against an older one, run alternately.

Two parts of a scan run in the main process only: storing every shard's rows (the single
writer) and the case-wide finalizers. For each mbox given, one scan (this tree) records the
encoded rows the workers hand to the writer and a copy of the case just before the
finalizers; then, alternately with the old tree and this one (the machine is shared, so a
slow moment hits both alike):

- storing: the recorded rows committed into a fresh case as the scan commits them
  (including, in this tree, building the deferred indexes); CPU seconds of the storing;
- finalizers: ``run_finalizers`` on a copy of the recorded case; CPU seconds (all threads),
  wall-clock seconds and the peak RSS of that process; with lanes (``stages.FINALIZER_LANES``),
  each finalizer's own CPU (its thread's) and, for one that waits for the other lanes
  (``store.await_finalizers``), its CPU after the wait: the part that runs alone.

It prints the median of each and the ratio old / new, and whether the finalized cases of
the two trees hold the same rows (every table, ordered by all columns).

    python bench/bench_finalizers.py ../shared/corpus/spamassassin-public-corpus/spamassassin-public-corpus-all.mbox \\
        /tmp/forensics-bench/evidence/big.mbox --old 9f3b0f7 --rounds 3

The old tree is ``git archive``-d into --tmp (default /tmp/forensics-bench-fin); outputs
go there too, never beside the evidence. A script, not a test: nothing fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Child: scan with this tree, recording the writer's input and the case before the finalizers.
CAPTURE = r"""
import pickle, shutil, sys
from pathlib import Path
import forensics.pipeline as p
def main():
    evidence, out, rows, before = map(Path, sys.argv[1:5])
    run, finalize = p._run, p.run_finalizers
    def recording_run(store, results, total, progress):
        with open(rows, "wb") as f:
            def tee():
                for task in results:
                    pickle.dump(task, f, protocol=5)
                    yield task
            run(store, tee(), total, progress)
    def copying_finalizers(store, settings):
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy(store.path, before)
        finalize(store, settings)
    p._run, p.run_finalizers = recording_run, copying_finalizers
    p.scan([evidence], p.ScanOptions(out=out, workers=int(sys.argv[5]), resume=False))
if __name__ == "__main__":
    main()
"""
# Child: commit the recorded rows into a fresh case, as pipeline._run does.
STORE = r"""
import json, pickle, shutil, sys, time
from pathlib import Path
import forensics.stages
from forensics.store import Store, release_heap
rows, out = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(out, ignore_errors=True)
spent = 0.0
with Store(out) as store, open(rows, "rb") as f:
    start = time.process_time()
    if hasattr(store, "defer_indexes"):
        store.defer_indexes()
    spent += time.process_time() - start
    while True:
        try:
            task = pickle.load(f)  # unpickling is the same for both trees: not counted
        except EOFError:
            break
        start = time.process_time()
        store.commit_encoded(task)
        del task
        release_heap()
        spent += time.process_time() - start
    start = time.process_time()
    if hasattr(store, "create_indexes"):
        store.create_indexes()
    spent += time.process_time() - start
print(json.dumps({"cpu": spent, "module": forensics.stages.__file__}))
"""
# Child: the finalizers on a copy of the recorded case, as pipeline.scan runs them; each
# finalizer's own CPU (its thread's) too, where the tree has lanes (stages.FINALIZER_LANES).
FINALIZE = r"""
import json, resource, shutil, sys, time
from pathlib import Path
import forensics.stages as stages
from forensics.analyse import Settings
from forensics.pipeline import run_finalizers
from forensics.store import Store
before, out = Path(sys.argv[1]), Path(sys.argv[2])
each = {}
def timed(finalizer):
    def run(store, settings):
        wait, waited = store.await_finalizers, []
        def timed_wait():  # what a finalizer does once the other lanes are done is serial
            wait()
            waited.append(time.thread_time())
        store.await_finalizers = timed_wait
        start = time.thread_time()
        try:
            finalizer(store, settings)
        finally:
            each[finalizer.__name__] = time.thread_time() - start
            if waited:
                each[finalizer.__name__ + ", after its wait"] = time.thread_time() - waited[0]
    return run
lanes = getattr(stages, "FINALIZER_LANES", None)
if lanes:
    lanes[:] = [[timed(f) for f in lane] for lane in lanes]
shutil.rmtree(out, ignore_errors=True)
out.mkdir(parents=True)
shutil.copy(before, out / "case.sqlite")
with Store(out) as store:
    cpu, wall = time.process_time(), time.perf_counter()
    with store.statistics():
        run_finalizers(store, Settings())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
print(json.dumps({"cpu": cpu, "wall": wall, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  **{f"cpu {name}": spent for name, spent in each.items()}}))
"""


def child(code: str, tree: Path, *args: object) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # Run from the tree's folder: ``python -c`` puts the working folder first on sys.path, so
    # from the repository both children would import this tree.
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True,
                          text=True, check=True, cwd=tree)
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def old_tree(rev: str, tmp: Path) -> Path:
    tree = tmp / f"tree-{rev}"
    if not (tree / "forensics").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def table_digest(case: Path) -> dict[str, str]:
    """Every table's rows ordered by all columns, hashed (meta's times left out)."""
    digests = {}
    with sqlite3.connect(f"file:{case}?mode=ro", uri=True) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            order = ", ".join(f'"{r[1]}"' for r in conn.execute(f'PRAGMA table_info("{table}")'))
            where = " WHERE key NOT LIKE '%utc%'" if table == "meta" else ""
            digest = hashlib.sha256()
            for row in conn.execute(f'SELECT * FROM "{table}"{where} ORDER BY {order}'):
                digest.update(repr(row).encode())
            digests[table] = digest.hexdigest()
    return digests


Runs = dict[str, list[dict[str, Any]]]  # per tree, one result per round


def alternate(code: str, trees: dict[str, Path], rounds: int, args: dict[str, tuple[object, ...]]) -> Runs:
    runs: Runs = {name: [] for name in trees}
    for _ in range(rounds):
        for name, tree in trees.items():
            runs[name].append(child(code, tree, *args[name]))
    return runs


def report(label: str, runs: Runs, key: str, unit: str = "s") -> None:
    old, new = (statistics.median(r[key] for r in runs[n]) for n in ("old", "new"))
    every = "  ".join(f"{n}: " + ", ".join(f"{r[key]:.2f}" for r in runs[n]) for n in ("old", "new"))
    print(f"  {label:<34} old {old:7.2f} {unit:<2} new {new:7.2f} {unit:<2} old/new {old / max(new, 1e-9):5.2f}x"
          f"   ({every})")


def bench_input(mbox: Path, trees: dict[str, Path], tmp: Path, rounds: int, workers: int) -> None:
    work = tmp / mbox.stem
    work.mkdir(parents=True, exist_ok=True)
    rows, before = work / "rows.pickle", work / "before-finalizers.sqlite"
    child(CAPTURE, trees["new"], mbox, work / "scan", rows, before, workers)
    print(f"{mbox.name}: {mbox.stat().st_size / 1e6:.0f} MB, rows recorded {rows.stat().st_size / 1e6:.0f} MB "
          f"(pickled), case before the finalizers {before.stat().st_size / 1e6:.0f} MB")
    stored = alternate(STORE, trees, rounds, {n: (rows, work / f"store-{n}") for n in trees})
    for name, tree in trees.items():  # each child imported its own tree
        assert Path(str(stored[name][0]["module"])).is_relative_to(tree), stored[name][0]
    report("storing CPU", stored, "cpu")
    finalized = alternate(FINALIZE, trees, rounds, {n: (before, work / f"final-{n}") for n in trees})
    report("finalizers CPU", finalized, "cpu")
    for key in sorted(k for k in finalized["new"][0] if k.startswith("cpu ") and k in finalized["old"][0]):
        report(f"  {key.removeprefix('cpu ')}", finalized, key)  # its thread's CPU, the lanes at once
    report("finalizers wall", finalized, "wall")
    report("finalizers peak RSS", finalized, "rss_mb", "MB")
    same = [table_digest(work / f"{part}-{n}" / "case.sqlite") for part in ("store", "final") for n in trees]
    print(f"  same rows, old and new: storing {same[0] == same[1]}, finalizers {same[2] == same[3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mboxes", nargs="+", type=Path)
    parser.add_argument("--old", default="9f3b0f7", help="git revision to compare with (default 9f3b0f7)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="workers of the recording scan")
    parser.add_argument("--tmp", type=Path, default=Path("/tmp/forensics-bench-fin"))
    args = parser.parse_args()
    trees = {"old": old_tree(args.old, args.tmp), "new": ROOT}
    for mbox in args.mboxes:
        bench_input(mbox.resolve(), trees, args.tmp, args.rounds, args.workers)


if __name__ == "__main__":
    main()
