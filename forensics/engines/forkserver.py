"""How the local engine starts worker processes, in a module that imports nothing heavy.

The console entry (``forensics.entry``) imports this before the command's own imports, so
the forkserver can start first: it then imports every stage and compiles the knowledge
base on one core while this process imports the CLI on the other.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

# What the forkserver imports once, before it forks any worker (``engines/preload.py``).
PRELOAD = ["forensics.engines.shard", "forensics.engines.preload"]


def mp_context() -> BaseContext:
    """forkserver where there is one (no fork of a threaded parent), else spawn.

    Either way workers import ``forensics.engines.shard`` and so every stage; the
    forkserver preloads it once, with the knowledge base compiled (``engines/preload.py``),
    so each worker starts in milliseconds, ready to analyse.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def start_forkserver() -> None:
    """Start the forkserver now and return at once: it imports every stage and compiles the
    knowledge base (1-1.5 s of one core) while this process goes on, instead of when the
    first worker is wanted (the whole scan waited for it). Idempotent."""
    if mp_context().get_start_method() == "forkserver":
        forkserver.ensure_running()


def forkserver_running() -> bool:
    """Whether this process has started its forkserver (for tests and benchmarks)."""
    return getattr(forkserver._forkserver, "_forkserver_pid", None) is not None
