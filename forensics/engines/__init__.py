"""Engines run shard tasks somewhere and hand back their rows, in task order.

``local`` is a process pool on this machine (or this process with one worker);
``dask`` is a dask.distributed cluster. Both run ``shard.run_task``; the engine
(``pipeline.scan``) alone writes the case store. Results arrive in task order,
which is the plan order, so the store is filled the same way whatever ran it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the package itself stays light: ``engines.forkserver`` is imported before any stage
    from forensics.analyse import Settings
    from forensics.engines.shard import Task, TaskResult

ENGINES = ("local", "dask")


class Engine(Protocol):
    """A context manager that runs tasks and yields each task's results, in task order."""

    def __enter__(self) -> "Engine": ...

    def __exit__(self, *exc: object) -> None: ...

    def describe(self) -> str: ...

    def run(self, tasks: Sequence[Task], settings: Settings) -> Iterator[TaskResult]: ...


def make_engine(name: str, *, workers: int, scheduler: str | None = None) -> Engine:
    """The engine called ``name`` (``local`` or ``dask``).

    Raises:
        ValueError: unknown engine name, or a scheduler given to the local engine.
    """
    if name == "local":
        if scheduler:
            raise ValueError("--scheduler is only for --engine dask")
        from forensics.engines.local import LocalEngine

        return LocalEngine(workers)
    if name == "dask":
        from forensics.engines.dask import DaskEngine

        return DaskEngine(scheduler, workers)
    raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
