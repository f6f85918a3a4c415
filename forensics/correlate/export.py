"""Stage 4 (correlation): the graph written as GraphML, GEXF (Gephi opens both) and node-link JSON.

The files are those networkx's writers make (``write_graphml_xml`` with named keys,
``GEXFWriter`` 1.2draft, ``node_link_data`` dumped with sorted keys), byte for byte, but
written from streams of nodes and edges (``graph.GraphStream``) instead of a graph and a
whole XML tree held in memory: networkx's writers build an element per node, edge and
attribute value before writing the first byte (hundreds of MB on a large case). Each
node and edge is made into elements by networkx's own writer classes and serialised by
ElementTree on its own, so escaping, attribute order and indentation stay theirs; the
document around them (declarations of keys and attributes, which are only known once
every element has been seen) is written by ElementTree too, around a placeholder that
the streamed body replaces. ``tests/test_graph_stream.py`` compares the bytes with
networkx's writers.

Byte-stable output: the graph is streamed in sorted order with attributes of simple
types only (``graph.stream_graph``), GraphML keys are named after the attributes, and the
GEXF header's ``lastmodifieddate`` (today's date, which networkx writes) is removed: a
data file holds no wall-clock time.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ElementTree, tostring

import networkx as nx
from networkx.readwrite.gexf import GEXFWriter
from networkx.readwrite.graphml import GraphMLWriter

from forensics.correlate.graph import GraphOptions, GraphStream, stream_graph
from forensics.correlate.sources import release

FORMATS = ("graphml", "gexf", "json")
GRAPH_STEM = "graph"  # the tracking graph at the chosen level
BROKERS_STEM = "graph_brokers"  # the data-broker view
_HOLE = "forensics-stream-hole"  # placeholder element, replaced by the streamed elements


def graph_stream(graph: nx.DiGraph) -> GraphStream:
    """An in-memory graph as a stream."""
    return GraphStream(attrs=dict(graph.graph), nodes=lambda: iter(graph.nodes(data=True)),
                       edges=lambda: iter(graph.edges(data=True)), directed=graph.is_directed())


# ----------------------------------------------------------------------------- XML plumbing

def _mapping(value: object) -> dict[str, object]:
    """A graph's ``node_default``/``edge_default`` attribute (networkx's writers read them)."""
    return dict(value) if isinstance(value, dict) else {}


def _xml_writer(path: Path) -> IO[str]:
    # What ElementTree.write(encoding="utf-8") writes through.
    return open(path, "w", encoding="utf-8", errors="xmlcharrefreplace", newline="\n")


def _indent_item(indent: Callable[[Element, int], None], element: Element, level: int) -> str:
    """One streamed element as it appears inside the document, without the white space after it."""
    indent(element, level)
    element.tail = None
    return tostring(element, encoding="unicode")


class _Body:
    """The streamed elements of one container, in a temporary file until the document is assembled."""

    def __init__(self, folder: Path, separator: str) -> None:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".stream-", suffix=".part")
        os.close(handle)
        self.path = Path(name)
        self.handle = _xml_writer(self.path)
        self.separator = separator  # the indentation between two siblings
        self.count = 0

    def add(self, text: str) -> None:
        self.handle.write(text if not self.count else self.separator + text)
        self.count += 1

    def close(self) -> None:
        self.handle.close()


@contextmanager
def _bodies(folder: Path, *separators: str) -> Iterator[list[_Body]]:
    bodies = [_Body(folder, s) for s in separators]
    try:
        yield bodies
    finally:
        for body in bodies:
            body.handle.close()
            body.path.unlink(missing_ok=True)


def _assemble(root: Element, indent: Callable[[Element, int], None], holes: list[tuple[Element, _Body]],
              path: Path) -> None:
    """Write the document with each non-empty body where its placeholder is (an empty container
    has no placeholder, so it is written as the empty element networkx writes)."""
    for container, body in holes:
        if body.count:
            container.insert(0, Element(_HOLE))
    indent(root, 0)
    buffer = io.BytesIO()
    ElementTree(root).write(buffer, encoding="utf-8", xml_declaration=True)
    skeleton = buffer.getvalue().decode("utf-8")
    with _xml_writer(path) as out:
        for _, body in holes:
            if not body.count:
                continue
            before, skeleton = skeleton.split(f"<{_HOLE} />", 1)
            out.write(before)
            body.close()
            with open(body.path, encoding="utf-8", newline="\n") as part:
                shutil.copyfileobj(part, out)
        out.write(skeleton)


# ----------------------------------------------------------------------------- GraphML

def write_graphml_stream(stream: GraphStream, path: Path) -> Path:
    """``nx.write_graphml_xml(graph, path, encoding="utf-8", prettyprint=True, named_key_ids=True)``.

    The pure-Python writer's bytes, not lxml's: the same whether or not lxml is installed.
    """
    writer = GraphMLWriter(encoding="utf-8", prettyprint=True, named_key_ids=True)
    graph_attrs = dict(stream.attrs)
    graph_id = graph_attrs.pop("id", None)
    attrib = {"edgedefault": "directed" if stream.directed else "undirected"}
    if graph_id is not None:
        attrib["id"] = str(graph_id)
    graph_element = Element("graph", attrib)
    defaults = {scope: _mapping(graph_attrs.pop(f"{scope}_default", None)) for scope in ("node", "edge")}
    # Keys are declared in the order networkx meets them: the graph's, the nodes', the edges'.
    graph_data = [writer.add_data(str(k), type(v), str(v), "graph", None) for k, v in graph_attrs.items()]

    def element(tag: str, scope: str, attrs: dict[str, object], **xml: str) -> str:
        item = Element(tag, xml)
        for k, v in attrs.items():
            item.append(writer.add_data(str(k), type(v), str(v), scope, defaults[scope].get(k)))
        return _indent_item(writer.indent, item, 2)

    with _bodies(path.parent, "\n    ") as (body,):
        for node, attrs in stream.nodes():
            body.add(element("node", "node", attrs, id=str(node)))
        for u, v, attrs in stream.edges():
            body.add(element("edge", "edge", attrs, source=str(u), target=str(v)))
        graph_element.extend(graph_data)
        writer.xml.append(graph_element)
        _assemble(writer.xml, writer.indent, [(graph_element, body)], path)
    return path


# ----------------------------------------------------------------------------- GEXF

def _gexf_node(writer: GEXFWriter, node: object, attrs: dict[str, object], default: dict[str, object]) -> Element:
    data = dict(attrs)
    item = Element("node", id=str(data.pop("id", node)), label=str(data.pop("label", node)))
    writer.add_attributes("node", item, data, default)
    return item


def _gexf_edge(writer: GEXFWriter, u: object, v: object, attrs: dict[str, object],
               default: dict[str, object]) -> Element:
    data = dict(attrs)
    edge_id = data.pop("id", None)
    if edge_id is None:  # networkx's numbering, skipping the ids edges already have
        edge_id = next(writer.edge_id)
        while str(edge_id) in writer.all_edge_ids:
            edge_id = next(writer.edge_id)
        writer.all_edge_ids.add(str(edge_id))
    xml = {"id": str(edge_id)}
    for name in ("label", "weight", "type"):
        if name in data:
            xml[name] = str(data.pop(name))
    item = Element("edge", {"source": str(u), "target": str(v), **xml})
    writer.add_attributes("edge", item, data, default)
    return item


def write_gexf_stream(stream: GraphStream, path: Path, edge_ids: Iterable[str] = ()) -> Path:
    """``GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")`` without the date.

    Node and edge attributes are plain values (no GEXF ``viz``, ``spells`` or ``parents``:
    ``graph.stream_graph`` makes none); node ids are the node names. An edge without an
    ``id`` is numbered as networkx numbers it, which needs every id of the graph in advance
    (``edge_ids``; ``stream_graph`` gives every edge one).
    """
    writer = GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")
    writer.all_edge_ids.update(edge_ids)
    meta = writer.xml.find("meta")
    if meta is not None:
        meta.attrib.pop("lastmodifieddate", None)
    graph_element = Element("graph", defaultedgetype="directed" if stream.directed else "undirected",
                            mode="static", name=str(stream.attrs.get("name", "")))
    writer.graph_element = graph_element  # add_attributes declares each new attribute there
    node_default, edge_default = _mapping(stream.attrs.get("node_default")), _mapping(stream.attrs.get("edge_default"))
    nodes_element, edges_element = Element("nodes"), Element("edges")
    with _bodies(path.parent, "\n      ", "\n      ") as (nodes, edges):
        for node, attrs in stream.nodes():
            nodes.add(_indent_item(writer.indent, _gexf_node(writer, node, attrs, node_default), 3))
        for u, v, attrs in stream.edges():
            edges.add(_indent_item(writer.indent, _gexf_edge(writer, u, v, attrs, edge_default), 3))
        graph_element.extend([nodes_element, edges_element])
        writer.xml.append(graph_element)
        _assemble(writer.xml, writer.indent, [(nodes_element, nodes), (edges_element, edges)], path)
    return path


# ----------------------------------------------------------------------------- JSON

def _json(value: object, depth: int) -> str:
    """``value`` as ``json.dumps(document, indent=1, sort_keys=True)`` writes it ``depth`` levels down."""
    text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return text.replace("\n", "\n" + " " * depth)


def _json_list(out: IO[str], items: Iterable[dict[str, object]]) -> None:
    count = 0
    for item in items:
        out.write(("[\n  " if not count else ",\n  ") + _json(item, 2))
        count += 1
    out.write("\n ]" if count else "[]")


def write_json_stream(stream: GraphStream, path: Path) -> Path:
    """``json.dumps(nx.node_link_data(graph, edges="edges"), ensure_ascii=False, indent=1,
    sort_keys=True)`` and a newline: the keys in sorted order, so the edges before the nodes."""
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(f'{{\n "directed": {json.dumps(stream.directed)},\n "edges": ')
        _json_list(out, ({**attrs, "source": u, "target": v} for u, v, attrs in stream.edges()))
        out.write(f',\n "graph": {_json(stream.attrs, 1)},\n "multigraph": false,\n "nodes": ')
        _json_list(out, ({**attrs, "id": node} for node, attrs in stream.nodes()))
        out.write("\n}\n")
    return path


STREAM_WRITERS: dict[str, Callable[[GraphStream, Path], Path]] = {
    "graphml": write_graphml_stream, "gexf": write_gexf_stream, "json": write_json_stream,
}


def write_graphml(graph: nx.DiGraph, path: Path) -> Path:
    return write_graphml_stream(graph_stream(graph), path)


def write_gexf(graph: nx.DiGraph, path: Path) -> Path:
    ids = {str(d["id"]) for _, _, d in graph.edges(data=True) if d.get("id") is not None}
    return write_gexf_stream(graph_stream(graph), path, ids)


def node_link(graph: nx.DiGraph) -> dict[str, object]:
    return dict(nx.node_link_data(graph, edges="edges"))


def write_json(graph: nx.DiGraph, path: Path) -> Path:
    return write_json_stream(graph_stream(graph), path)


def write_stream(stream: GraphStream, folder: Path, stem: str, formats: Iterable[str] = FORMATS) -> list[Path]:
    """``folder/stem.graphml``, ``.gexf`` and ``.json`` from a stream; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    return [STREAM_WRITERS[fmt](stream, folder / f"{stem}.{fmt}") for fmt in formats]


