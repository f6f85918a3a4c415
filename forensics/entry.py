"""The console entry point (``forensics``, ``python -m forensics``): what must happen before
the command's imports and after its last output, around ``cli.main``.

Before: a scan that will run worker processes starts their forkserver first. It imports
every stage and compiles the knowledge base (about a second of one core) while this
process imports the CLI, hashes and plans on the other, instead of after planning, when
the first worker is wanted. Measured on SpamAssassin with 2 workers, the first shard's
rows arrived ~0.7 s earlier (bench/README.md, "Session 7").

After: the interpreter's teardown would collect the whole heap, which after a 1-worker
scan holds every analysis cache (0.7 s measured on SpamAssassin). Freezing the heap
leaves it to the OS, which frees it at once; the command has written and closed every
file by then.
"""

from __future__ import annotations

import gc
import os
import sys

from forensics.engines.forkserver import start_forkserver


def wants_worker_processes(args: list[str]) -> bool:
    """Whether these command-line arguments ask for a scan on local worker processes:
    ``scan`` without ``--help``, without ``--engine dask``, with more than one worker (the
    default is every core). A guess from the raw arguments, before typer parses them: a
    wrong guess costs a forkserver that is not used, or one started later, nothing else."""
    if not args or args[0] != "scan" or "--help" in args:
        return False
    if _option(args, "--engine") not in (None, "local"):
        return False
    workers = _option(args, "--workers", "-j")
    if workers is None:
        return (os.cpu_count() or 1) > 1
    return workers.isdigit() and int(workers) > 1


def _option(args: list[str], *names: str) -> str | None:
    """The value given to option ``names`` (``--name V``, ``--name=V``, ``-jV``), the last one
    winning as in typer; None when absent."""
    value = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(name + "=") and name.startswith("--"):
                value = arg[len(name) + 1:]
            elif len(name) == 2 and arg.startswith(name) and len(arg) > 2 and not arg.startswith("--"):
                value = arg[2:]
    return value


def start_early() -> None:
    """Start the forkserver, or leave it: this start is a head start only. If it fails (no
    room for its socket, say), the engine starts it again when the scan wants a worker, and
    that failure reaches the CLI's guard, which prints one line: never a traceback here."""
    try:
        start_forkserver()
    except Exception:  # noqa: BLE001, S110 - see the docstring
        pass


def leave_heap_to_the_os() -> None:
    """Skip the teardown's collection of every object still alive (see the module docstring)."""
    gc.freeze()


def main() -> None:
    """``forensics``: start the forkserver when the scan will want it, then run the CLI."""
    if wants_worker_processes(sys.argv[1:]):
        start_early()
    from forensics.cli import main as cli_main

    try:
        cli_main()
    finally:
        leave_heap_to_the_os()
