"""A large case writes its exports in helper processes: the files are the same as written alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_golden import data_files, differences, manifest_without_times
from test_report_support import add_findings, hostile_mbox, scan_case

from forensics.report import build
from forensics.report.build import write_report
from forensics.store import Store


def test_exports_written_by_helper_processes_are_the_files_written_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(tmp_path / "ev", tmp_path / "case")
    add_findings(tmp_path / "case")
    monkeypatch.setattr(build, "PARALLEL_FROM_MESSAGES", 1)  # this small case counts as large
    with Store(tmp_path / "case") as store:
        assert build.report_helpers(store, 1) == 0
        assert build.report_helpers(store, 3) == 2
    alone = write_report(tmp_path / "case", tmp_path / "alone", argv=["r"], workers=1)
    helped = write_report(tmp_path / "case", tmp_path / "helped", argv=["r"], workers=3)
    assert [p.name for p in alone.outputs] == [p.name for p in helped.outputs]
    assert alone.rows == helped.rows
    a, b = data_files(tmp_path / "alone"), data_files(tmp_path / "helped")
    assert len(a) >= 30
    assert differences(a, b) == []
    assert manifest_without_times(tmp_path / "alone") == manifest_without_times(tmp_path / "helped")


def test_graphs_written_by_a_helper_are_the_graphs_written_here(tmp_path: Path) -> None:
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(tmp_path / "ev", tmp_path / "case")
    add_findings(tmp_path / "case")
    # A helper's own read-only connection builds the graphs' temporary tables.
    written = {}
    for where in ("helper", "here"):
        (tmp_path / where).mkdir()
        with Store(tmp_path / "case") as store:
            task = build._tasks(store.conn, tmp_path / where)[0]
            conn = build._read_only(str(store.path)) if where == "helper" else store.conn
            done = build._Done()
            build._run(conn, task, done)
        written[where] = [p.name for p in done.graphs]
    assert written["helper"] == written["here"] == [
        f"{stem}.{fmt}" for stem in ("graph", "graph_brokers") for fmt in ("graphml", "gexf", "json")]
    assert differences(data_files(tmp_path / "here"), data_files(tmp_path / "helper")) == []
