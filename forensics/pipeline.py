"""The engine: plan the evidence, run every shard, store the rows, verify the evidence.

Errors from readers and stages are caught in one place, ``engines.shard`` (which runs
in the workers), and turned into problems (as plaso's extractors do): a damaged
message or file never stops a run. This module plans, hands tasks to an engine
(``engines.local`` or ``engines.dask``), and is the case store's only writer.

Resume: every shard's rows and its completion mark are committed in one SQLite
transaction (WAL), so a scan killed at any point leaves whole shards or nothing of
them; the plan is a pure function of the evidence, so running the same scan again
skips exactly the finished shards. Resume is on by default (``--resume``); it is
refused (everything is read again) when the case was filled by a different analysis
(another tool version, other stages or other settings).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from forensics import __version__
from forensics.analyse import Settings
from forensics.engines import make_engine
from forensics.engines.shard import TaskResult, describe, process_shard, tasks_of
from forensics.errors import EvidenceChanged, ReadError, UnsafeOutput
from forensics.ingest import READERS, PlannedInput, plan_input, sha256_file, spool, walk
from forensics.ingest.base import Shard
from forensics.records import InputRow, ProblemRow
from forensics.store import Store, release_heap, trim_memory

__all__ = ["ScanOptions", "ScanResult", "scan", "process_shard", "plan_inputs", "verify_unchanged"]

# Shards smaller than BATCH_BYTES (small files, an mbox's last range) are grouped up to this
# many bytes or BATCH_FILES shards per task. Keep it below ingest.mbox.SHARD_BYTES, or an
# mbox's ranges would be batched back together and run on one worker.
BATCH_BYTES = 1024 * 1024
BATCH_FILES = 256
# At most this many shards per task for readers whose items cost seconds whatever their
# bytes (a reader's ``SHARDS_PER_TASK``: .msg, PST/OST): the corpus's 78 .msg files were 5
# tasks by bytes, one of 25 s, and 2 workers gave 1.03x. A task's own cost (ms) is nothing
# beside that.
BATCH_FILES_BY_READER = {n: r.SHARDS_PER_TASK for n, r in READERS.items() if hasattr(r, "SHARDS_PER_TASK")}
APART_CACHE_KIB = 16 * 1024  # page cache of a finalizer's own connection (memory stays bounded)
VERIFY_THREADS = 4  # hashlib releases the GIL: re-hashing several files overlaps their I/O
FINGERPRINT_KEY = "analysis_fingerprint"

ProgressHook = Callable[[int, int], None]
Finalizer = Callable[[Store, Settings], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions:
    out: Path
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    settings: Settings = field(default_factory=Settings)
    resume: bool = True
    engine: str = "local"
    scheduler: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanResult:
    case_path: Path
    inputs: tuple[PlannedInput, ...]
    started_utc: str
    finished_utc: str
    shards_run: int
    shards_skipped: int
    tasks: int = 0
    engine: str = ""
    resume_refused: str = ""  # why finished shards were read again, when they were


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


def plan_inputs(paths: Iterable[Path]) -> Iterator[PlannedInput | ProblemRow]:
    """Hash and identify every file; an unreadable one becomes a problem."""
    for path in walk(paths):
        try:
            yield plan_input(path)
        except ReadError as e:
            yield _file_problem(path, "unreadable-file", str(e))
        except Exception as e:  # noqa: BLE001 - a sniffer or planner bug must not stop the run
            yield _file_problem(path, "plan-crash", describe(e))


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


def scan(paths: list[Path], options: ScanOptions, progress: ProgressHook | None = None) -> ScanResult:
    """Scan evidence into the case in ``options.out``.

    Raises:
        UnsafeOutput: the output folder is inside the evidence.
        EvidenceChanged: an input changed while it was being read.
        ReadError: no input path exists.
        MissingDependency: the Dask engine was asked for without dask installed.
        ForensicsError: the Dask scheduler cannot be reached.
        ValueError: unknown engine, or a scheduler given to the local engine.
    """
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise ReadError(f"no such file or folder: {missing[0]}")
    check_output_location(options.out, paths)
    started = utc_now()
    engine = make_engine(options.engine, workers=options.workers, scheduler=options.scheduler)
    with Store(options.out) as store, engine:
        planned = _plan_into(store, paths)
        shards, sizes = _shards_of(planned)
        done, refused = _finished_shards(store, options.settings, resume=options.resume)
        shards, sizes = spool_streams(store, shards, sizes, done, options.out)
        todo = [s for s in shards if s.shard_id not in done]
        tasks = tasks_of(todo, sizes, BATCH_BYTES, BATCH_FILES, BATCH_FILES_BY_READER)
        store.defer_indexes()  # on an empty case: built once after the shards, not row by row
        _run(store, engine.run(tasks, options.settings), len(todo), progress)
        spool.remove(options.out.resolve() / spool.FOLDER)  # every shard ran: the copies are not needed
        store.create_indexes()  # before the finalizers, which join on them
        trim_memory()  # the shards' garbage (all of the parsing, with one in-process worker)
        with store.statistics():
            run_finalizers(store, options.settings)
        verify_unchanged(planned)
        finished = utc_now()
        store.set_meta("last_scan_finished_utc", finished)
    trim_memory()  # the page cache and the finalizers' memory: the report often runs next, here
    return ScanResult(
        case_path=store.path, inputs=tuple(planned), started_utc=started, finished_utc=finished,
        shards_run=len(todo), shards_skipped=len(shards) - len(todo), tasks=len(tasks),
        engine=engine.describe(), resume_refused=refused,
    )


def _run(store: Store, results: Iterator[TaskResult], total: int, progress: ProgressHook | None) -> None:
    """Commit each task's shards as they arrive (in task order): the main process keeps nothing."""
    committed = 0
    try:
        for task_results in results:
            store.commit_encoded(task_results)
            committed += len(task_results)
            del task_results
            release_heap()  # else the heap fragments between the page cache and each task's rows
            if progress:
                progress(committed, total)
    finally:
        close = getattr(results, "close", None)  # an engine's generator: on Ctrl-C, stop the workers
        if close is not None:                    # now, not at garbage collection
            close()


