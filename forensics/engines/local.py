"""The local engine: tasks on a pool of worker processes on this machine (or in-process).

Results come back in task order (not completion order) from a bounded window of
tasks in flight, so the writer commits shards in plan order whatever the number of
workers, and neither the pool nor the main process holds more than the window.
A worker that dies (a native crash in a library, the OOM killer) breaks the pool:
the tasks in flight are then run again one by one, each in a fresh pool, and a task
that kills its worker again becomes a ``worker-crash`` problem instead of stopping
the run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from forensics.analyse import Settings
from forensics.engines.forkserver import mp_context, start_forkserver
from forensics.engines.shard import Task, TaskResult, crashed_task, run_task

# Tasks in flight per worker: one running, one queued so a worker never waits; results
# finished out of order wait here, so this also bounds the rows held (about 1.3x a shard's bytes each).
WINDOW_PER_WORKER = 2
_ORPHAN_POLL_SECONDS = 2.0


def _init_worker(main_pid: int) -> None:
    """Ctrl-C is the main process's to handle; a worker whose main process died (kill -9) exits.

    Watching the parent is not enough: a forkserver worker's parent is the forkserver,
    which lives as long as its workers, and the workers' task queue never reports the
    writer's death (each worker holds a copy of its write end).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while _alive(main_pid):
            time.sleep(_ORPHAN_POLL_SECONDS)
        os._exit(3)  # nobody will read our results

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether the process runs (a killed one may linger as a zombie until its parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


class LocalEngine:
    """``workers`` processes; with one worker, tasks run in this process (no pickling)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def __enter__(self) -> "LocalEngine":
        if self.workers > 1:
            start_forkserver()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def describe(self) -> str:
        return f"local, {self.workers} worker{'s' if self.workers > 1 else ''}"

    def run(self, tasks: Sequence[Task], settings: Settings) -> Iterator[TaskResult]:
        """Each task's results, in task order. A single task runs here: no pool to start."""
        workers = min(self.workers, len(tasks))
        if workers <= 1:
            for task in tasks:
                yield run_task(task, settings)
            return
        queue = iter(tasks)
        while True:  # a new pool after a worker crash, until every task is done
            broken = yield from self._run_pool(queue, settings, workers)
            if not broken:
                return
            for task in broken:
                yield _run_isolated(task, settings)

    def _run_pool(
        self, queue: Iterator[Task], settings: Settings, workers: int
    ) -> Generator[TaskResult, None, list[Task]]:
        """Run tasks until done (returns []) or the pool breaks (returns the tasks in flight)."""
        pool = _pool(workers)
        window: deque[tuple[Task, Future[TaskResult]]] = deque()
        finished = False
        try:
            while True:
                while len(window) < workers * WINDOW_PER_WORKER:
                    task = next(queue, None)
                    if task is None:
                        break
                    window.append((task, pool.submit(run_task, task, settings)))
                if not window:
                    finished = True
                    return []
                task, future = window[0]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    return [t for t, _ in window]
                window.popleft()
                yield result
        finally:
            _shutdown(pool, wait=finished)


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=mp_context(), initializer=_init_worker, initargs=(os.getpid(),)
    )


def _run_isolated(task: Task, settings: Settings) -> TaskResult:
    """Run a task whose pool broke: alone, shard by shard, so one bad shard is found."""
    results: TaskResult = []
    for shard in task.shards:
        single = Task(shards=(shard,), size=0)
        pool = _pool(1)
        try:
            results.extend(pool.submit(run_task, single, settings).result())
        except BrokenProcessPool as e:
            results.extend(crashed_task(single, f"the worker process died while reading this shard ({e})"))
        finally:
            _shutdown(pool, wait=False)
    return results


def _shutdown(pool: ProcessPoolExecutor, *, wait: bool) -> None:
    """Stop the pool; unless all went well, now: on Ctrl-C or an error nobody waits for the
    shards in flight. Their work is lost, but none of it was committed, so a resumed scan
    runs them again.
    """
    if wait:
        pool.shutdown(wait=True)
        return
    # The executor has no public way to stop running workers; its process table does.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
