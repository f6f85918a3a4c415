"""The engine: same files whatever the number of workers; small files batched; crashes contained."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

import forensics.engines.local as local_engine
import forensics.ingest.mbox as mbox_reader
import forensics.pipeline as pipeline
from forensics.cli import app
from forensics.engines.shard import Task, run_task, tasks_of
from forensics.ingest.base import Shard
from forensics.pipeline import ScanOptions, scan

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def load_generator() -> ModuleType:
    """The benchmark's mbox generator (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("make_big_mbox", ROOT / "bench" / "make_big_mbox.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_evidence(folder: Path, mbox_bytes: int = 400_000, eml_files: int = 30) -> Path:
    """A generated mbox plus a folder of .eml files cut from the same generator."""
    gen = load_generator()
    evidence = folder / "evidence"
    (evidence / "eml").mkdir(parents=True)
    (evidence / "box.mbox").write_bytes(b"".join(gen.generate(mbox_bytes, seed=7)))
    import random

    rng = random.Random(11)
    for index in range(eml_files):
        _envelope, data = gen.message(rng, index)
        (evidence / "eml" / f"{index:03d}.eml").write_bytes(data)
    return evidence


def csv_files(case: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(case.glob("*.csv"))}


def cli_scan(evidence: Path, out: Path, *extra: str) -> None:
    result = runner.invoke(app, ["scan", str(evidence), "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output


def test_output_is_identical_whatever_the_worker_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = make_evidence(tmp_path)
    monkeypatch.setattr(mbox_reader, "SHARD_BYTES", 40_000)  # ~9 mbox shards
    monkeypatch.setattr(pipeline, "BATCH_FILES", 8)  # 30 .eml files -> 4 batches
    cli_scan(evidence, tmp_path / "one", "--workers", "1")
    cli_scan(evidence, tmp_path / "two", "--workers", "2")
    one, two = csv_files(tmp_path / "one"), csv_files(tmp_path / "two")
    assert {"messages.csv", "occurrences.csv", "problems.csv"} <= set(one)
    assert one.keys() == two.keys()
    for name in one:
        assert one[name] == two[name], f"{name} differs between 1 and 2 workers"
    with sqlite3.connect(tmp_path / "two" / "case.sqlite") as conn:
        shards = conn.execute("SELECT COUNT(*), SUM(messages) FROM shards").fetchone()
        messages = conn.execute("SELECT COUNT(*) FROM occurrences").fetchone()[0]
    assert shards[0] >= 8 + 30  # ~9 mbox shards and 30 files
    assert shards[1] == messages


def test_output_is_identical_whatever_the_shard_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = make_evidence(tmp_path, eml_files=0)
    cli_scan(evidence, tmp_path / "whole", "--workers", "1")  # 400 kB: one shard
    monkeypatch.setattr(mbox_reader, "SHARD_BYTES", 25_000)
    cli_scan(evidence, tmp_path / "cut", "--workers", "1")
    with sqlite3.connect(tmp_path / "cut" / "case.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM shards").fetchone()[0] == 12
    whole, cut = csv_files(tmp_path / "whole"), csv_files(tmp_path / "cut")
    assert whole.keys() == cut.keys()
    for name in whole:
        assert whole[name] == cut[name], f"{name} differs between shard sizes"


def test_pool_workers_start_with_the_knowledge_base_compiled() -> None:
    from concurrent.futures import ProcessPoolExecutor

    from forensics.engines.shard import is_warm

    with ProcessPoolExecutor(max_workers=1, mp_context=local_engine.mp_context()) as pool:
        assert pool.submit(is_warm).result() is True


_CHILDREN_ON_ENTER = """
import psutil
from forensics.engines.local import LocalEngine
def children():
    return [' '.join(p.cmdline()) for p in psutil.Process().children()]
if __name__ == '__main__':
    with LocalEngine(1):
        print(len(children()))
    with LocalEngine(2):
        print(sum('forkserver' in line for line in children()))
"""


def test_a_pool_engine_starts_its_forkserver_on_entering_a_lone_worker_starts_nothing() -> None:
    """The forkserver's imports overlap the main process's hashing and planning."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _CHILDREN_ON_ENTER], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == ["0", "1"]


def test_scan_reports_tasks_and_batches_small_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = make_evidence(tmp_path, mbox_bytes=100_000, eml_files=20)
    monkeypatch.setattr(pipeline, "BATCH_FILES", 8)
    result = scan([evidence], ScanOptions(out=tmp_path / "case", workers=2))
    assert result.shards_run == 1 + 20  # a small mbox is one shard, like each .eml
    assert result.tasks == 3  # 21 small files in plan order, in batches of 8, 8 and 5
    assert result.engine == "local, 2 workers"


def _shard(name: str) -> Shard:
    return Shard(shard_id=name, reader="eml", path=name, source_sha256="0" * 64)


def test_tasks_batch_consecutive_small_shards_and_keep_big_ones_alone() -> None:
    shards = [_shard(n) for n in ("a", "b", "c", "BIG", "d", "e", "f", "g")]
    sizes = {"a": 10, "b": 10, "c": 10, "BIG": 1000, "d": 60, "e": 50, "f": 1, "g": 1}
    tasks = tasks_of(shards, sizes, batch_bytes=100, batch_files=2)
    assert [[s.shard_id for s in t.shards] for t in tasks] == [["a", "b"], ["c"], ["BIG"], ["d"], ["e", "f"], ["g"]]
    assert [t.size for t in tasks] == [20, 10, 1000, 60, 51, 1]


def test_task_key_is_content_derived() -> None:
    assert Task(shards=(_shard("a"),), size=1).key == Task(shards=(_shard("a"),), size=99).key
    assert Task(shards=(_shard("a"),), size=1).key != Task(shards=(_shard("b"),), size=1).key


def test_an_unknown_reader_becomes_a_problem_not_an_exception() -> None:
    shard = Shard(shard_id="x", reader="no-such-reader", path="/nowhere", source_sha256="0" * 64)
    [(tables, row)] = run_task(Task(shards=(shard,), size=0), pipeline.Settings())
    assert row.messages == 0 and row.problems == 1
    [(table, columns, values)] = tables
    assert table == "problems"
    assert dict(zip(columns, values[0]))["kind"] == "reader-crash"


def crash_on_marker(task: Task, settings: pipeline.Settings) -> object:
    """Stands in for run_task in the worker: dies like a native crash on a marked file."""
    if any(s.path.endswith("crash.eml") for s in task.shards):
        os._exit(70)
    return run_task(task, settings)


def test_a_worker_that_dies_becomes_a_problem_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    mail = b"From: a@example.com\nTo: b@example.org\nSubject: s\n\nbody\n"
    for name in ("a.eml", "crash.eml", "c.eml", "d.eml"):
        (evidence / name).write_bytes(mail.replace(b"body", name.encode()))
    monkeypatch.setattr(pipeline, "BATCH_FILES", 2)  # crash.eml shares its task with a.eml
    monkeypatch.setattr(local_engine, "run_task", crash_on_marker)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # workers import this module by name
    sys.modules.setdefault("test_engine", sys.modules[__name__])
    result = scan([evidence], ScanOptions(out=tmp_path / "case", workers=2))
    assert result.shards_run == 4
    with sqlite3.connect(tmp_path / "case" / "case.sqlite") as conn:
        problems = conn.execute("SELECT source_path, kind FROM problems").fetchall()
        done = conn.execute("SELECT COUNT(*), SUM(messages) FROM shards").fetchone()
    assert problems == [(str(evidence / "crash.eml"), "worker-crash")]
    assert done == (4, 3)
