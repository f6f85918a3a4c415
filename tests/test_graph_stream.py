"""Streamed graph exports are networkx's files, byte for byte, and the streamed graph is the
graph ``build_graph`` always built: nodes, edges, attributes and order."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest
from networkx.readwrite.gexf import GEXFWriter
from test_correlate_support import scan_fixture

from forensics.correlate import graph as graph_module
from forensics.correlate.export import FORMATS, read_graph, write_graph, write_graphs
from forensics.correlate.graph import GraphOptions, build_graph
from forensics.correlate.sources import prepare, release
from forensics.correlate.xmlsafe import xml_safe


# The writers as they were before streaming (networkx's, whole graph in memory): the reference.
def nx_graphml(graph: nx.DiGraph, path: Path) -> bytes:
    nx.write_graphml_xml(graph, path, encoding="utf-8", prettyprint=True, named_key_ids=True)
    return path.read_bytes()


def nx_gexf(graph: nx.DiGraph, path: Path) -> bytes:
    writer = GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")
    meta = writer.xml.find("meta")
    assert meta is not None
    meta.attrib.pop("lastmodifieddate", None)
    writer.add_graph(graph)
    with open(path, "wb") as handle:
        writer.write(handle)
    return path.read_bytes()


def nx_json(graph: nx.DiGraph, path: Path) -> bytes:
    text = json.dumps(nx.node_link_data(graph, edges="edges"), ensure_ascii=False, indent=1, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8", newline="\n")
    return path.read_bytes()


REFERENCE = {"graphml": nx_graphml, "gexf": nx_gexf, "json": nx_json}


def old_build_graph(conn: sqlite3.Connection, options: GraphOptions) -> nx.DiGraph:
    """``build_graph`` before streaming: every edge and node gathered in dicts, then sorted."""
    relations = options.relations()
    prepare(conn, options.selection)
    edges: dict[tuple[str, str], dict[str, object]] = {}
    for relation in relations:
        for row in conn.execute(graph_module.EDGE_SQL.format(pairs=relation.sql),
                                (graph_module.EVIDENCE_CAP, options.min_count)):
            edges[(xml_safe(row[0]), xml_safe(row[1]))] = graph_module.edge_attrs(relation, row)
    nodes = {n for pair in edges for n in pair}
    kinds = {r.source for r in relations} | {r.target for r in relations}
    counts = {xml_safe(n): c for n, c in conn.execute(graph_module.node_sql(kinds))}
    extras: dict[str, dict[str, object]] = {}
    for m, d, subject in conn.execute(
            "SELECT c.m, c.d, x.subject FROM cg_messages c JOIN messages x ON x.message_sha256 = c.m"):
        if f"message:{m}" in nodes:
            extras[f"message:{m}"] = {"date_utc": d or "", "subject": subject or ""}
    for value, role in conn.execute("SELECT DISTINCT value, role FROM cg_tokens"):
        if f"token:{value}" in nodes:
            extras[f"token:{value}"] = {"role": role}
    graph = nx.DiGraph(view=options.view, level=options.level if options.view != "broker" else "broker")
    for node in sorted(nodes):
        graph.add_node(node, **graph_module._node_attrs(node, counts.get(node, 0), extras.get(node, {})))
    for i, (u, v) in enumerate(sorted(edges)):
        graph.add_edge(u, v, **edges[(u, v)], id=f"e{i}")
    return graph


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scan_fixture(tmp_path_factory.mktemp("graph-stream"))


@pytest.fixture
def conn(case: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"{(case / 'case.sqlite').as_uri()}?mode=ro", uri=True)
    yield connection
    release(connection)
    connection.close()


OPTIONS = [GraphOptions(level=level) for level in ("provider", "host", "token", "message")] + [
    GraphOptions(view="broker"), GraphOptions(level="host", min_count=2)]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"{o.view}-{o.level}-{o.min_count}")
def test_the_streamed_graph_is_the_graph_built_in_memory(conn: sqlite3.Connection, options: GraphOptions) -> None:
    old, new = old_build_graph(conn, options), build_graph(conn, options)
    assert list(new.nodes(data=True)) == list(old.nodes(data=True))
    assert list(new.edges(data=True)) == list(old.edges(data=True))
    assert new.graph == old.graph and new.number_of_edges() > 0


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"{o.view}-{o.level}-{o.min_count}")
@pytest.mark.parametrize("fmt", FORMATS)
def test_streamed_exports_are_networkx_files_byte_for_byte(conn: sqlite3.Connection, tmp_path: Path,
                                                           options: GraphOptions, fmt: str) -> None:
    graph = build_graph(conn, options)
    (streamed,) = write_graph(graph, tmp_path / "stream", "g", [fmt])
    assert streamed.read_bytes() == REFERENCE[fmt](graph, tmp_path / f"reference.{fmt}")
    assert list((tmp_path / "stream").iterdir()) == [streamed]  # no part file left behind


def test_the_report_graphs_equal_the_in_memory_ones(conn: sqlite3.Connection, tmp_path: Path) -> None:
    written = write_graphs(conn, tmp_path)
    assert conn.execute("SELECT COUNT(*) FROM temp.sqlite_master").fetchone()[0] == 0  # temp tables released
    assert [p.name for p in written] == [f"{stem}.{fmt}" for stem in ("graph", "graph_brokers") for fmt in FORMATS]
    for path in written:
        view = "broker" if path.stem == "graph_brokers" else "tracking"
        graph = old_build_graph(conn, GraphOptions(view=view))
        assert path.read_bytes() == REFERENCE[path.suffix[1:]](graph, tmp_path / f"reference{path.suffix}")


def tricky_graph() -> nx.DiGraph:
    """Empty containers' neighbours, markup, non-ASCII, a node without attributes, mixed types."""
    graph = nx.DiGraph(view="tracking", name="g<&>")
    graph.add_node("sender:a&b <x@y.example>", kind="sender", label='"quoted" & <tagged>', messages=3)
    graph.add_node("recipient:zoë@exämple.org", kind="recipient", label="zoë\tüñí\ncode", messages=1)
    graph.add_node("bare")
    graph.add_node("message:ab", kind="message", label="Hi", messages=1, date_utc="", subject="Hi", flag=True)
    graph.add_edge("sender:a&b <x@y.example>", "recipient:zoë@exämple.org", relation="mailed", count=2,
                   weight=2.0, id="e0")
    graph.add_edge("bare", "message:ab", relation="sent", count=1, weight=0.5, first_seen="")
    graph.add_edge("message:ab", "bare", id=0)  # an explicit id the numbering must skip
    return graph


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", ["tricky", "edgeless", "empty", "no-graph-attributes"])
def test_any_simple_graph_streams_to_networkx_bytes(tmp_path: Path, fmt: str, shape: str) -> None:
    graph = tricky_graph()
    if shape == "edgeless":
        graph.remove_edges_from(list(graph.edges))
    elif shape == "empty":
        graph = nx.DiGraph(view="tracking", level="host")
    elif shape == "no-graph-attributes":
        graph.graph.clear()
    (streamed,) = write_graph(graph, tmp_path / "stream", "g", [fmt])
    assert streamed.read_bytes() == REFERENCE[fmt](graph, tmp_path / f"reference.{fmt}")


