"""Golden runs: the same evidence gives byte-identical report files, run after run.

Everything the report writes is compared byte for byte, except ``case.sqlite`` (the
store, which records when it was last scanned) and ``manifest.json``, whose run times
and command line are the only fields allowed to differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forensics.cli import app
from forensics.report.build import write_report
from test_report_support import add_findings, hostile_mbox, scan_case

ROOT = Path(__file__).resolve().parent.parent
TIMES = {"started_utc", "finished_utc", "report_started_utc", "report_finished_utc", "command_line"}
NOT_COMPARED = {"case.sqlite", "manifest.json"}


def data_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in NOT_COMPARED and not p.name.startswith("case.sqlite")}


def differences(a: dict[str, bytes], b: dict[str, bytes]) -> list[str]:
    """Names of files that differ, each with the first differing bytes (for the failure message)."""
    found = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name, b""), b.get(name, b"")
        if x != y:
            at = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
            found.append(f"{name} @ {at}: {x[max(0, at - 60):at + 60]!r} != {y[max(0, at - 60):at + 60]!r}")
    return found


def manifest_without_times(folder: Path) -> dict[str, object]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["outputs"].pop("case.sqlite", None)
    for key in ("mtime_ns",):  # the evidence was copied: same bytes, other file times
        for item in manifest["inputs"]:
            item.pop(key, None)
            item.pop("path", None)
    return {k: v for k, v in manifest.items() if k not in TIMES}


def scan_cli(evidence: Path, out: Path, workers: int) -> None:
    result = CliRunner().invoke(app, ["scan", str(evidence), "--out", str(out), "--workers", str(workers), "-q"])
    assert result.exit_code == 0, result.output


def test_sample_data_twice_gives_identical_files(tmp_path: Path) -> None:
    sample = ROOT / "sample_data"
    scan_cli(sample, tmp_path / "one", workers=1)
    scan_cli(sample, tmp_path / "two", workers=2)
    one, two = data_files(tmp_path / "one"), data_files(tmp_path / "two")
    assert {"messages.csv", "messages.jsonl", "timeline.csv", "report.html", "chart_graph.svg"} <= set(one)
    assert sorted(one) == sorted(two)
    assert differences(one, two) == []
    assert manifest_without_times(tmp_path / "one") == manifest_without_times(tmp_path / "two")


def test_report_with_every_finding_is_reproducible(tmp_path: Path) -> None:
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(tmp_path / "ev", tmp_path / "case")
    add_findings(tmp_path / "case")
    write_report(tmp_path / "case", tmp_path / "a", argv=["a"])
    write_report(tmp_path / "case", tmp_path / "b", argv=["b"])
    a, b = data_files(tmp_path / "a"), data_files(tmp_path / "b")
    assert len(a) >= 30
    assert differences(a, b) == []
    assert manifest_without_times(tmp_path / "a") == manifest_without_times(tmp_path / "b")


@pytest.mark.parametrize("name", ["report.html", "timeline.csv", "manifest.json"])
def test_no_wall_clock_in_data_files(tmp_path: Path, name: str) -> None:
    scan_cli(ROOT / "sample_data", tmp_path / "c", workers=1)
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text(encoding="utf-8"))
    text = (tmp_path / "c" / name).read_text(encoding="utf-8")
    stamp = manifest["report_started_utc"]
    assert (stamp in text) == (name == "manifest.json")
