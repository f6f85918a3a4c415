"""The correlation graph of a known case: exact nodes and edges at every level, filters,
the data-broker view, evidence behind edges, and exports that read back equal."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

from forensics.correlate import GraphOptions, Selection, build_graph, evidence_rows
from forensics.correlate import graph as graph_module
from forensics.correlate.export import FORMATS, read_graph, write_graph
from forensics.correlate.sources import release, utc_bound
from forensics.correlate.xmlsafe import xml_safe
from test_correlate_support import ADNET, ALICE, FRIEND, MC_SHOP, MC_STORE, MD5, SHOP, STORE, scan_fixture

SHOP_USER, SHOP_C1, SHOP_C2 = "a1b2c3d4e5f6a7b8c9d0e1f2a", "5f4e3d2c1b", "9a8b7c6d5e"
S, T, F = f"sender:{SHOP}", f"sender:{STORE}", f"sender:{FRIEND}"
A, MC = f"recipient:{ALICE}", "provider:Mailchimp"
H_SHOP, H_STORE, H_AD = f"host:{MC_SHOP}", f"host:{MC_STORE}", f"host:{ADNET}"
K_MD5, K_USER, K_C1, K_C2 = (f"token:{v}" for v in (MD5, SHOP_USER, SHOP_C1, SHOP_C2))

PROVIDER_EDGES = {
    (S, "domain:shop.example"): "in_domain", (T, "domain:store.example"): "in_domain",
    (F, "domain:example.net"): "in_domain",
    (S, A): "mailed", (T, A): "mailed", (F, A): "mailed",
    (S, MC): "uses", (T, MC): "uses",
    (A, MC): "identified_to",
}
HOST_EDGES = PROVIDER_EDGES | {
    (S, H_SHOP): "contacts", (S, H_AD): "contacts", (T, H_STORE): "contacts", (T, H_AD): "contacts",
    (H_SHOP, MC): "operated_by", (H_STORE, MC): "operated_by",
    (A, H_SHOP): "identified_to_host", (A, H_STORE): "identified_to_host", (A, H_AD): "identified_to_host",
}
# The store's own user and campaign ids are "undetermined" (one message, nothing to compare):
# not drawn. Alice's MD5 and shop's user id identify her; shop's campaign ids, a message.
TOKEN_EDGES = HOST_EDGES | {
    (S, K_MD5): "issued", (T, K_MD5): "issued", (S, K_USER): "issued", (S, K_C1): "issued", (S, K_C2): "issued",
    (K_MD5, H_SHOP): "sent_to", (K_MD5, H_STORE): "sent_to", (K_MD5, H_AD): "sent_to",
    (K_USER, H_SHOP): "sent_to", (K_C1, H_SHOP): "sent_to", (K_C2, H_SHOP): "sent_to",
    (K_MD5, A): "identifies", (K_USER, A): "identifies",
}


def nodes_of(edges: dict[tuple[str, str], str]) -> set[str]:
    return {n for pair in edges for n in pair}


def relations(graph: nx.DiGraph) -> dict[tuple[str, str], str]:
    return {(u, v): d["relation"] for u, v, d in graph.edges(data=True)}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scan_fixture(tmp_path_factory.mktemp("correlate"))


@pytest.fixture
def conn(case: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"{(case / 'case.sqlite').as_uri()}?mode=ro", uri=True)
    yield connection
    release(connection)
    connection.close()


@pytest.fixture(scope="module")
def messages(case: Path) -> dict[str, str]:
    """Message node ids by the fixture's number (1-5, in the order the docstring lists them)."""
    with sqlite3.connect(case / "case.sqlite") as db:
        rows = db.execute("SELECT message_sha256, from_addr, date_utc FROM messages").fetchall()
    by = {(frm, date): f"message:{sha}" for sha, frm, date in rows}
    return {1: by[(SHOP, "2024-01-10T10:00:00Z")], 2: by[(SHOP, "2024-02-12T08:30:00Z")],
            3: by[(STORE, "2024-02-20T18:00:00Z")], 4: by[(FRIEND, "2024-03-01T12:00:00Z")], 5: by[(SHOP, "")]}


def test_provider_level_has_exactly_the_expected_nodes_and_edges(conn: sqlite3.Connection) -> None:
    graph = build_graph(conn, GraphOptions(level="provider"))
    assert relations(graph) == PROVIDER_EDGES
    assert set(graph.nodes) == nodes_of(PROVIDER_EDGES)
    assert {n: d["kind"] for n, d in graph.nodes(data=True)} == {
        S: "sender", T: "sender", F: "sender", "domain:shop.example": "domain", "domain:store.example": "domain",
        "domain:example.net": "domain", A: "recipient", MC: "provider"}


def test_host_level_adds_the_tracking_hosts(conn: sqlite3.Connection) -> None:
    graph = build_graph(conn, GraphOptions(level="host"))
    assert relations(graph) == HOST_EDGES
    assert set(graph.nodes) == nodes_of(HOST_EDGES)


