"""The Dask engine: the same shards on a dask.distributed cluster give the local engine's files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_engine import cli_scan, csv_files, make_evidence
from typer.testing import CliRunner

import forensics.ingest.mbox as mbox_reader
import forensics.pipeline as pipeline
from forensics.cli import app
from forensics.pipeline import ScanOptions, scan

distributed = pytest.importorskip("distributed", reason="the Dask engine needs dask[distributed]")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A light in-process cluster: one worker with two threads, no dashboard."""
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def test_dask_engine_output_equals_local_engine(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = make_evidence(tmp_path, mbox_bytes=200_000, eml_files=12)
    monkeypatch.setattr(mbox_reader, "SHARD_BYTES", 30_000)
    monkeypatch.setattr(pipeline, "BATCH_FILES", 5)
    cli_scan(evidence, tmp_path / "local", "--workers", "1")
    cli_scan(evidence, tmp_path / "dask", "--engine", "dask", "--scheduler", cluster)
    local, dask = csv_files(tmp_path / "local"), csv_files(tmp_path / "dask")
    assert "messages.csv" in local
    assert local.keys() == dask.keys()
    for name in local:
        assert local[name] == dask[name], f"{name} differs between the local and Dask engines"


def test_dask_engine_resumes_like_the_local_one(cluster: str, tmp_path: Path) -> None:
    evidence = make_evidence(tmp_path, mbox_bytes=50_000, eml_files=3)
    options = ScanOptions(out=tmp_path / "case", engine="dask", scheduler=cluster)
    first = scan([evidence], options)
    again = scan([evidence], options)
    assert first.engine == f"dask, scheduler {cluster}"
    assert (first.shards_run, again.shards_run, again.shards_skipped) == (4, 0, 4)


def test_unreachable_scheduler_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import forensics.engines.dask as dask_engine

    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "0.5s")
    evidence = make_evidence(tmp_path, mbox_bytes=5_000, eml_files=0)
    result = CliRunner().invoke(app, ["scan", str(evidence), "--out", str(tmp_path / "case"),
                                      "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 3
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output


def test_scheduler_without_dask_engine_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["scan", str(tmp_path), "--out", str(tmp_path / "o"),
                                      "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2
    assert "--scheduler needs --engine dask" in result.output
