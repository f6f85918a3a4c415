"""The command line: every command explains itself; scan works through the runner."""

from __future__ import annotations

import csv
from pathlib import Path

import typer.main
from typer.testing import CliRunner

from forensics.cli import app

runner = CliRunner()

MBOX = (
    b"From a@example.com Mon Jan  1 10:00:00 2024\n"
    b"From: A <a@example.com>\nTo: c@example.org\nSubject: hello\n"
    b"Date: Mon, 1 Jan 2024 10:00:00 +0100\n\nbody\nFrom here on, a body line.\n\n"
    b"From b@example.com Tue Jan  2 10:00:00 2024\n"
    b"From: B <b@example.com>\nSubject: second\n\n>From quoted\n"
)


def test_every_command_has_help() -> None:
    group = typer.main.get_group(app)
    assert group.commands, "no commands registered"
    for name, command in group.commands.items():
        assert command.help, f"command {name} has no help text"
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage" in result.output


def test_root_help_lists_scan() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "scan" in result.output


def test_scan_writes_case_and_csvs(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "box").write_bytes(MBOX)
    out = tmp_path / "case"
    result = runner.invoke(app, ["scan", str(evidence), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 unique messages" in result.output
    with open(out / "messages.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["subject"] for r in rows] == ["hello", "second"]
    assert rows[0]["locator"] == "offset=0+172"
    assert (out / "case.sqlite").is_file()
    assert (out / "manifest.json").is_file()


def test_missing_input_is_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 3
    assert "no such file or folder" in result.output


def test_output_inside_evidence_is_refused(tmp_path: Path) -> None:
    (tmp_path / "box").write_bytes(MBOX)
    result = runner.invoke(app, ["scan", str(tmp_path), "--out", str(tmp_path / "case")])
    assert result.exit_code == 3
    assert "inside the evidence" in result.output