def test_token_level_adds_identifying_tokens(conn: sqlite3.Connection) -> None:
    graph = build_graph(conn, GraphOptions(level="token"))
    assert relations(graph) == TOKEN_EDGES
    assert {n: d["role"] for n, d in graph.nodes(data=True) if d["kind"] == "token"} == {
        K_MD5: "recipient-identifier", K_USER: "recipient-identifier",
        K_C1: "message-identifier", K_C2: "message-identifier"}


def test_message_level_adds_every_message(conn: sqlite3.Connection, messages: dict[int, str]) -> None:
    m = messages
    expected = TOKEN_EDGES | {(S, m[1]): "sent", (S, m[2]): "sent", (T, m[3]): "sent", (F, m[4]): "sent",
                              (S, m[5]): "sent"}
    expected |= {(m[i], A): "delivered_to" for i in range(1, 6)}
    expected |= {(m[1], H_SHOP): "requests", (m[2], H_SHOP): "requests", (m[2], H_AD): "requests",
                 (m[3], H_STORE): "requests", (m[3], H_AD): "requests"}
    expected |= {(m[1], K_MD5): "carries", (m[1], K_USER): "carries", (m[1], K_C1): "carries",
                 (m[2], K_MD5): "carries", (m[2], K_USER): "carries", (m[2], K_C2): "carries",
                 (m[3], K_MD5): "carries"}
    graph = build_graph(conn, GraphOptions(level="message"))
    assert relations(graph) == expected
    assert set(graph.nodes) == nodes_of(expected)
    assert graph.nodes[m[1]] == {"kind": "message", "label": "Mail from shop.example", "messages": 1,
                                 "date_utc": "2024-01-10T10:00:00Z", "subject": "Mail from shop.example"}
    assert graph.nodes[m[5]]["date_utc"] == ""


def test_edges_carry_counts_dates_and_evidence(conn: sqlite3.Connection, messages: dict[int, str]) -> None:
    graph = build_graph(conn, GraphOptions(level="host"))
    hashes = {i: messages[i].removeprefix("message:") for i in messages}
    # Messages 1 and 2: a pixel and a link each, each carrying Alice's MD5 (two leaks per message).
    assert graph.edges[S, MC] == {
        "relation": "uses", "count": 2, "senders": 1, "beacons": 2, "links": 2, "leaks": 4, "tokens": 0,
        "first_seen": "2024-01-10T10:00:00Z", "last_seen": "2024-02-12T08:30:00Z",
        "evidence": " ".join(sorted([hashes[1], hashes[2]])), "weight": 2.0, "id": graph.edges[S, MC]["id"]}
    # Three messages, one of them undated: the dates come from the two dated ones.
    assert graph.edges[S, A]["count"] == 3
    assert (graph.edges[S, A]["first_seen"], graph.edges[S, A]["last_seen"]) == (
        "2024-01-10T10:00:00Z", "2024-02-12T08:30:00Z")
    assert graph.edges[A, MC]["senders"] == 2 and graph.edges[A, MC]["count"] == 3
    assert graph.nodes[MC]["messages"] == 3 and graph.nodes[S]["messages"] == 3
    assert [d["id"] for _, _, d in graph.edges(data=True)] == [f"e{i}" for i in range(len(HOST_EDGES))]


def test_nodes_and_edges_are_in_sorted_order(conn: sqlite3.Connection) -> None:
    graph = build_graph(conn, GraphOptions(level="message"))
    assert list(graph.nodes) == sorted(graph.nodes)
    assert list(graph.edges) == sorted(graph.edges)