def test_streamed_exports_read_back_as_the_graph(conn: sqlite3.Connection, tmp_path: Path) -> None:
    graph = build_graph(conn, GraphOptions(level="message"))
    for path in write_graph(graph, tmp_path, "g"):
        back = read_graph(path)
        assert dict(back.nodes(data=True)) == dict(graph.nodes(data=True)), path.suffix
        assert {(u, v): d for u, v, d in back.edges(data=True)} == {
            (u, v): d for u, v, d in graph.edges(data=True)}, path.suffix


HOSTILE = [
    "<script>alert('x')</script>", 'a "quoted" & <tagged> \'single\'', "]]><!-- -->", "&amp; &#10; &lt;",
    "tab\there", "new\nline", "cr\rreturn", "crlf\r\n", " leading and trailing ", "", " ", "\n",
    "\x00nul\x01\x07\x0b\x0c\x1b\x1f", "\x7f\x80\x9f", "zoë üñí 日本語 עברית", "emoji 😀🏳️‍🌈", "\u2028\u2029\ufeff",
    "\ufffe\uffff", "{x}", "%s %% %(k)s", "\\ back\\slash \"\\\"", "e0", "0", "-1", "1e5", "NaN", "null",
]


def hostile_graph(strings: list[str]) -> nx.DiGraph:
    """Every hostile string as a node name, a label, a key and a value of each simple type's neighbour."""
    graph = nx.DiGraph(view="tracking", level="host")
    for i, text in enumerate(strings):
        graph.add_node(f"n{i}:{text}", kind=text, label=text, messages=i, share=i / 7, flag=bool(i % 2),
                       **{f"k{i}{text}": text})
    nodes = list(graph.nodes)
    for i, (u, v) in enumerate(zip(nodes, nodes[1:] + nodes[:1])):
        graph.add_edge(u, v, relation=strings[i], count=i, weight=float(i) + 0.5, evidence=strings[-1 - i],
                       first_seen=strings[i][:3], id=f"e{i}")
    graph.add_edge(nodes[0], nodes[2], weight=float("inf"), count=-3, score=float("nan"), low=float("-inf"))
    return graph


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_text_streams_to_networkx_bytes(tmp_path: Path, fmt: str) -> None:
    # Markup, quotes, entities, white space of every kind, control characters (which XML 1.0
    # cannot carry: both writers write them as they are), non-ASCII, format specifiers.
    graph = hostile_graph(HOSTILE)
    (streamed,) = write_graph(graph, tmp_path / "stream", "g", [fmt])
    assert streamed.read_bytes() == REFERENCE[fmt](graph, tmp_path / f"reference.{fmt}")


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_lone_surrogates_become_character_references_as_networkx_writes_them(tmp_path: Path, fmt: str) -> None:
    # xml_safe keeps them out of the case's graphs; a graph made by hand may still hold them.
    graph = hostile_graph(["\ud800 high", "low \udfff", "\udbff\udc00"])
    (streamed,) = write_graph(graph, tmp_path / "stream", "g", [fmt])
    assert b"&#55296;" in streamed.read_bytes()
    assert streamed.read_bytes() == REFERENCE[fmt](graph, tmp_path / f"reference.{fmt}")


def test_values_of_other_types_go_through_networkx_writer_classes(tmp_path: Path) -> None:
    # A numpy number is not written as text by the fast path: the element is networkx's own.
    import numpy as np

    graph = tricky_graph()
    graph.add_node("numpy", kind="x", messages=np.int64(4), share=np.float64(0.25))
    graph.add_edge("numpy", "bare", count=np.int64(2), id="e9")
    for fmt in ("graphml", "gexf"):
        (streamed,) = write_graph(graph, tmp_path / "stream", "g", [fmt])
        assert streamed.read_bytes() == REFERENCE[fmt](graph, tmp_path / f"reference.{fmt}")
