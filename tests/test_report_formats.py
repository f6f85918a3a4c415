"""Choosing the report's formats: each data set as CSV and/or JSON Lines, each graph as any of
GraphML, GEXF and node-link JSON. The default writes every format (as before); whatever the
choice, the case, the page, the timeline, the charts, the data dictionary and the manifest
are written, and everything that lists or names files names only those written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_engine import load_generator
from test_golden import data_files, differences
from test_report_support import scan_case
from typer.testing import CliRunner

from forensics.cli import app
from forensics.correlate.export import FORMATS
from forensics.report import build
from forensics.report.build import ReportResult, write_report
from forensics.report.csvout import QUERIES
from forensics.report.dictionary import JSONL_NOTE, NOTES
from forensics.report.manifest import sha256_of
from forensics.report.tables import ALL_FORMATS, GRAPH_FORMATS, Formats, export_plan
from forensics.store import Store

ROOT = Path(__file__).resolve().parent.parent
CHARTS = {f"chart_{c}.{ext}" for c in ("prevalence", "providers", "heatmap", "leak_encodings", "graph")
          for ext in ("png", "svg")}
ALWAYS = {"timeline.csv", "report.html", "data_dictionary.md", "manifest.json"} | CHARTS
runner = CliRunner()


# ----------------------------------------------------------------------------- the choice


def test_the_default_is_every_format_in_a_fixed_order() -> None:
    assert Formats() == Formats.parse(ALL_FORMATS) == Formats.parse("json,gexf,graphml,jsonl,csv")
    assert Formats().tables == ("csv", "jsonl") and Formats().graphs == ("graphml", "gexf", "json")
    assert ALL_FORMATS == "csv,jsonl,graphml,gexf,json"
    assert GRAPH_FORMATS == FORMATS  # the graph writer's own names


def test_a_choice_ignores_case_spaces_repeats_and_empty_items() -> None:
    assert Formats.parse(" GEXF, csv,,csv ") == Formats(tables=("csv",), graphs=("gexf",))
    assert Formats.parse("jsonl") == Formats(tables=("jsonl",), graphs=())
    assert Formats.parse("jsonl").files("leaks") == ("leaks.jsonl",)
    assert Formats().files("leaks") == ("leaks.csv", "leaks.jsonl")
    assert Formats().file("leaks") == "leaks.csv" and Formats.parse("jsonl").file("leaks") == "leaks.jsonl"


NO_DATA_SET_FORMAT = ("choose at least one data set format (csv, jsonl); the formats are csv, jsonl (each data set) "
                      "and graphml, gexf, json (the graphs)")


@pytest.mark.parametrize(("text", "error"), [
    ("csv,xml", "unknown format 'xml'; the formats are csv, jsonl (each data set) and graphml, gexf, json (the graphs)"),
    ("", NO_DATA_SET_FORMAT),
    ("gexf,graphml", NO_DATA_SET_FORMAT),
])
def test_an_unknown_format_or_no_data_set_format_is_refused(text: str, error: str) -> None:
    with pytest.raises(ValueError) as raised:
        Formats.parse(text)
    assert str(raised.value) == error


def test_a_format_given_for_the_wrong_kind_of_file_is_refused() -> None:
    with pytest.raises(ValueError, match="^'gexf' is not a data set format$"):
        Formats(tables=("gexf",))
    with pytest.raises(ValueError, match="^'csv' is not a graph format$"):
        Formats(graphs=("csv",))


def test_the_dictionary_note_on_json_lines_is_part_of_the_notes() -> None:
    assert JSONL_NOTE in NOTES


# ----------------------------------------------------------------------------- the files written


@pytest.fixture(scope="module")
def sample_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sample_data/ scanned once, its report written with every format (as `forensics scan` does)."""
    case = tmp_path_factory.mktemp("sample") / "case"
    scan_case(ROOT / "sample_data", case)
    write_report(case, case, argv=["forensics", "scan"])
    return case


def _plan(case: Path) -> list[str]:
    with Store(case) as store:
        return [e.name for e in export_plan(store.conn, QUERIES)]


def _expected(case: Path, formats: Formats) -> set[str]:
    data = {f for name in _plan(case) for f in formats.files(name)}
    graphs = {f"{stem}.{fmt}" for stem in ("graph", "graph_brokers") for fmt in formats.graphs}
    return data | graphs | ALWAYS


