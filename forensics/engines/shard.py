"""The unit of work every engine runs: read, parse and analyse shards, return encoded rows.

This module is what runs in worker processes (the local pool or Dask workers); both
engines call ``run_task`` and nothing else, so their output is the same. It never
raises: a failure becomes a problem row. Importing it imports ``forensics.stages``,
so a worker started by spawn, forkserver or a remote Dask worker has every stage
(and every stage's row class) registered before it analyses anything.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import forensics.stages  # noqa: F401 - registers every per-message stage in this process
from forensics.analyse import Settings, analyse
from forensics.domains import registered_domain
from forensics.errors import ReadError
from forensics.ingest import READERS
from forensics.ingest.base import Shard
from forensics.parse import parse_rfc5322
from forensics.providers import default_attributor
from forensics.records import Findings, Message, ProblemRow, RawMessage, ShardRow
from forensics.store import EncodedRows, encode_findings, release_heap


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """Shards sent to one worker at once: one big shard, or a batch of small files."""

    shards: tuple[Shard, ...]
    size: int  # input bytes, for batching

    @property
    def key(self) -> str:
        """A content-derived name (Dask task key): same shards, same key."""
        joined = "\n".join(s.shard_id for s in self.shards).encode("utf-8", "surrogatepass")
        return hashlib.sha256(joined).hexdigest()[:32]


# What a task returns: per shard, its encoded rows and its completion mark.
TaskResult = list[tuple[EncodedRows, ShardRow]]


def run_task(task: Task, settings: Settings) -> TaskResult:
    """Process every shard of the task, in order. Never raises."""
    results: TaskResult = []
    for shard in task.shards:
        findings, shard_row = process_shard(shard, settings)
        results.append((encode_findings(findings), shard_row))
        del findings
        release_heap()  # the shard's parsing garbage: a worker's heap must not creep up task after task
    return results


def warm() -> None:
    """Load now what the first message would: the compiled knowledge base and the public-suffix
    list (a few tenths of a second of CPU, paid once per process; see ``engines/preload.py``)."""
    default_attributor()
    registered_domain("example.com")


def is_warm() -> bool:
    """Whether this process has the knowledge base compiled already."""
    return default_attributor.cache_info().currsize > 0


def crashed_task(task: Task, reason: str) -> TaskResult:
    """Results for shards whose worker died (a native crash, the OOM killer): one problem each."""
    results: TaskResult = []
    for shard in task.shards:
        findings = Findings()
        findings.add(_shard_problem(shard, "worker-crash", reason))
        results.append((encode_findings(findings), _shard_row(shard, 0, findings)))
    return results


def process_shard(shard: Shard, settings: Settings) -> tuple[Findings, ShardRow]:
    """Read and analyse one shard. Never raises: every failure becomes a problem row."""
    findings = Findings()
    count = 0
    try:
        for item in READERS[shard.reader].read(shard):
            count += _process_item(item, settings, findings)
    except ReadError as e:
        findings.add(_shard_problem(shard, "read-error", str(e)))
    except Exception as e:  # noqa: BLE001 - a reader bug must not lose the rest of the run
        findings.add(_shard_problem(shard, "reader-crash", describe(e)))
    return findings, _shard_row(shard, count, findings)


def _shard_row(shard: Shard, messages: int, findings: Findings) -> ShardRow:
    return ShardRow(
        shard_id=shard.shard_id,
        source_sha256=shard.source_sha256,
        description=f"{shard.reader}:{shard.path}",
        messages=messages,
        problems=len(findings.rows.get(ProblemRow.TABLE, [])),
    )


def _process_item(item: RawMessage | Message, settings: Settings, findings: Findings) -> int:
    try:
        messages = parse_rfc5322(item) if isinstance(item, RawMessage) else [item]
    except Exception as e:  # noqa: BLE001 - the parser is lenient; this is a last resort
        findings.add(_item_problem(item, "parse-crash", describe(e)))
        return 0
    for message in messages:
        try:
            findings.extend(analyse(message, settings))
        except Exception as e:  # noqa: BLE001 - keep the message, record the failing stage
            findings.add(_item_problem(message, "analysis-crash", describe(e)))
    return len(messages)


def describe(e: BaseException) -> str:
    """One line: the exception and where it was raised (no traceback for the user)."""
    frame = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return f"{type(e).__name__}: {e}{where}"


def _shard_problem(shard: Shard, kind: str, reason: str) -> ProblemRow:
    return ProblemRow(
        source_path=shard.path,
        source_sha256=shard.source_sha256,
        locator=f"shard={shard.shard_id}",
        kind=kind,
        severity="error",
        reason=reason,
    )


def _item_problem(item: RawMessage | Message, kind: str, reason: str) -> ProblemRow:
    digest = item.message_sha256 if isinstance(item, Message) else ""
    return ProblemRow(
        source_path=item.locator.source_path,
        source_sha256=item.locator.source_sha256,
        locator=item.locator.display(),
        kind=kind,
        severity="error",
        reason=reason,
        message_sha256=digest,
    )


def tasks_of(shards: Sequence[Shard], sizes: dict[str, int], batch_bytes: int, batch_files: int,
             reader_files: Mapping[str, int] | None = None) -> list[Task]:
    """Group consecutive small whole-file shards into batches, keep big shards alone.

    A folder of 100k .eml files becomes ~100k/batch_files tasks instead of 100k, so the
    per-task cost (pickling, scheduling, one transaction) is paid per batch. A batch holding
    a shard of a reader named in ``reader_files`` holds at most that many shards (formats
    whose items cost seconds whatever their bytes). Order is the plan order, so batches
    are the same on every run.
    """
    limits = reader_files or {}
    tasks: list[Task] = []
    batch: list[Shard] = []
    batch_size, batch_limit = 0, batch_files
    for shard in shards:
        size = sizes.get(shard.shard_id, 0)
        if size >= batch_bytes:
            tasks.extend(_flush(batch, batch_size))
            batch, batch_size, batch_limit = [], 0, batch_files
            tasks.append(Task(shards=(shard,), size=size))
            continue
        limit = min(batch_limit, limits.get(shard.reader, batch_files))
        if batch and (batch_size + size > batch_bytes or len(batch) >= limit):
            tasks.extend(_flush(batch, batch_size))
            batch, batch_size, limit = [], 0, limits.get(shard.reader, batch_files)
        batch.append(shard)
        batch_size, batch_limit = batch_size + size, limit
    tasks.extend(_flush(batch, batch_size))
    return tasks


def _flush(batch: list[Shard], size: int) -> list[Task]:
    return [Task(shards=tuple(batch), size=size)] if batch else []
