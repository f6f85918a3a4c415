"""The console entry: the forkserver starts before the CLI's imports when a scan will want
worker processes, and the heap is left to the OS after the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from forensics.entry import wants_worker_processes


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["scan", "mail.mbox"], True),  # the default: every core
        (["scan", "mail.mbox", "--workers", "3"], True),
        (["scan", "--workers=2", "mail.mbox"], True),
        (["scan", "mail.mbox", "--workers", "1"], False),
        (["scan", "-j", "1", "mail.mbox"], False),
        (["scan", "-j1", "mail.mbox"], False),
        (["scan", "--workers=1", "mail.mbox"], False),
        (["scan", "-j", "4", "mail.mbox", "-j", "1"], False),  # the last one wins, as in typer
        (["scan", "-j", "many", "mail.mbox"], False),  # typer refuses it: no forkserver for an error
        (["scan", "mail.mbox", "--engine", "dask"], False),
        (["scan", "mail.mbox", "--engine=dask"], False),
        (["scan", "mail.mbox", "--engine", "local"], True),
        (["scan", "--help"], False),
        (["report", "case"], False),  # report helpers start from a thread while the charts are drawn
        (["providers"], False),
        ([], False),
    ],
)
def test_which_arguments_start_the_forkserver_early(args: list[str], expected: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert wants_worker_processes(args) is expected


def test_one_core_means_one_worker_and_no_forkserver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert wants_worker_processes(["scan", "mail.mbox"]) is False


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, timeout=120)


def test_the_forkserver_module_and_the_engines_package_import_no_stage() -> None:
    """What the entry imports before the CLI must stay light, or starting early gains nothing."""
    code = ("import sys, forensics.engines, forensics.engines.forkserver\n"
            "print(sorted(m for m in sys.modules if m.startswith('forensics')))")
    assert _python(code).stdout.split("\n")[0] == (
        "['forensics', 'forensics.engines', 'forensics.engines.forkserver']")


# Runs the console entry on a missing input; prints, when the CLI module is first imported,
# whether the forkserver runs already.
_SPY = """
import sys
from forensics.engines.forkserver import forkserver_running

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "forensics.cli":
            print("forkserver before the CLI:", forkserver_running(), flush=True)
        return None

if __name__ == "__main__":
    sys.meta_path.insert(0, Spy())
    sys.argv = ["forensics", "scan", sys.argv[1], "--out", sys.argv[2], *sys.argv[3:]]
    from forensics.entry import main
    main()
"""


@pytest.mark.parametrize(("workers", "started"), [("2", "True"), ("1", "False")])
def test_the_entry_starts_the_forkserver_before_importing_the_cli(tmp_path: Path, workers: str,
                                                                  started: str) -> None:
    missing = tmp_path / "no-such.mbox"
    run = _python(_SPY, str(missing), str(tmp_path / "case"), "--workers", workers)
    assert run.stdout == f"forkserver before the CLI: {started}\n"
    assert run.returncode == 3  # the CLI ran as before: one line, exit 3 for a missing input
    assert run.stderr == f"Error: no such file or folder: {missing}\n"


def test_a_failed_head_start_is_silent_and_the_scan_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The engine starts the forkserver again when it wants a worker (and reports a failure then)."""
    from forensics import entry

    def no_room() -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(entry, "start_forkserver", no_room)
    monkeypatch.setattr(entry, "leave_heap_to_the_os", lambda: None)  # not this test process's heap
    missing = tmp_path / "no-such.mbox"
    monkeypatch.setattr(sys, "argv", ["forensics", "scan", str(missing), "--out", str(tmp_path / "case"), "-j", "2"])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 3
    assert capsys.readouterr().err == f"Error: no such file or folder: {missing}\n"


def test_the_entry_freezes_the_heap_after_the_command() -> None:
    """The teardown then skips collecting every object still alive (0.7 s after a 1-worker scan)."""
    code = ("import gc, sys\n"
            "sys.argv = ['forensics', 'providers']\n"
            "from forensics.entry import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print('exit', e.code, 'frozen', gc.get_freeze_count() > 0)\n")
    run = _python(code)
    assert run.stdout.splitlines()[-1] == "exit 0 frozen True"
