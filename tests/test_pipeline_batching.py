"""How shards are sized for batching: an Outlook store's folders must stay separate tasks.

A PST/OST shard's start and end count items, not bytes. Read as bytes, every store's
shards were a few hundred "bytes" and all batched into one task: one worker read a whole
store (no parallelism, issue 9's "PST per folder") and returned all its rows at once.
"""

from __future__ import annotations

from pathlib import Path

from forensics.engines.shard import tasks_of
from forensics.ingest import PlannedInput
from forensics.ingest.base import Shard
from forensics.pipeline import (
    BATCH_BYTES,
    BATCH_FILES,
    BATCH_FILES_BY_READER,
    _shards_of,
    plan_inputs,
    shard_bytes,
)
from forensics.records import Evidence

MIB = 1024 * 1024


def _planned(reader: str, size: int, ranges: list[tuple[int, int | None]]) -> PlannedInput:
    shards = tuple(
        Shard(shard_id=f"s{i}", reader=reader, path="/evidence/x", source_sha256="0" * 64, start=start, end=end)
        for i, (start, end) in enumerate(ranges)
    )
    evidence = Evidence(path="/evidence/x", size=size, sha256="0" * 64, mtime_ns=0)
    return PlannedInput(evidence=evidence, reader=reader, shards=shards)


def test_pst_shards_share_the_store_bytes_by_items() -> None:
    store = _planned("pst", 100 * MIB, [(0, 500), (500, 1000), (0, 8), (0, None)])
    # 1,008 items: 500/1008 of the bytes, twice; 8/1008; the shard without a range (a folder
    # that failed to open) an equal quarter.
    assert shard_bytes(store) == [52012698, 52012698, 832203, 26214400]


def test_mbox_ranges_are_bytes_and_whole_files_share_equally() -> None:
    assert shard_bytes(_planned("mbox", 9 * MIB, [(0, 4 * MIB), (4 * MIB, 9 * MIB)])) == [4 * MIB, 5 * MIB]
    assert shard_bytes(_planned("eml", 3000, [(0, None)])) == [3000]


def test_a_store_without_items_shares_equally() -> None:
    assert shard_bytes(_planned("pst", 1000, [(0, 0), (0, 0)])) == [500, 500]


def test_a_large_store_is_one_task_per_folder_run() -> None:
    store = _planned("pst", 50 * 1024 * MIB, [(start, start + 500) for start in range(0, 100_000, 500)])
    shards, sizes = _shards_of([store])
    tasks = tasks_of(shards, sizes, BATCH_BYTES, BATCH_FILES)
    assert len(tasks) == 200
    assert all(len(task.shards) == 1 for task in tasks)


def test_the_corpus_stores_are_spread_over_tasks(corpus: Path) -> None:
    files = sorted(p for folder in ("aspose-email-net", "java-libpst", "go-pst")
                   for p in (corpus / folder).rglob("*") if p.suffix.lower() in (".pst", ".ost"))
    planned = [p for p in plan_inputs(files) if isinstance(p, PlannedInput)]
    shards, sizes = _shards_of(planned)
    assert len(tasks_of(shards, sizes, BATCH_BYTES, BATCH_FILES)) == 19  # was 40 shards in a single task
    tasks = tasks_of(shards, sizes, BATCH_BYTES, BATCH_FILES, BATCH_FILES_BY_READER)  # as the scan batches
    assert (len(shards), len(tasks)) == (40, 21)
    assert max(len(t.shards) for t in tasks) == 4
    outlook = next(p for p in planned if p.evidence.path.endswith("Outlook/Outlook.pst"))
    assert [(s.start, s.end) for s in outlook.shards] == [(0, 8), (0, 6), (0, 1), (0, 1), (0, 1)]
    assert shard_bytes(outlook) == [1561780, 1171335, 195222, 195222, 195222]


def _shards(reader: str, count: int, prefix: str) -> list[Shard]:
    return [Shard(shard_id=f"{prefix}{i}", reader=reader, path=f"/evidence/{prefix}{i}", source_sha256="0" * 64)
            for i in range(count)]


def test_costly_readers_are_batched_by_count() -> None:
    shards = _shards("eml", 3, "e") + _shards("msg", 10, "m") + _shards("eml", 3, "f")
    sizes = {s.shard_id: 50_000 for s in shards}
    tasks = tasks_of(shards, sizes, BATCH_BYTES, BATCH_FILES, BATCH_FILES_BY_READER)
    # A batch holding a .msg holds at most 4 shards; the .eml files after them start a new
    # batch only when the limit is reached, and batches of .eml alone go up to BATCH_FILES.
    assert [[s.shard_id for s in t.shards] for t in tasks] == [
        ["e0", "e1", "e2", "m0"], ["m1", "m2", "m3", "m4"], ["m5", "m6", "m7", "m8"], ["m9", "f0", "f1", "f2"],
    ]
    assert BATCH_FILES_BY_READER == {"msg": 4, "pst": 4}


def test_other_readers_keep_the_byte_and_file_limits() -> None:
    shards = _shards("eml", 600, "e")
    sizes = {s.shard_id: 1000 for s in shards}
    tasks = tasks_of(shards, sizes, BATCH_BYTES, BATCH_FILES, BATCH_FILES_BY_READER)
    assert [len(t.shards) for t in tasks] == [256, 256, 88]