def _report(case: Path, out: Path, formats: Formats, workers: int = 1) -> ReportResult:
    return write_report(case, out, argv=["forensics", "report"], workers=workers, formats=formats)


def _manifest_outputs(folder: Path) -> dict[str, dict[str, object]]:
    outputs: dict[str, dict[str, object]] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["outputs"]
    return outputs


def _assert_sealed(folder: Path, expected: set[str]) -> None:
    """The folder holds exactly ``expected``; the manifest lists each of them but itself,
    with its SHA-256 and size."""
    assert {p.name for p in folder.iterdir()} == expected
    outputs = _manifest_outputs(folder)
    assert set(outputs) == expected - {"manifest.json"}
    for name, record in outputs.items():
        assert record == {"sha256": sha256_of(folder / name), "size": (folder / name).stat().st_size}, name


def test_the_plan_of_the_sample_case_holds_the_data_sets_the_page_names(sample_case: Path) -> None:
    assert {"messages", "occurrences", "inputs", "problems", "beacons", "links", "leaks", "tokens",
            "url_tokens", "metrics_brokers", "metrics_providers", "metrics_prevalence"} <= set(_plan(sample_case))


def test_the_default_writes_every_format(sample_case: Path, tmp_path: Path) -> None:
    result = _report(sample_case, tmp_path / "out", Formats())
    expected = _expected(sample_case, Formats())
    assert len(expected) == 2 * len(_plan(sample_case)) + 6 + len(ALWAYS)
    _assert_sealed(tmp_path / "out", expected)
    assert {p.name for p in result.outputs} == expected and result.outputs[-1].name == "manifest.json"
    assert result.removed == result.left == ()
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "full data: leaks.csv" in page and "(metrics_brokers.csv, graph_brokers.*)" in page
    dictionary = (tmp_path / "out" / "data_dictionary.md").read_text(encoding="utf-8")
    assert NOTES in dictionary and "## leaks (`leaks.csv`, `leaks.jsonl`)" in dictionary


@pytest.mark.parametrize(("text", "recorded"), [
    ("csv,jsonl,graphml,gexf,json", {"tables": ["csv", "jsonl"], "graphs": ["graphml", "gexf", "json"]}),
    ("GEXF, csv", {"tables": ["csv"], "graphs": ["gexf"]}),
    ("jsonl", {"tables": ["jsonl"], "graphs": []}),
])
def test_the_manifest_records_the_formats_chosen(sample_case: Path, tmp_path: Path, text: str,
                                                 recorded: dict[str, list[str]]) -> None:
    """Not only in the command line: a report written by the library has none."""
    _report(sample_case, tmp_path / "out", Formats.parse(text))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["formats"] == recorded


