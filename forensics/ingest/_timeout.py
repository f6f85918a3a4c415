"""Stage 1 helper: bound the time one item may take (pathological RTF, mostly).

In a process's main thread (the local engine's workers, the CLI) a real-time timer
(``SIGALRM`` via ``setitimer``) interrupts the call. Elsewhere (a Dask worker thread,
Windows) signals cannot be used, so the call runs in a child process that is killed
at the limit; that costs a process start, which is why the signal is preferred.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
# After the limit, the timer fires again at this interval until the call ends: library code
# that catches every Exception (and so the first TimeLimitExceeded) cannot outlive it.
REPEAT_SECONDS = 0.5


class TimeLimitExceeded(Exception):
    """The call did not finish within its time limit."""


def run_with_time_limit(fn: Callable[..., T], *args: Any, seconds: float) -> T:
    """``fn(*args)``, or TimeLimitExceeded after ``seconds`` of wall-clock time.

    Raises:
        TimeLimitExceeded: the limit was reached; the call was interrupted or killed.
    """
    if seconds <= 0:
        return fn(*args)
    if _can_use_alarm():
        return _with_alarm(fn, args, seconds)
    return _in_child(fn, args, seconds)


def run_with_alarm(fn: Callable[..., T], *args: Any, seconds: float) -> T:
    """``fn(*args)`` under a timer signal where one can be used, else without a limit: for
    calls too frequent to pay a process start each (parsing one message).

    Raises:
        TimeLimitExceeded: the limit was reached and the call was interrupted.
    """
    if seconds <= 0 or not _can_use_alarm():
        return fn(*args)
    return _with_alarm(fn, args, seconds)


def _can_use_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _with_alarm(fn: Callable[..., T], args: tuple[Any, ...], seconds: float) -> T:
    def on_alarm(signum: int, frame: object) -> None:
        raise TimeLimitExceeded(f"over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:  # an outer timer was running: give it back what is left of it
            left = remaining - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), interval)


def _child(fn: Callable[..., Any], args: tuple[Any, ...], conn: Any) -> None:
    try:
        conn.send((True, fn(*args)))
    except Exception as e:  # noqa: BLE001 - sent back and re-raised in the parent
        conn.send((False, e))
    finally:
        conn.close()


def _in_child(fn: Callable[..., T], args: tuple[Any, ...], seconds: float) -> T:
    parent, child = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("spawn").Process(target=_child, args=(fn, args, child), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(seconds):
            raise TimeLimitExceeded(f"over {seconds:g} s")
        ok, value = parent.recv()
    finally:
        process.kill()
        process.join()
        parent.close()
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
