"""The notebook API (``forensics.open_case``) and the ``forensics graph`` command, on the
known case of ``test_correlate_support``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
from typer.testing import CliRunner

import forensics
from forensics.cli import app
from forensics.correlate.export import read_graph
from forensics.errors import ReadError
from test_correlate_support import ALICE, FRIEND, MD5, SHOP, STORE, fixture_mbox, scan_fixture


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scan_fixture(tmp_path_factory.mktemp("api"))


def test_frames_of_the_case(case: Path) -> None:
    with forensics.open_case(case) as opened:
        messages = opened.messages()
        assert isinstance(messages, pd.DataFrame)
        assert sorted(messages["from_addr"]) == [STORE, FRIEND, SHOP, SHOP, SHOP]
        assert list(messages["message_sha256"]) == sorted(messages["message_sha256"])
        assert len(opened.beacons()) == 5 and set(opened.beacons()["is_beacon"]) == {1}
        assert len(opened.links()) == 2
        assert set(opened.leaks()["identity"]) == {ALICE}
        assert opened.tokens().set_index("value").loc[MD5, "role"] == "recipient-identifier"
        assert opened.table("no_such_table").empty


def test_metrics_by_short_name(case: Path) -> None:
    with forensics.open_case(case / "case.sqlite") as opened:
        assert opened.metric_names() == ["prevalence", "providers", "third_parties", "leaks", "sharing",
                                         "centrality", "brokers"]
        prevalence = opened.metrics("prevalence")
        assert prevalence.iloc[0].to_dict() == {"scope": "all", "key": "", "messages": 5, "tracked": 3, "share": 0.6}
        assert opened.metrics("metrics_brokers")["senders"].tolist() == [2, 2]
        with pytest.raises(KeyError, match="one of prevalence"):
            opened.metrics("popularity")


def test_graph_and_the_evidence_behind_an_edge(case: Path) -> None:
    with forensics.open_case(case) as opened:
        graph = opened.graph(level="provider", sender="shop.example")
        assert isinstance(graph, nx.DiGraph)
        assert set(graph.edges) == {(f"sender:{SHOP}", "domain:shop.example"), (f"sender:{SHOP}", f"recipient:{ALICE}"),
                                    (f"sender:{SHOP}", "provider:Mailchimp"), (f"recipient:{ALICE}", "provider:Mailchimp")}
        evidence = opened.evidence(f"sender:{SHOP}", "provider:Mailchimp")
        assert list(evidence.columns) == ["message_sha256", "date_utc", "finding_id", "kind"]
        assert evidence["message_sha256"].nunique() == graph.edges[f"sender:{SHOP}", "provider:Mailchimp"]["count"]
        assert sorted(set(evidence["kind"])) == ["beacon", "leak", "link"]
        brokers = opened.graph(view="broker")
        assert brokers.graph["view"] == "broker"


def test_the_case_is_opened_read_only(case: Path) -> None:
    with forensics.open_case(case) as opened:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            opened.conn.execute("DELETE FROM messages")


def test_no_case_there(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match="no case found"):
        forensics.open_case(tmp_path)


def test_graph_command_writes_three_formats_of_two_views(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "g"
    result = CliRunner().invoke(app, ["graph", str(case), "--out", str(out), "--level", "token",
                                      "--provider", "Mailchimp", "--since", "2024-01-01", "--until", "2024-02",
                                      "--min-count", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "graph.gexf", "graph.graphml", "graph.json", "graph_brokers.gexf", "graph_brokers.graphml",
        "graph_brokers.json"]
    graph = read_graph(out / "graph.graphml")
    assert "host:pixel.adnet.example" not in graph and f"token:{MD5}" in graph
    assert f"sender:{FRIEND}" not in graph


def test_graph_command_writes_only_the_formats_asked_for(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "g"
    result = CliRunner().invoke(app, ["graph", str(case), "--out", str(out), "--formats", " JSON, gexf,json"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["graph.gexf", "graph.json", "graph_brokers.gexf",
                                                     "graph_brokers.json"]
    assert result.output == (f"4 files written to {out}: graph.gexf, graph.json, graph_brokers.gexf, "
                             "graph_brokers.json\n")  # FORMATS order, whatever order they were given in
    default = tmp_path / "all"
    assert CliRunner().invoke(app, ["graph", str(case), "--out", str(default), "-q"]).exit_code == 0
    for name in ("graph.gexf", "graph.json", "graph_brokers.gexf", "graph_brokers.json"):
        assert (out / name).read_bytes() == (default / name).read_bytes()


@pytest.mark.parametrize(("formats", "message"), [
    ("graphml,csv", "Error: --formats: unknown graph format 'csv'; one of graphml, gexf, json\n"),
    (" , ", "Error: --formats: choose at least one graph format: graphml, gexf, json\n"),
])
def test_graph_command_refuses_unknown_or_no_formats_before_reading(case: Path, tmp_path: Path, formats: str,
                                                                    message: str) -> None:
    out = tmp_path / "g"
    result = CliRunner().invoke(app, ["graph", str(case), "--out", str(out), "--formats", formats])
    assert (result.exit_code, result.output) == (2, message)
    assert not out.exists()


@pytest.mark.parametrize("args", [["--level", "galaxy"], ["--since", "yesterday"], ["--min-count", "0"]])
def test_graph_command_refuses_bad_options(case: Path, tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, ["graph", str(case), "--out", str(tmp_path), *args])
    assert result.exit_code == 2


def test_graph_command_without_a_case(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["graph", str(tmp_path / "nothing")])
    assert result.exit_code == 3
    assert "no case found" in result.output


def test_scan_writes_the_default_graph_and_the_metrics_csvs(tmp_path: Path) -> None:
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "alice.mbox").write_bytes(fixture_mbox())
    out = tmp_path / "case"
    result = CliRunner().invoke(app, ["scan", str(tmp_path / "ev"), "--out", str(out), "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    graph = read_graph(out / "graph.gexf")
    assert graph.nodes[f"sender:{STORE}"]["kind"] == "sender" and "host:pixel.adnet.example" in graph
    assert read_graph(out / "graph_brokers.json").number_of_edges() == 6
    assert (out / "metrics_prevalence.csv").read_text(encoding="utf-8").splitlines()[:2] == [
        "scope,key,messages,tracked,share", "all,,5,3,0.6"]


def test_evidence_after_graph_reuses_the_prepared_selection(case: Path) -> None:
    with forensics.open_case(case) as opened:
        graph = opened.graph(level="host", sender=STORE)
        edge = (f"sender:{STORE}", "host:pixel.adnet.example")
        same = opened.evidence(*edge, sender=STORE)
        other = opened.evidence(*edge)  # another selection: the tables are rebuilt
        assert same["message_sha256"].nunique() == graph.edges[edge]["count"] == 1
        assert same.equals(other)
        assert opened.evidence(f"sender:{SHOP}", "host:pixel.adnet.example", sender=STORE).empty
