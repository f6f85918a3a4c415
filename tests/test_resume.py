"""Resume: a scan killed (kill -9) or interrupted (Ctrl-C) mid-way continues where it stopped.

The scans run as real subprocesses on a generated mbox cut into many small shards;
each is stopped once a few shards are committed. The case must then be intact
(``PRAGMA integrity_check``), hold only whole shards, and after ``--resume`` give
exactly the files an uninterrupted run gives.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_engine import cli_scan, csv_files, load_generator

import forensics.ingest.mbox as mbox_reader
import forensics.pipeline as pipeline
from forensics.analyse import Settings
from forensics.pipeline import ScanOptions, scan

SHARD_BYTES = 6_000  # ~600 kB of mail -> ~90 shards, one task (and transaction) each
# The CLI with a smaller shard size (the plan must be the same in every run of a case).
SCRIPT = (
    "import sys, forensics.ingest.mbox as m, forensics.pipeline as p; "
    "m.SHARD_BYTES = int(sys.argv[1]); p.BATCH_BYTES = 1; "
    "from forensics.cli import main; sys.argv = ['forensics', *sys.argv[2:]]; main()"
)


@pytest.fixture
def evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(mbox_reader, "SHARD_BYTES", SHARD_BYTES)
    monkeypatch.setattr(pipeline, "BATCH_BYTES", 1)
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "big.mbox").write_bytes(b"".join(load_generator().generate(600_000, seed=3)))
    return folder


def start_scan(evidence: Path, out: Path, workers: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", SCRIPT, str(SHARD_BYTES), "scan", str(evidence),
               "--out", str(out), "--quiet", "--workers", str(workers)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def done_shards(case: Path) -> int:
    try:
        with sqlite3.connect(f"file:{case / 'case.sqlite'}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM shards").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def wait_for_shards(case: Path, process: subprocess.Popen[bytes], count: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (done := done_shards(case)) >= count:
            return done
        time.sleep(0.01)
    process.kill()
    process.communicate()
    raise AssertionError(f"the scan ended or stalled before {count} shards were done")


def wait_group_gone(pgid: int, seconds: float = 15) -> bool:
    """True once no process of the scan's session is left (workers and forkserver included)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    return False


def exports(case: Path) -> dict[str, bytes]:
    """Every data file the scan writes: CSV (timeline included), JSON Lines and graph exports
    (the manifest, the page and the charts carry the run's clock or renderer metadata)."""
    files = [*case.glob("*.csv"), *case.glob("*.jsonl"), *case.glob("graph*.graphml"), *case.glob("graph*.gexf"),
             *case.glob("graph*.json")]
    return {p.name: p.read_bytes() for p in sorted(files)}


def check_intact(case: Path) -> tuple[int, int]:
    """Integrity, and only whole shards: every stored message belongs to a finished shard."""
    with sqlite3.connect(case / "case.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        shards, in_shards = conn.execute("SELECT COUNT(*), COALESCE(SUM(messages), 0) FROM shards").fetchone()
        stored = conn.execute("SELECT COUNT(*) FROM occurrences").fetchone()[0]
    assert stored == in_shards
    return shards, stored


def test_kill_9_then_resume_gives_the_uninterrupted_files(evidence: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    cli_scan(evidence, reference, "--workers", "1")
    total = done_shards(reference)
    assert total >= 50

    case = tmp_path / "case"
    process = start_scan(evidence, case, workers=2)
    wait_for_shards(case, process, 3)
    os.kill(process.pid, signal.SIGKILL)  # the main process only: workers are orphaned
    process.communicate(timeout=30)
    assert wait_group_gone(process.pid), "orphaned workers did not exit"
    finished_before, _ = check_intact(case)
    assert 3 <= finished_before < total

    result = scan([evidence], ScanOptions(out=case, workers=2, resume=True))
    assert (result.shards_skipped, result.shards_run) == (finished_before, total - finished_before)
    cli_scan(evidence, case, "--resume")  # nothing left to run: writes the files
    check_intact(case)
    assert csv_files(case) == csv_files(reference)
    resumed, uninterrupted = exports(case), exports(reference)
    assert {"timeline.csv", "messages.jsonl", "graph.graphml", "graph_brokers.gexf", "graph.json"} <= set(resumed)
    assert resumed == uninterrupted


def test_ctrl_c_stops_workers_cleanly_and_resume_completes(evidence: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    cli_scan(evidence, reference, "--workers", "1")

    case = tmp_path / "case"
    process = start_scan(evidence, case, workers=2)
    wait_for_shards(case, process, 3)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 130
    assert b"Interrupted" in err and b"Traceback" not in err
    assert wait_group_gone(process.pid), "workers survived Ctrl-C"
    check_intact(case)

    cli_scan(evidence, case, "--resume", "--workers", "2")
    check_intact(case)
    assert csv_files(case) == csv_files(reference)


def test_resume_is_refused_when_the_analysis_differs(evidence: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    first = scan([evidence], ScanOptions(out=case, workers=1))
    again = scan([evidence], ScanOptions(out=case, workers=1))
    assert (again.shards_run, again.shards_skipped, again.resume_refused) == (0, first.shards_run, "")
    other = ScanOptions(out=case, workers=1, settings=Settings(identities=("alice@mail.example",)))
    changed = scan([evidence], other)
    assert changed.shards_run == first.shards_run
    assert "different analysis" in changed.resume_refused


def test_no_resume_reads_everything_again_and_changes_nothing(evidence: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    cli_scan(evidence, case, "--workers", "1")
    before = csv_files(case)
    result = scan([evidence], ScanOptions(out=case, workers=1, resume=False))
    assert result.shards_skipped == 0
    cli_scan(evidence, case, "--workers", "1")
    assert csv_files(case) == before