def _shards_of(planned: list[PlannedInput]) -> tuple[list[Shard], dict[str, int]]:
    """Every shard once, in plan order, and its size in bytes (for batching)."""
    shards: dict[str, Shard] = {}
    sizes: dict[str, int] = {}
    for item in planned:
        for shard, size in zip(item.shards, shard_bytes(item), strict=True):
            shards.setdefault(shard.shard_id, shard)
            sizes[shard.shard_id] = size
    return list(shards.values()), sizes


def spool_streams(store: Store, shards: list[Shard], sizes: dict[str, int], done: set[str],
                  out: Path) -> tuple[list[Shard], dict[str, int]]:
    """Compressed and archived mboxes (one shard each, as planned) past ``spool.THRESHOLD``:
    decompressed once into ``<out>/spool/`` and cut into byte ranges, so every worker takes a
    part (``ingest/spool.py``). Each stream's expansion is recorded in the case's meta, so a
    resumed scan runs the same shards, and decompresses again only when ranges remain and
    the copy is not whole. Dask workers must see ``<out>`` at the same path."""
    folder = out.resolve() / spool.FOLDER
    recorded = dict(store.conn.execute("SELECT key, value FROM meta WHERE key LIKE ?", (spool.META_PREFIX + "%",)))
    expanded: list[Shard] = []
    for shard in shards:
        make = getattr(READERS[shard.reader], "spool_shard", None)
        if make is None:
            expanded.append(shard)
            continue
        key = spool.META_PREFIX + shard.shard_id
        parts, record = spool.expand(shard, folder, make, recorded.get(key), done)
        if record is not None and recorded.get(key) != record.to_json():
            store.set_meta(key, record.to_json())
        expanded.extend(parts)
        sizes.update({p.shard_id: spool.size_of(p) for p in parts if p is not shard})
    return expanded, sizes


