"""`forensics providers` and `forensics explain` through typer's runner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from forensics.cli import app
from forensics.providers import rules_version

runner = CliRunner()


def test_providers_lists_name_category_rules_and_sources() -> None:
    result = runner.invoke(app, ["providers", "--filter", "awstrack"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Amazon SES [amazon-ses]  esp  8 rules  (Amazon Web Services, Inc.)"
    assert lines[1].startswith(
        "    basis: list:EasyPrivacy, list:MailTrackerBlocker, corpus; sources: "
        "https://github.com/apparition47/MailTrackerBlocker/blob/5dbfc211e24ce597e5d043651e22c5b6161d9ec5/Source/MTBBlockedMessage.m ")
    assert lines[-1] == f"1 providers; knowledge base {rules_version()}"


def test_providers_filters_by_basis_so_unverified_entries_are_visible() -> None:
    assert "0 providers" in runner.invoke(app, ["providers", "--filter", "recalled-unverified"]).output
    result = runner.invoke(app, ["providers", "--filter", "recalled-unverified", "--category", "adtech", "--include-unverified"])
    assert result.exit_code == 0
    bases = [line for line in result.output.splitlines() if line.startswith("    basis: ")]
    assert bases and all("recalled-unverified" in line for line in bases)


def test_providers_filters_by_category() -> None:
    result = runner.invoke(app, ["providers", "--category", "sales", "--filter", "yesware"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("Yesware [yesware]  sales  ")
    everything = runner.invoke(app, ["providers"])
    assert int(everything.output.splitlines()[-1].split()[0]) >= 300


def test_explain_names_layer_rule_and_destination() -> None:
    url = ("https://x.r.us-east-1.awstrack.me/L0/https:%2F%2Fwww.example.org%2Foffer/1/"
           "010001913bd2c1fe-e5c39d9e-b6e5-44ff-a2ca-98bfd7aa64cc-000000/AbCd=1")
    result = runner.invoke(app, ["explain", url])
    assert result.exit_code == 0, result.output
    assert "MATCH host        amazon-ses/shape/1: host x.r.us-east-1.awstrack.me is under awstrack.me" in result.output
    assert "=> Amazon SES (Amazon Web Services, Inc., esp); layer host, confidence 0.95, rule amazon-ses/shape/1" in result.output
    assert "   destination: https://www.example.org/offer" in result.output


def test_explain_says_why_nothing_matched() -> None:
    result = runner.invoke(app, ["explain", "https://fonts.googleapis.com/css?family=Roboto"])
    assert result.exit_code == 0
    assert "no    host        no host rule for fonts.googleapis.com or its parent domains" in result.output
    assert "no    header      no message headers given" in result.output
    assert "=> nobody; layer unknown, confidence 0.00" in result.output
    assert "   reason: fonts.googleapis.com serves ordinary content (fonts, CDN)" in result.output


def test_explain_with_headers_attributes_a_cloaked_link(tmp_path: Path) -> None:
    headers = tmp_path / "message.eml"
    headers.write_bytes(
        b"From: News <news@example.com>\r\nX-SG-EID: Gu1dUG9YjYAOGQ2b3Ls6ZTqBJUfIR2yR\r\n"
        b"Return-Path: <bounces+123@sendgrid.net>\r\nSubject: hi\r\n\r\nbody\r\n")
    before = headers.read_bytes()
    result = runner.invoke(app, ["explain", "https://email.example.com/c/AbC123def456GHI789jkl012", "--headers", str(headers)])
    assert result.exit_code == 0, result.output
    assert "MATCH header      sendgrid/header/names/0: sub-domain 'email' is a typical tracking label" in result.output
    assert "=> SendGrid (Twilio Inc., esp); layer header" in result.output
    assert headers.read_bytes() == before


def test_explain_with_a_missing_headers_file_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["explain", "https://example.com/", "--headers", str(tmp_path / "nope.eml")])
    assert result.exit_code == 3
    assert "cannot read" in result.output and "Traceback" not in result.output
