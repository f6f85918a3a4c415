"""The Dask engine: the same tasks on a dask.distributed cluster, results back to this writer.

Workers run ``run_task`` exactly as local workers do and send back encoded rows; the
case store stays here, written by this process alone, in task order, so the output
equals the local engine's. Workers must see the evidence at the same path (a shared
or identically mounted filesystem) and have this package installed. Dask is an
optional dependency (``pip install forensics[dask]``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from forensics.analyse import Settings
from forensics.engines.shard import Task, TaskResult, crashed_task, run_task
from forensics.errors import ForensicsError, MissingDependency

WINDOW_PER_THREAD = 2
CONNECT_TIMEOUT = "30s"


class DaskEngine:
    """Connect to ``scheduler`` (``tcp://host:8786``), or start a local cluster when None."""

    def __init__(self, scheduler: str | None, workers: int) -> None:
        self.scheduler = scheduler
        self.workers = max(1, workers)
        self._client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> "DaskEngine":
        try:
            from distributed import Client, LocalCluster
        except ImportError as e:
            raise MissingDependency(
                "the Dask engine needs dask.distributed: pip install 'forensics[dask]'"
            ) from e
        try:
            if self.scheduler:
                self._client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
            else:
                self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=self.workers, threads_per_worker=1, dashboard_address=None
                )
                self._client = Client(self._cluster)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as e:
            self.__exit__()
            raise ForensicsError(f"cannot reach the Dask scheduler at {self.scheduler}: {e}") from e
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def describe(self) -> str:
        return f"dask, scheduler {self.scheduler or 'local cluster'}"

    def _threads(self) -> int:
        info = self._client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def run(self, tasks: Sequence[Task], settings: Settings) -> Iterator[TaskResult]:
        """Each task's results, in task order; a bounded number of tasks on the cluster."""
        if self._client is None:
            raise RuntimeError("DaskEngine.run outside its with block")
        limit = self._threads() * WINDOW_PER_THREAD
        window: deque[tuple[Task, Any]] = deque()
        queue = iter(tasks)
        try:
            while True:
                while len(window) < limit and (task := next(queue, None)) is not None:
                    # The key is content-derived: resubmitting the same shards reuses the task.
                    future = self._client.submit(run_task, task, settings, key=f"forensics-{task.key}")
                    window.append((task, future))
                if not window:
                    return
                task, future = window.popleft()
                yield _result(task, future)
        finally:
            for _, future in window:
                future.cancel()


def _result(task: Task, future: Any) -> TaskResult:
    """The task's rows; a task that killed its workers (KilledWorker) becomes problems.

    Any other failure (scheduler gone, network) propagates: nothing is marked done, so
    ``--resume`` runs those shards again later.
    """
    from distributed.scheduler import KilledWorker

    try:
        result: TaskResult = future.result()
    except KilledWorker as e:
        return crashed_task(task, f"the Dask workers running this shard died: {e}")
    finally:
        future.release()
    return result