WRITERS: dict[str, Callable[[nx.DiGraph, Path], Path]] = {
    "graphml": write_graphml, "gexf": write_gexf, "json": write_json,
}


def write_graph(graph: nx.DiGraph, folder: Path, stem: str, formats: Iterable[str] = FORMATS) -> list[Path]:
    """``folder/stem.graphml``, ``.gexf`` and ``.json``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    return [WRITERS[fmt](graph, folder / f"{stem}.{fmt}") for fmt in formats]


def read_graph(path: Path) -> nx.DiGraph:
    """Read an export back (for tests and notebooks), whatever its format."""
    if path.suffix == ".graphml":
        return nx.read_graphml(path)
    if path.suffix == ".gexf":
        return nx.read_gexf(path)
    return nx.node_link_graph(json.loads(path.read_text(encoding="utf-8")), edges="edges")


def write_graphs(conn: sqlite3.Connection, folder: Path, options: GraphOptions = GraphOptions()) -> list[Path]:
    """The tracking graph (``graph.*``) and the data-broker view (``graph_brokers.*``) of a case.

    Both use the options' selection and minimum count; the broker view has no levels. The
    graphs are streamed from temporary tables: memory does not grow with the graph.
    """
    written: list[Path] = []
    try:
        for stem, view in ((GRAPH_STEM, "tracking"), (BROKERS_STEM, "broker")):
            # One selection for both views: its evidence tables are prepared once.
            stream = stream_graph(conn, replace(options, view=view), prepared=view != "tracking")
            written += write_stream(stream, folder, stem)
    finally:
        release(conn)
    return written
