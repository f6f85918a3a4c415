"""The engine: plan the evidence, run every shard, store the rows, verify the evidence.

This is the one place where errors from readers and stages are caught and turned
into problems (as plaso's extractors do): a damaged message or file never stops a run.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from forensics.analyse import Settings, analyse
from forensics.errors import EvidenceChanged, ForensicsError, ReadError, UnsafeOutput
from forensics.ingest import READERS, PlannedInput, plan_input, sha256_file, walk
from forensics.ingest.base import Shard
from forensics.parse import parse_rfc5322
from forensics.records import Findings, InputRow, Message, ProblemRow, RawMessage, ShardRow
from forensics.store import Store

ProgressHook = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions:
    out: Path
    workers: int = 1
    settings: Settings = field(default_factory=Settings)
    resume: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanResult:
    case_path: Path
    inputs: tuple[PlannedInput, ...]
    started_utc: str
    finished_utc: str
    shards_run: int
    shards_skipped: int


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_output_location(out: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output folder inside (or equal to) an evidence folder.

    Raises:
        UnsafeOutput: writing there would write beside the evidence.
    """
    out_real = out.resolve()
    for source in inputs:
        root = source.resolve()
        root = root if root.is_dir() else root.parent
        if out_real == root or root in out_real.parents:
            raise UnsafeOutput(f"output folder {out} is inside the evidence folder {source}")


def process_shard(shard: Shard, settings: Settings) -> tuple[Findings, ShardRow]:
    """Read and analyse one shard. Never raises: every failure becomes a problem row."""
    findings = Findings()
    count = 0
    reader = READERS[shard.reader]
    try:
        for item in reader.read(shard):
            count += _process_item(item, settings, findings)
    except ReadError as e:
        findings.add(_shard_problem(shard, "read-error", str(e)))
    except Exception as e:  # noqa: BLE001 - a reader bug must not lose the rest of the run
        findings.add(_shard_problem(shard, "reader-crash", _describe(e)))
    problems = len(findings.rows.get(ProblemRow.TABLE, []))
    return findings, ShardRow(
        shard_id=shard.shard_id,
        source_sha256=shard.source_sha256,
        description=f"{shard.reader}:{shard.path}",
        messages=count,
        problems=problems,
    )


def _process_item(item: RawMessage | Message, settings: Settings, findings: Findings) -> int:
    try:
        messages = parse_rfc5322(item) if isinstance(item, RawMessage) else [item]
    except Exception as e:  # noqa: BLE001 - the parser is lenient; this is a last resort
        findings.add(_item_problem(item, "parse-crash", _describe(e)))
        return 0
    for message in messages:
        try:
            findings.extend(analyse(message, settings))
        except Exception as e:  # noqa: BLE001 - keep the message, record the failing stage
            findings.add(_item_problem(message, "analysis-crash", _describe(e)))
    return len(messages)


def _describe(e: BaseException) -> str:
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


def plan_inputs(paths: Iterable[Path]) -> Iterator[PlannedInput | ProblemRow]:
    """Hash and identify every file; an unreadable one becomes a problem."""
    for path in walk(paths):
        try:
            yield plan_input(path)
        except ReadError as e:
            yield _file_problem(path, "unreadable-file", str(e))
        except Exception as e:  # noqa: BLE001 - a sniffer or planner bug must not stop the run
            yield _file_problem(path, "plan-crash", _describe(e))


def _file_problem(path: Path, kind: str, reason: str) -> ProblemRow:
    return ProblemRow(
        source_path=str(path), source_sha256="", locator="file",
        kind=kind, severity="error", reason=reason,
    )


def input_row(planned: PlannedInput) -> InputRow:
    ev = planned.evidence
    return InputRow(
        path=ev.path, size=ev.size, sha256=ev.sha256, mtime_ns=ev.mtime_ns,
        format=planned.reader or "", status="read" if planned.reader else "skipped",
        reason=planned.reason,
    )


def skipped_problem(planned: PlannedInput) -> ProblemRow:
    return ProblemRow(
        source_path=planned.evidence.path, source_sha256=planned.evidence.sha256,
        locator="file", kind="skipped-not-mail", severity="skipped", reason=planned.reason,
    )


def run_shards(
    shards: list[Shard], settings: Settings, workers: int
) -> Iterator[tuple[Findings, ShardRow]]:
    """Results of the shards, in completion order (the store's keys make order irrelevant)."""
    if workers <= 1 or len(shards) <= 1:
        for shard in shards:
            yield process_shard(shard, settings)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: set[Future[tuple[Findings, ShardRow]]] = set()
        queue = iter(shards)
        for shard in queue:
            pending.add(pool.submit(process_shard, shard, settings))
            if len(pending) >= 2 * workers:  # bound the work (and memory) in flight
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in done)


def scan(paths: list[Path], options: ScanOptions, progress: ProgressHook | None = None) -> ScanResult:
    """Scan evidence into the case in ``options.out``.

    Raises:
        UnsafeOutput: the output folder is inside the evidence.
        EvidenceChanged: an input changed while it was being read.
        ReadError: no input path exists.
    """
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise ReadError(f"no such file or folder: {missing[0]}")
    check_output_location(options.out, paths)
    started = utc_now()
    with Store(options.out) as store:
        planned = _plan_into(store, paths)
        shards = [s for p in planned for s in p.shards]
        done = store.done_shards() if options.resume else set()
        todo = [s for s in shards if s.shard_id not in done]
        for index, (findings, shard_row) in enumerate(run_shards(todo, options.settings, options.workers)):
            store.commit_shard(findings, shard_row)
            if progress:
                progress(index + 1, len(todo))
        run_finalizers(store, options.settings)
        verify_unchanged(planned)
        finished = utc_now()
        store.set_meta("last_scan_finished_utc", finished)
    return ScanResult(
        case_path=store.path, inputs=tuple(planned), started_utc=started, finished_utc=finished,
        shards_run=len(todo), shards_skipped=len(shards) - len(todo),
    )


def run_finalizers(store: Store, settings: Settings) -> None:
    """Case-wide stages, over everything stored so far (so adding inputs updates them)."""
    from forensics.stages import FINALIZERS

    for finalizer in FINALIZERS:
        finalizer(store, settings)


def _plan_into(store: Store, paths: list[Path]) -> list[PlannedInput]:
    planned: list[PlannedInput] = []
    with store.conn:
        for item in plan_inputs(paths):
            if isinstance(item, ProblemRow):
                store.insert([item])
                continue
            planned.append(item)
            store.insert([input_row(item)])
            if item.reader is None:
                store.insert([skipped_problem(item)])
    return planned


def verify_unchanged(planned: list[PlannedInput]) -> None:
    """Hash every input again; any difference is a hard error.

    Raises:
        EvidenceChanged: size or SHA-256 differs from the value taken before the run.
    """
    for item in planned:
        path = Path(item.evidence.path)
        sha256, size = sha256_file(path)
        if sha256 != item.evidence.sha256 or size != item.evidence.size:
            raise EvidenceChanged(
                f"{path} changed during the run: sha256 {item.evidence.sha256} -> {sha256}, "
                f"size {item.evidence.size} -> {size}"
            )
