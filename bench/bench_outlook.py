"""Benchmark: PST/OST items per second and .msg files per second on the shared corpus.

    python bench/bench_outlook.py [CORPUS]

Reads every store in aspose-email-net, java-libpst and go-pst, and every .msg in
aspose-email-net and kenjiuno-msgreader, through the readers alone (no analysis, no
store), single process. RTF-only items dominate: RTFDE takes about a second each.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from forensics.errors import ReadError
from forensics.ingest import msg, pst

ROOT = Path(__file__).resolve().parent.parent


def bench_stores(corpus: Path) -> tuple[int, float]:
    stores = sorted(p for f in ("aspose-email-net", "java-libpst", "go-pst")
                    for p in (corpus / f).rglob("*") if p.suffix.lower() in (".pst", ".ost"))
    items, started = 0, time.perf_counter()
    for path in stores:
        for shard in pst.plan(path, "0" * 64, 0):
            try:
                items += sum(1 for _ in pst.read(shard))
            except ReadError:
                pass
    return items, time.perf_counter() - started


def bench_msgs(corpus: Path) -> tuple[int, float]:
    files = sorted(p for f in ("aspose-email-net", "kenjiuno-msgreader") for p in (corpus / f).rglob("*.msg"))
    started = time.perf_counter()
    for path in files:
        try:
            for _ in msg.read(next(msg.plan(path, "0" * 64, 0))):
                pass
        except ReadError:
            pass
    return len(files), time.perf_counter() - started


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "corpus"
    if not corpus.is_dir():
        print(f"corpus not found at {corpus}")
        return 2
    items, seconds = bench_stores(corpus)
    print(f"PST/OST: {items} items in {seconds:.2f} s = {items / seconds:.1f} items/s")
    files, seconds = bench_msgs(corpus)
    print(f".msg:    {files} files in {seconds:.2f} s = {files / seconds:.2f} files/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