def test_evidence_is_capped_on_the_edge_and_complete_on_request(
        conn: sqlite3.Connection, messages: dict[int, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_module, "EVIDENCE_CAP", 1)
    graph = build_graph(conn, GraphOptions(level="provider"))
    hashes = sorted(messages[i].removeprefix("message:") for i in (1, 2, 3))
    assert graph.edges[A, MC]["count"] == 3
    assert graph.edges[A, MC]["evidence"] == hashes[0]
    rows = evidence_rows(conn, A, MC)
    assert sorted({r[0] for r in rows}) == hashes
    assert {r[3] for r in rows} == {"leak", "token"}
    with pytest.raises(KeyError):
        evidence_rows(conn, A, S)


def test_the_data_broker_view(conn: sqlite3.Connection) -> None:
    """Mailchimp and the ad network both get Alice's MD5 from shop and from store.

    The ad network has no provider rule: it is named by its registered domain, which for
    a host under the reserved ``.example`` (not a public suffix) is the host itself.
    """
    graph = build_graph(conn, GraphOptions(view="broker"))
    mc, ad = "third_party:Mailchimp", f"third_party:{ADNET}"
    assert relations(graph) == {(A, mc): "identified_to", (A, ad): "identified_to",
                                (S, mc): "passed_identifier", (S, ad): "passed_identifier",
                                (T, mc): "passed_identifier", (T, ad): "passed_identifier"}
    assert (graph.edges[A, mc]["senders"], graph.edges[A, mc]["count"]) == (2, 3)
    assert (graph.edges[A, ad]["senders"], graph.edges[A, ad]["count"]) == (2, 2)
    assert graph.nodes[ad]["kind"] == "third_party"


@pytest.mark.parametrize(("selection", "expected"), [
    (Selection(sender="store.example"), {(T, "domain:store.example"), (T, A), (T, MC), (A, MC)}),
    (Selection(sender=FRIEND), {(F, "domain:example.net"), (F, A)}),
    (Selection(since="2024-02", until="2024-02"), {(S, "domain:shop.example"), (T, "domain:store.example"),
                                                   (S, A), (T, A), (S, MC), (T, MC), (A, MC)}),
    (Selection(until="2024-01-10"), {(S, "domain:shop.example"), (S, A), (S, MC), (A, MC)}),
    (Selection(provider="mailchimp"), {(S, "domain:shop.example"), (T, "domain:store.example"),
                                       (S, A), (T, A), (S, MC), (T, MC), (A, MC)}),
])
def test_filters_select_the_evidence(conn: sqlite3.Connection, selection: Selection,
                                     expected: set[tuple[str, str]]) -> None:
    graph = build_graph(conn, GraphOptions(level="provider", selection=selection))
    assert set(graph.edges) == expected


def test_provider_filter_keeps_only_that_providers_findings(conn: sqlite3.Connection) -> None:
    graph = build_graph(conn, GraphOptions(level="host", selection=Selection(provider="Mailchimp")))
    assert H_AD not in graph
    assert graph.edges[S, A]["count"] == 2  # the undated plain-text message carries no Mailchimp finding


def test_min_count_drops_rare_edges_and_lonely_nodes(conn: sqlite3.Connection) -> None:
    graph = build_graph(conn, GraphOptions(level="host", min_count=2))
    assert relations(graph) == {(S, "domain:shop.example"): "in_domain", (S, A): "mailed", (S, MC): "uses",
                                (A, MC): "identified_to", (S, H_SHOP): "contacts", (H_SHOP, MC): "operated_by",
                                (A, H_SHOP): "identified_to_host", (A, H_AD): "identified_to_host"}
    assert F not in graph and T not in graph


def test_unknown_level_is_refused(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="unknown level"):
        build_graph(conn, GraphOptions(level="galaxy"))


def edge_map(graph: nx.DiGraph) -> dict[tuple[str, str], dict[str, object]]:
    return {(u, v): d for u, v, d in graph.edges(data=True)}


@pytest.mark.parametrize("level", ["provider", "message"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_read_back_as_an_equal_graph(conn: sqlite3.Connection, tmp_path: Path, level: str, fmt: str) -> None:
    graph = build_graph(conn, GraphOptions(level=level))
    (path,) = write_graph(graph, tmp_path, "g", [fmt])
    back = read_graph(path)
    assert back.is_directed()
    assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True))
    assert edge_map(back) == edge_map(graph)


def test_exports_are_byte_identical_run_after_run(conn: sqlite3.Connection, tmp_path: Path) -> None:
    first = write_graph(build_graph(conn, GraphOptions(level="message")), tmp_path / "a", "g")
    second = write_graph(build_graph(conn, GraphOptions(level="message")), tmp_path / "b", "g")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert b"lastmodifieddate" not in (tmp_path / "a" / "g.gexf").read_bytes()


def test_text_xml_cannot_carry_is_escaped_and_still_round_trips(tmp_path: Path) -> None:
    assert xml_safe("a\x00b\x1bc\rd\te\nf") == "a\\x00b\\x1bc\\x0dd\te\nf"
    graph = nx.DiGraph()
    graph.add_node("message:x", kind="message", label=xml_safe("Hi\x07 there\r\n"), messages=1)
    graph.add_node("sender:y", kind="sender", label="y", messages=1)
    graph.add_edge("sender:y", "message:x", relation="sent", count=1, id="e0")
    for path in write_graph(graph, tmp_path, "g"):
        back = read_graph(path)
        assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True)), path.suffix


@pytest.mark.parametrize(("text", "end", "bound"), [
    ("2024-02", False, "2024-02-01T00:00:00Z"), ("2024-02", True, "2024-02-29T23:59:59Z"),
    ("2024-12", True, "2024-12-31T23:59:59Z"), ("2024-03-01", True, "2024-03-01T23:59:59Z"),
    ("2024-03-01T10:00:00+02:00", False, "2024-03-01T08:00:00Z"),
])
def test_date_bounds(text: str, end: bool, bound: str) -> None:
    assert utc_bound(text, end=end) == bound


def test_a_bad_date_bound_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        utc_bound("2024-13", end=False)