def test_csv_alone_writes_no_json_lines_and_no_graph(sample_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _report(sample_case, out, Formats.parse("csv"))
    expected = {f"{name}.csv" for name in _plan(sample_case)} | ALWAYS
    assert _expected(sample_case, Formats.parse("csv")) == expected
    _assert_sealed(out, expected)
    assert {p.name for p in result.outputs} == expected
    assert set(result.rows) == set(_plan(sample_case)) | {"timeline"}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert ".jsonl" not in page and "graph_brokers" not in page and "Drawing:" not in page
    assert "full data: leaks.csv" in page
    dictionary = (out / "data_dictionary.md").read_text(encoding="utf-8")
    assert "jsonl" not in dictionary and "JSON Lines" not in dictionary
    assert "## leaks (`leaks.csv`)" in dictionary and "## timeline (`timeline.csv`)" in dictionary


def test_json_lines_alone_is_what_the_page_and_dictionary_name(sample_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _report(sample_case, out, Formats.parse("jsonl,json"))
    expected = {f"{name}.jsonl" for name in _plan(sample_case)} | {"graph.json", "graph_brokers.json"} | ALWAYS
    _assert_sealed(out, expected)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "full data: leaks.jsonl" in page and "messages.jsonl" in page
    assert ".csv" not in page and ".graphml" not in page and ".gexf" not in page
    dictionary = (out / "data_dictionary.md").read_text(encoding="utf-8")
    assert NOTES in dictionary  # the JSON Lines note too
    assert "## leaks (`leaks.jsonl`)" in dictionary
    # Its columns as exported, though no CSV header was there to read them from.
    with Store(sample_case) as store:
        columns = [d[0] for d in store.conn.execute(f"SELECT * FROM ({QUERIES['messages']}) LIMIT 0").description]
    section = dictionary.split("## messages (`messages.jsonl`)")[1].split("\n## ")[0]
    assert [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")] == columns


def test_the_files_of_a_choice_are_those_of_the_default(sample_case: Path, tmp_path: Path) -> None:
    _report(sample_case, tmp_path / "all", Formats())
    _report(sample_case, tmp_path / "some", Formats.parse("jsonl,gexf"))
    every, some = data_files(tmp_path / "all"), data_files(tmp_path / "some")
    assert set(some) < set(every)
    # The data sets', timeline's, charts' and graphs' files are the same bytes; only the page
    # and the dictionary differ (they name the JSON Lines files).
    found = differences({k: every[k] for k in some}, some)
    assert {d.split(" @")[0] for d in found} == {"report.html", "data_dictionary.md"}


def test_no_graph_format_builds_no_graph(sample_case: Path, tmp_path: Path) -> None:
    with Store(sample_case) as store:
        tasks = build._tasks(store.conn, tmp_path, Formats.parse("csv"))
        every = build._tasks(store.conn, tmp_path)
    assert [t.kind for t in every[:2]] == ["graphs", "timeline"] and every[0].formats == GRAPH_FORMATS
    assert [(t.kind, t.name) for t in tasks] == [(t.kind, t.name) for t in every[1:]]
    assert all(t.paths == (tmp_path / f"{t.name}.csv",) for t in tasks if t.kind == "export")


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def generated_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated mbox (bench/make_big_mbox.py's generator), scanned once."""
    root = tmp_path_factory.mktemp("generated")
    (root / "ev").mkdir()
    (root / "ev" / "big.mbox").write_bytes(b"".join(load_generator().generate(600_000, seed=3)))
    scan_case(root / "ev", root / "case")
    return root / "case"


@pytest.mark.parametrize(("choice", "drawing"), [
    ("csv", ""), ("jsonl,gexf", " Drawing: graph_brokers.gexf."), ("csv,graphml,json", " Drawing: graph_brokers.graphml."),
    ("jsonl,json", " Drawing: graph_brokers.json."),
])
def test_one_or_two_workers_write_the_same_files_for_any_choice(
        generated_case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, choice: str, drawing: str) -> None:
    monkeypatch.setattr(build, "PARALLEL_FROM_MESSAGES", 1)  # a helper process takes tasks
    formats = Formats.parse(choice)
    alone = _report(generated_case, tmp_path / "alone", formats, workers=1)
    helped = _report(generated_case, tmp_path / "helped", formats, workers=2)
    expected = _expected(generated_case, formats)
    _assert_sealed(tmp_path / "alone", expected)
    _assert_sealed(tmp_path / "helped", expected)
    assert [p.name for p in alone.outputs] == [p.name for p in helped.outputs]
    assert alone.rows == helped.rows and alone.rows["messages"] == 84
    assert differences(data_files(tmp_path / "alone"), data_files(tmp_path / "helped")) == []
    assert _manifest_outputs(tmp_path / "alone") == _manifest_outputs(tmp_path / "helped")
    # The data-broker table (this case has some) names the graph files written, if any.
    page = (tmp_path / "alone" / "report.html").read_text(encoding="utf-8")
    assert f"(a direct join key).{drawing}</p>" in page


# ----------------------------------------------------------------------------- a report written again


def test_a_report_again_with_fewer_formats_removes_the_earlier_ones_files(sample_case: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(sample_case, case)  # the scan's report: every format, case.sqlite sealed too
    before = data_files(case)
    (case / "notes.txt").write_text("the investigator's own file\n", encoding="utf-8")
    result = _report(case, case, Formats.parse("csv"))
    every, fewer = _expected(case, Formats()), _expected(case, Formats.parse("csv"))
    assert sorted(p.name for p in result.removed) == sorted(every - fewer)
    assert result.left == ()
    assert {p.name for p in case.iterdir()} == fewer | {"case.sqlite", "notes.txt"}
    assert set(_manifest_outputs(case)) == fewer - {"manifest.json"} | {"case.sqlite"}
    # Every format again: the same files as the first time.
    again = _report(case, case, Formats())
    assert again.removed == again.left == ()
    after = data_files(case)
    assert after.pop("notes.txt") == b"the investigator's own file\n"
    assert differences(before, after) == []


def test_an_earlier_file_changed_since_is_left_and_said(sample_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _report(sample_case, out, Formats())
    with open(out / "graph.json", "a", encoding="utf-8") as handle:
        handle.write("edited\n")
    result = _report(sample_case, out, Formats.parse("csv,gexf"))
    assert [p.name for p in result.left] == ["graph.json"]
    assert sorted(p.name for p in result.removed) == sorted(
        {f"{n}.jsonl" for n in _plan(sample_case)} | {"graph.graphml", "graph_brokers.graphml", "graph_brokers.json"})
    assert (out / "graph.json").read_text(encoding="utf-8").endswith("edited\n")
    assert "graph.json" not in _manifest_outputs(out)


@pytest.mark.parametrize("manifest", [
    "{not json",
    '{"outputs": ["leaks.jsonl"]}',
    '{"outputs": {"../elsewhere.jsonl": {"sha256": "0", "size": 1}, "case.sqlite": {}}}',
])
def test_nothing_is_removed_that_a_readable_manifest_did_not_seal(tmp_path: Path, sample_case: Path,
                                                                   manifest: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere.jsonl").write_text("x", encoding="utf-8")
    (out / "leaks.jsonl").write_text("{}\n", encoding="utf-8")
    (out / "manifest.json").write_text(manifest, encoding="utf-8")
    result = _report(sample_case, out, Formats.parse("csv"))
    assert result.removed == result.left == ()
    assert (out / "leaks.jsonl").is_file() and (tmp_path / "elsewhere.jsonl").is_file()


def test_a_report_elsewhere_leaves_the_case_folder_as_it_was(sample_case: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(sample_case, case)
    listed = {p.name: p.read_bytes() for p in case.iterdir() if p.is_file()}
    _report(case, tmp_path / "out", Formats.parse("csv"))
    assert {p.name: p.read_bytes() for p in case.iterdir() if p.is_file()} == listed


# ----------------------------------------------------------------------------- the command line


def test_scan_with_an_unknown_format_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", str(ROOT / "sample_data"), "--out", str(tmp_path / "case"),
                                 "--formats", "csv,xml"])
    assert result.exit_code == 2
    assert result.output == ("Error: --formats: unknown format 'xml'; the formats are csv, jsonl (each data set) "
                             "and graphml, gexf, json (the graphs)\n")
    assert not (tmp_path / "case").exists()  # refused before anything was read or written


def test_report_with_no_data_set_format_is_a_one_line_usage_error(sample_case: Path) -> None:
    result = runner.invoke(app, ["report", str(sample_case), "--formats", "graphml"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: --formats: choose at least one data set format (csv, jsonl)")
    assert result.output.count("\n") == 1


def test_report_command_counts_and_says_what_it_wrote_and_removed(sample_case: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = runner.invoke(app, ["report", str(sample_case), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert first.output == f"{len(_expected(sample_case, Formats()))} files written to {out}; open {out / 'report.html'} first.\n"
    second = runner.invoke(app, ["report", str(sample_case), "--out", str(out), "--formats", "csv"])
    assert second.exit_code == 0, second.output
    removed = len(_expected(sample_case, Formats()) - _expected(sample_case, Formats.parse("csv")))
    assert second.output == (f"{len(_expected(sample_case, Formats.parse('csv')))} files written to {out}; "
                             f"open {out / 'report.html'} first.\n"
                             f"removed {removed} files of an earlier report in {out} that this one does not write\n")


def test_scan_writes_the_chosen_formats(tmp_path: Path) -> None:
    evidence = tmp_path / "ev"
    evidence.mkdir()
    shutil.copy(ROOT / "sample_data" / "newsletters.mboxrd", evidence)
    out = tmp_path / "case"
    result = runner.invoke(app, ["scan", str(evidence), "--out", str(out), "-q", "--formats", "jsonl,gexf"])
    assert result.exit_code == 0, result.output
    _assert_sealed(out, _expected(out, Formats.parse("jsonl,gexf")) | {"case.sqlite"})