def shard_bytes(item: PlannedInput) -> list[int]:
    """Each shard's share of its file's bytes, as batching reads it.

    An mbox range is its bytes. A PST/OST shard's start and end count *items* (its
    reader's ``RANGE_UNIT``), not bytes: read as bytes, a store's shards looked a few
    hundred bytes each and were all batched into one task, so one worker read the whole
    store and returned every item's rows at once. Such a shard gets the store's bytes in
    proportion to its items; a shard without a range, an equal share.
    """
    ranged = [None if s.end is None else s.end - s.start for s in item.shards]
    equal = item.evidence.size // max(1, len(item.shards))
    if getattr(READERS.get(item.reader or ""), "RANGE_UNIT", "bytes") != "items":
        return [equal if n is None else n for n in ranged]
    items = sum(n for n in ranged if n is not None)
    return [equal if n is None or not items else item.evidence.size * n // items for n in ranged]


def analysis_fingerprint(settings: Settings) -> str:
    """What the rows of a finished shard depend on besides the evidence: version, stages, settings."""
    from forensics.stages import ANALYSERS

    stages = [f"{getattr(a, '__module__', '')}.{getattr(a, '__qualname__', repr(a))}" for a in ANALYSERS]
    basis = {"version": __version__, "stages": stages, "settings": asdict(settings)}
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _finished_shards(store: Store, settings: Settings, *, resume: bool) -> tuple[set[str], str]:
    """Shards to skip, and why none are skipped when resuming is refused."""
    current = analysis_fingerprint(settings)
    previous = store.get_meta(FINGERPRINT_KEY)
    store.set_meta(FINGERPRINT_KEY, current)
    if not resume:
        return set(), ""
    done = store.done_shards()
    if done and previous is not None and previous != current:
        return set(), "the case was filled by a different analysis (version, stages or settings)"
    return done, ""


def run_finalizers(store: Store, settings: Settings) -> None:
    """Case-wide stages, over everything stored so far (so adding inputs updates them).

    The lanes (``stages.FINALIZER_LANES``) run at once: the first on this connection, the
    others in threads on connections of their own (SQLite works with the GIL released; WAL
    lets one read while another writes, and a writer waits for the other's commit). A
    finalizer that reads what another lane writes (the metrics read the beacons' verdicts
    and the token roles) calls ``store.await_finalizers("name", ...)`` first, which returns
    when the lanes of the finalizers so named are done (none named, or a name in no lane:
    every other lane), so the case is the same as one finalizer after another. A lane's
    failure is raised here, after every lane has stopped.
    """
    from forensics.stages import FINALIZER_LANES

    done = [threading.Event() for _ in FINALIZER_LANES]
    lanes = _Lanes(done=done, of={getattr(f, "__name__", ""): n for n, lane in enumerate(FINALIZER_LANES) for f in lane})
    first, *others = FINALIZER_LANES
    with ThreadPoolExecutor(max_workers=max(1, len(others))) as pool:
        apart = [pool.submit(_lane_apart, store.path.parent, lane, settings, lanes, n)
                 for n, lane in enumerate(others, start=1)]
        _run_lane(store, first, settings, lanes, 0)
        for future in apart:
            future.result()  # its exception, if any, is raised here


@dataclass(frozen=True, slots=True, kw_only=True)
class _Lanes:
    """The lanes of one ``run_finalizers``: each one's end, and each finalizer's lane by name."""

    done: list[threading.Event]
    of: dict[str, int]

    def waiter(self, own: int) -> Callable[..., None]:
        """``await_finalizers`` for lane ``own``: waits for the lanes of the finalizers named
        (a lane's own earlier finalizers have run already), every other lane when none is
        named or a name is in no lane (a finalizer replaced, as tests do: waiting for all
        is the safe side)."""
        def wait(*names: str) -> None:
            every = set(range(len(self.done)))
            lanes = {self.of[n] for n in names} if names and all(n in self.of for n in names) else every
            for k in sorted(lanes - {own}):
                self.done[k].wait()
        return wait


def _lane_apart(folder: Path, lane: list[Finalizer], settings: Settings, lanes: _Lanes, n: int) -> None:
    with Store(folder, cache_kib=APART_CACHE_KIB) as store:
        _run_lane(store, lane, settings, lanes, n)


def _run_lane(store: Store, lane: list[Finalizer], settings: Settings, lanes: _Lanes, n: int) -> None:
    """Run one lane's finalizers in order; its event is set however it ends (no lane waits forever)."""
    store.await_finalizers = lanes.waiter(n)
    try:
        for finalizer in lane:
            finalizer(store, settings)
    finally:
        lanes.done[n].set()


def _plan_into(store: Store, paths: list[Path]) -> list[PlannedInput]:
    planned: list[PlannedInput] = []
    with store.conn:
        for item in plan_inputs(paths):
            if isinstance(item, ProblemRow):
                store.insert([item])
                continue
            planned.append(item)
            store.insert([input_row(item)])
            store.insert(list(item.problems))  # store-level notes: an empty store, a PST password
            if item.reader is None:
                store.insert([skipped_problem(item)])
    return planned


def verify_unchanged(planned: list[PlannedInput]) -> None:
    """Hash every input again; any difference is a hard error.

    Raises:
        EvidenceChanged: size or SHA-256 differs from the value taken before the run.
    """
    paths = [Path(item.evidence.path) for item in planned]
    with ThreadPoolExecutor(max_workers=VERIFY_THREADS) as pool:
        after = list(pool.map(sha256_file, paths))
    for item, path, (sha256, size) in zip(planned, paths, after):
        if sha256 != item.evidence.sha256 or size != item.evidence.size:
            raise EvidenceChanged(
                f"{path} changed during the run: sha256 {item.evidence.sha256} -> {sha256}, "
                f"size {item.evidence.size} -> {size}"
            )
