"""CPU time per per-message stage, in one process, for comparing two versions of the code.

Wall-clock rates on a shared machine swing with other people's load; CPU time per stage
swings much less. Run it on the same messages against two source trees, alternately
(``--src`` puts another checkout first on the path, e.g. ``git archive OLD | tar -x -C /tmp/old``):

    python bench/bench_stages.py MBOX --limit 1500 --src /tmp/old
    python bench/bench_stages.py MBOX --limit 1500
    python bench/bench_stages.py MBOX --limit 1500 --profile /tmp/stages.prof   # cProfile too
    python bench/bench_stages.py MBOX --limit 1500 --against /tmp/old --rounds 3  # both, alternately

The first 20 messages are analysed once untimed (the knowledge base loads once per process).
``--against`` runs this script in child processes, the other tree and this one alternately,
``--rounds`` times each, and prints the best (lowest) CPU time of each stage for both.
"""

from __future__ import annotations

import argparse
import cProfile
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mbox", type=Path)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--src", type=Path, help="a source tree to import forensics from instead")
    parser.add_argument("--profile", type=Path, help="also write a cProfile file here")
    parser.add_argument("--against", type=Path, help="another source tree: compare it with this one")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tree with --against")
    args = parser.parse_args()
    if args.against:
        return compare(args.mbox, args.limit, args.against, args.rounds)
    if args.src:
        sys.path.insert(0, str(args.src.resolve()))
    import forensics
    from forensics import stages
    from forensics.analyse import MessageContext, Settings
    from forensics.ingest import READERS, plan_input
    from forensics.parse import parse_rfc5322

    raws = []
    for shard in plan_input(args.mbox.resolve()).shards:  # read-only, through the reader
        for raw in READERS[shard.reader].read(shard):
            raws.append(raw)
            if len(raws) >= args.limit:
                break
        if len(raws) >= args.limit:
            break
    settings, spent = Settings(), {}

    def timed(name: str, fn: Any, *fn_args: Any) -> Any:
        start = time.process_time()
        value = fn(*fn_args)
        spent[name] = spent.get(name, 0.0) + time.process_time() - start
        return value

    def run(items: list[Any]) -> None:
        for raw in items:
            for message in timed("parse", parse_rfc5322, raw):
                context = MessageContext()
                for analyser in stages.ANALYSERS:
                    timed(analyser.__module__, analyser, message, settings, context)

    run(raws[-20:])
    spent.clear()
    if args.profile:
        cProfile.runctx("run(raws)", globals(), {"run": run, "raws": raws}, str(args.profile))
    else:
        run(raws)
    total = sum(spent.values())
    print(f"{forensics.__file__}: {len(raws)} messages of {args.mbox.name}, "
          f"{len(raws) / total:.0f} messages per CPU-second")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"{seconds:8.2f} s {100 * seconds / total:5.1f} %  {name}")
    return 0


_LINE = re.compile(r"\s*([\d.]+) s\s+[\d.]+ %\s+(\S+)")
_COUNT = re.compile(r": (\d+) messages of ")


def compare(mbox: Path, limit: int, other: Path, rounds: int) -> int:
    """Best-of-``rounds`` CPU seconds per stage of ``other`` and of this tree, run alternately."""
    best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    count = limit
    for _ in range(rounds):
        for label, src in (("before", ["--src", str(other)]), ("after", [])):
            out = subprocess.run([sys.executable, __file__, str(mbox), "--limit", str(limit), *src],
                                 capture_output=True, text=True, check=True).stdout
            for seconds, stage in _LINE.findall(out):
                best[label][stage] = min(best[label].get(stage, float("inf")), float(seconds))
            count = int(_COUNT.search(out).group(1))  # type: ignore[union-attr]  # the file may hold fewer than limit
    print(f"{count} messages of {mbox.name}, best of {rounds} alternate runs, CPU seconds")
    print(f"{'stage':32} {'before':>8} {'after':>8}")
    for stage in best["before"]:
        print(f"{stage:32} {best['before'][stage]:8.2f} {best['after'].get(stage, 0.0):8.2f}")
    rates = [count / sum(best[k].values()) for k in ("before", "after")]
    print(f"{'messages per CPU-second':32} {rates[0]:8.0f} {rates[1]:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
