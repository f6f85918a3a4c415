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
from collections.abc import Callable, Iterable
from dataclasses import replace
from json.encoder import encode_basestring as _encode_string  # json's own (C) string encoder
from pathlib import Path
from typing import IO

# ElementTree's own escaping of text and attribute values (private, but the streamed text
# must be what ``tostring`` writes, on whatever Python's version of the rules).
from xml.etree.ElementTree import (  # type: ignore[attr-defined]
    Element,
    ElementTree,
    _escape_attrib,
    _escape_cdata,
    tostring,
)

import networkx as nx
from networkx.readwrite.gexf import GEXFWriter
from networkx.readwrite.graphml import GraphMLWriter

from forensics.correlate.graph import GraphOptions, GraphStream, stream_graph
from forensics.correlate.sources import release
from forensics.jsontext import float_text

FORMATS = ("graphml", "gexf", "json")
GRAPH_STEM = "graph"  # the tracking graph at the chosen level
BROKERS_STEM = "graph_brokers"  # the data-broker view
_HOLE = "forensics-stream-hole"  # placeholder element, replaced by the streamed elements


def parse_formats(text: str) -> tuple[str, ...]:
    """Graph formats from a comma-separated list (``"gexf,graphml"``; case and spaces do not
    matter), in ``FORMATS`` order whatever order they were given in (same choice, same files).

    Raises:
        ValueError: an unknown format, or none (``forensics graph`` exists to write one).
    """
    names = {n.strip().lower() for n in text.split(",") if n.strip()}
    unknown = sorted(names.difference(FORMATS))
    if unknown:
        raise ValueError(f"unknown graph format {unknown[0]!r}; one of {', '.join(FORMATS)}")
    if not names:
        raise ValueError(f"choose at least one graph format: {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in names)


def graph_stream(graph: nx.DiGraph) -> GraphStream:
    """An in-memory graph as a stream."""
    return GraphStream(attrs=dict(graph.graph), nodes=lambda: iter(graph.nodes(data=True)),
                       edges=lambda: iter(graph.edges(data=True)), directed=graph.is_directed())


# ----------------------------------------------------------------------------- plumbing

# Values a node or edge attribute is written from as text directly; any other type (a
# list, a numpy number...) makes that element go through networkx's writer classes.
_SIMPLE = frozenset({str, int, float, bool})
_FLUSH = 512  # elements buffered before a write (one call per element costs more than the text)


def _mapping(value: object) -> dict[str, object]:
    """A graph's ``node_default``/``edge_default`` attribute (networkx's writers read them)."""
    return dict(value) if isinstance(value, dict) else {}


def _xml_writer(path: Path) -> IO[str]:
    # What ElementTree.write(encoding="utf-8") writes through.
    return open(path, "w", encoding="utf-8", errors="xmlcharrefreplace", newline="\n")


def _indent_item(indent: Callable[[Element, int], None], element: Element, level: int) -> str:
    """One element as ElementTree writes it inside the document, without the white space after it."""
    indent(element, level)
    element.tail = None
    return tostring(element, encoding="unicode")


class _Body:
    """The streamed items of one container, in a temporary file until the document is assembled."""

    def __init__(self, folder: Path, separator: str) -> None:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".stream-", suffix=".part")
        os.close(handle)
        self.path = Path(name)
        self.handle = _xml_writer(self.path)
        self.separator = separator  # the text between two siblings
        self.count = 0
        self.pending: list[str] = []

    def add(self, text: str) -> None:
        if self.count:
            self.pending.append(self.separator)
        self.pending.append(text)
        self.count += 1
        if len(self.pending) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        self.handle.write("".join(self.pending))
        self.pending.clear()

    def close(self) -> None:
        if not self.handle.closed:
            self.flush()
            self.handle.close()

    def copy_to(self, out: IO[str]) -> None:
        self.close()
        with open(self.path, encoding="utf-8", newline="\n") as part:
            shutil.copyfileobj(part, out)

    def discard(self) -> None:
        self.handle.close()
        self.path.unlink(missing_ok=True)


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
            body.copy_to(out)
        out.write(skeleton)


class _File:
    """One export being written: each node, then each edge, then ``finish`` writes the file.

    Its parts wait in temporary files beside ``path`` (removed by ``discard``, which the
    writers call whatever happens)."""

    def __init__(self, path: Path, separators: tuple[str, ...]) -> None:
        self.path = path
        self.bodies = [_Body(path.parent, s) for s in separators]

    def node(self, node: object, attrs: dict[str, object]) -> None:
        raise NotImplementedError

    def edge(self, u: object, v: object, attrs: dict[str, object]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        for body in self.bodies:
            body.discard()


# ----------------------------------------------------------------------------- GraphML

class _GraphMLFile(_File):
    """``nx.write_graphml_xml(graph, path, encoding="utf-8", prettyprint=True, named_key_ids=True)``.

    The pure-Python writer's bytes, not lxml's: the same whether or not lxml is installed.
    A node or edge whose values are all str, int, float or bool is written as text here, as
    ElementTree would write networkx's elements (escaping by ElementTree's own functions;
    keys still declared by networkx's writer, in the order it meets them); any other is
    made into elements by networkx's writer and serialised by ElementTree.
    """

    def __init__(self, stream: GraphStream, path: Path) -> None:
        super().__init__(path, ("\n    ",))
        self.writer = GraphMLWriter(encoding="utf-8", prettyprint=True, named_key_ids=True)
        graph_attrs = dict(stream.attrs)
        graph_id = graph_attrs.pop("id", None)
        attrib = {"edgedefault": "directed" if stream.directed else "undirected"}
        if graph_id is not None:
            attrib["id"] = str(graph_id)
        self.graph_element = Element("graph", attrib)
        self.defaults = {scope: _mapping(graph_attrs.pop(f"{scope}_default", None)) for scope in ("node", "edge")}
        # Keys are declared in the order networkx meets them: the graph's, the nodes', the edges'.
        self.graph_data = [self.writer.add_data(str(k), type(v), str(v), "graph", None)
                           for k, v in graph_attrs.items()]
        self.keys: dict[tuple[str, type, str], str] = {}  # (name, type, scope) -> escaped key id

    def _key(self, k: str, v: object, scope: str) -> str:
        found = self.keys.get((k, type(v), scope))
        if found is None:
            data = self.writer.add_data(str(k), type(v), str(v), scope, self.defaults[scope].get(k))
            found = self.keys[(k, type(v), scope)] = _escape_attrib(data.get("key", ""))
        return found

    def _text(self, opening: str, tag: str, scope: str, attrs: dict[str, object]) -> str | None:
        """The element as text (level 2 of the document), or None when a value is not simple."""
        if not attrs:
            return opening + " />"
        parts = [opening, ">"]
        for k, v in attrs.items():
            if type(v) not in _SIMPLE:
                return None
            key, text = self._key(k, v, scope), str(v)
            parts.append(f'\n      <data key="{key}">{_escape_cdata(text)}</data>' if text
                         else f'\n      <data key="{key}" />')
        parts.append(f"\n    </{tag}>")
        return "".join(parts)

    def _element(self, tag: str, scope: str, attrs: dict[str, object], **xml: str) -> str:
        item = Element(tag, xml)
        for k, v in attrs.items():
            item.append(self.writer.add_data(str(k), type(v), str(v), scope, self.defaults[scope].get(k)))
        return _indent_item(self.writer.indent, item, 2)

    def node(self, node: object, attrs: dict[str, object]) -> None:
        name = str(node)
        text = self._text(f'<node id="{_escape_attrib(name)}"', "node", "node", attrs)
        self.bodies[0].add(text if text is not None else self._element("node", "node", attrs, id=name))

    def edge(self, u: object, v: object, attrs: dict[str, object]) -> None:
        source, target = str(u), str(v)
        text = self._text(f'<edge source="{_escape_attrib(source)}" target="{_escape_attrib(target)}"',
                          "edge", "edge", attrs)
        self.bodies[0].add(text if text is not None
                           else self._element("edge", "edge", attrs, source=source, target=target))

    def finish(self) -> None:
        self.graph_element.extend(self.graph_data)
        self.writer.xml.append(self.graph_element)
        _assemble(self.writer.xml, self.writer.indent, [(self.graph_element, self.bodies[0])], self.path)


# ----------------------------------------------------------------------------- GEXF

def _gexf_value(v: object) -> str:
    """An attribute value as ``GEXFWriter.add_attributes`` writes a static one."""
    if isinstance(v, bool):
        return "true" if v else "false"
    text = str(v)
    if type(v) is float:
        text = {"inf": "INF", "nan": "NaN", "-inf": "-INF"}.get(text, text)
    return text


class _GEXFFile(_File):
    """``GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")`` without the date.

    Node and edge attributes are plain values (no GEXF ``viz``, ``spells`` or ``parents``:
    ``graph.stream_graph`` makes none); node ids are the node names. An edge without an
    ``id`` is numbered as networkx numbers it, which needs every id of the graph in advance
    (``edge_ids``; ``stream_graph`` gives every edge one). As for GraphML, elements whose
    values are all simple are written as text, the others by networkx's writer.
    """

    def __init__(self, stream: GraphStream, path: Path, edge_ids: Iterable[str] = ()) -> None:
        super().__init__(path, ("\n      ", "\n      "))
        self.writer = writer = GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")
        writer.all_edge_ids.update(edge_ids)
        meta = writer.xml.find("meta")
        if meta is not None:
            meta.attrib.pop("lastmodifieddate", None)
        self.graph_element = Element("graph", defaultedgetype="directed" if stream.directed else "undirected",
                                     mode="static", name=str(stream.attrs.get("name", "")))
        writer.graph_element = self.graph_element  # add_attributes declares each new attribute there
        self.defaults = {"node": _mapping(stream.attrs.get("node_default")),
                         "edge": _mapping(stream.attrs.get("edge_default"))}
        self.ids: dict[tuple[object, str], str] = {}  # (name, scope) -> escaped attribute id

    def _attvalues(self, scope: str, data: dict[str, object]) -> str | None:
        """``add_attributes``'s element as text (level 4), or None when a value is not simple."""
        parts = ["\n        <attvalues>"]
        for k, v in data.items():
            if type(v) not in _SIMPLE:
                return None
            found = self.ids.get((k, scope))
            if found is None:
                title = "networkx_key" if k == "key" else str(k)
                attr_id = self.writer.get_attr_id(title, self.writer.xml_type[type(v)], scope,
                                                  self.defaults[scope], "static")
                found = self.ids[(k, scope)] = _escape_attrib(attr_id)
            parts.append(f'\n          <attvalue for="{found}" value="{_escape_attrib(_gexf_value(v))}" />')
        parts.append("\n        </attvalues>")
        return "".join(parts)

    def _text(self, scope: str, xml: dict[str, str], data: dict[str, object]) -> str | None:
        opening = f"<{scope} " + " ".join(f'{name}="{_escape_attrib(value)}"' for name, value in xml.items())
        if not data:
            return opening + " />"
        inner = self._attvalues(scope, data)
        return None if inner is None else f"{opening}>{inner}\n      </{scope}>"

    def _element(self, scope: str, xml: dict[str, str], data: dict[str, object]) -> str:
        item = Element(scope, xml)
        self.writer.add_attributes(scope, item, data, self.defaults[scope])
        return _indent_item(self.writer.indent, item, 3)

    def node(self, node: object, attrs: dict[str, object]) -> None:
        data = dict(attrs)
        xml = {"id": str(data.pop("id", node)), "label": str(data.pop("label", node))}
        text = self._text("node", xml, data)
        self.bodies[0].add(text if text is not None else self._element("node", xml, data))

    def edge(self, u: object, v: object, attrs: dict[str, object]) -> None:
        writer, data = self.writer, dict(attrs)
        edge_id = data.pop("id", None)
        if edge_id is None:  # networkx's numbering, skipping the ids edges already have
            edge_id = next(writer.edge_id)
            while str(edge_id) in writer.all_edge_ids:
                edge_id = next(writer.edge_id)
            writer.all_edge_ids.add(str(edge_id))
        xml = {"source": str(u), "target": str(v), "id": str(edge_id)}
        for name in ("label", "weight", "type"):
            if name in data:
                xml[name] = str(data.pop(name))
        text = self._text("edge", xml, data)
        self.bodies[1].add(text if text is not None else self._element("edge", xml, data))

    def finish(self) -> None:
        nodes_element, edges_element = Element("nodes"), Element("edges")
        self.graph_element.extend([nodes_element, edges_element])
        self.writer.xml.append(self.graph_element)
        _assemble(self.writer.xml, self.writer.indent,
                  [(nodes_element, self.bodies[0]), (edges_element, self.bodies[1])], self.path)


# ----------------------------------------------------------------------------- JSON

def _json(value: object, depth: int) -> str:
    """``value`` as ``json.dumps(document, indent=1, sort_keys=True)`` writes it ``depth`` levels down."""
    text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)
    return text.replace("\n", "\n" + " " * depth)


def _json_scalar(v: object) -> str | None:
    """A value as json's encoder writes it (ensure_ascii=False), or None for a container or other type."""
    if type(v) is str:
        return _encode_string(v)
    if v is None or type(v) is bool:
        return "null" if v is None else "true" if v else "false"
    if type(v) is int:
        return int.__repr__(v)
    if type(v) is float:
        return float_text(v)
    return None


def _json_item(item: dict[str, object]) -> str:
    """A flat object at depth 2 as ``_json(item, 2)`` writes it (its own text without the
    pure-Python indenting encoder, which json uses whenever ``indent`` is given)."""
    if not item:
        return "{}"
    parts = []
    for k, v in sorted(item.items()) if all(type(k) is str for k in item) else ():
        text = _json_scalar(v)
        if text is None:
            break
        parts.append(f"{_encode_string(k)}: {text}")
    else:
        if parts:
            return "{\n   " + ",\n   ".join(parts) + "\n  }"
    return _json(item, 2)


class _JSONFile(_File):
    """``json.dumps(nx.node_link_data(graph, edges="edges"), ensure_ascii=False, indent=1,
    sort_keys=True)`` and a newline: the keys in sorted order, so the edges before the nodes."""

    def __init__(self, stream: GraphStream, path: Path) -> None:
        super().__init__(path, (",\n  ", ",\n  "))
        self.stream = stream

    def node(self, node: object, attrs: dict[str, object]) -> None:
        self.bodies[1].add(_json_item({**attrs, "id": node}))

    def edge(self, u: object, v: object, attrs: dict[str, object]) -> None:
        self.bodies[0].add(_json_item({**attrs, "source": u, "target": v}))

    def _list(self, out: IO[str], body: _Body) -> None:
        if not body.count:
            out.write("[]")
            return
        out.write("[\n  ")
        body.copy_to(out)
        out.write("\n ]")

    def finish(self) -> None:
        edges, nodes = self.bodies
        with open(self.path, "w", encoding="utf-8", newline="\n") as out:
            out.write(f'{{\n "directed": {json.dumps(self.stream.directed)},\n "edges": ')
            self._list(out, edges)
            out.write(f',\n "graph": {_json(self.stream.attrs, 1)},\n "multigraph": false,\n "nodes": ')
            self._list(out, nodes)
            out.write("\n}\n")


# ----------------------------------------------------------------------------- one pass, every format

def _open(fmt: str, stream: GraphStream, path: Path, edge_ids: Iterable[str]) -> _File:
    if fmt == "graphml":
        return _GraphMLFile(stream, path)
    if fmt == "gexf":
        return _GEXFFile(stream, path, edge_ids)
    if fmt == "json":
        return _JSONFile(stream, path)
    raise ValueError(f"unknown graph format {fmt!r}; one of {', '.join(FORMATS)}")


def _write_formats(stream: GraphStream, paths: dict[str, Path], edge_ids: Iterable[str] = ()) -> list[Path]:
    """Every format from one pass over the nodes and one over the edges."""
    ids = list(edge_ids)
    files: list[_File] = []
    try:
        for fmt, path in paths.items():
            files.append(_open(fmt, stream, path, ids))
        for node, attrs in stream.nodes():
            for file in files:
                file.node(node, attrs)
        for u, v, attrs in stream.edges():
            for file in files:
                file.edge(u, v, attrs)
        for file in files:
            file.finish()
    finally:
        for file in files:
            file.discard()
    return list(paths.values())


def write_graphml_stream(stream: GraphStream, path: Path) -> Path:
    """``nx.write_graphml_xml(graph, path, encoding="utf-8", prettyprint=True, named_key_ids=True)``."""
    return _write_formats(stream, {"graphml": path})[0]


def write_gexf_stream(stream: GraphStream, path: Path, edge_ids: Iterable[str] = ()) -> Path:
    """``GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")`` without the date."""
    return _write_formats(stream, {"gexf": path}, edge_ids)[0]


def write_json_stream(stream: GraphStream, path: Path) -> Path:
    """``json.dumps(nx.node_link_data(graph, edges="edges"), ensure_ascii=False, indent=1, sort_keys=True)``."""
    return _write_formats(stream, {"json": path})[0]


STREAM_WRITERS: dict[str, Callable[[GraphStream, Path], Path]] = {
    "graphml": write_graphml_stream, "gexf": write_gexf_stream, "json": write_json_stream,
}


def write_graphml(graph: nx.DiGraph, path: Path) -> Path:
    return write_graphml_stream(graph_stream(graph), path)


def _edge_ids(graph: nx.DiGraph) -> set[str]:
    return {str(d["id"]) for _, _, d in graph.edges(data=True) if d.get("id") is not None}


def write_gexf(graph: nx.DiGraph, path: Path) -> Path:
    return write_gexf_stream(graph_stream(graph), path, _edge_ids(graph))


def node_link(graph: nx.DiGraph) -> dict[str, object]:
    return dict(nx.node_link_data(graph, edges="edges"))


def write_json(graph: nx.DiGraph, path: Path) -> Path:
    return write_json_stream(graph_stream(graph), path)


def write_stream(stream: GraphStream, folder: Path, stem: str, formats: Iterable[str] = FORMATS) -> list[Path]:
    """``folder/stem.graphml``, ``.gexf`` and ``.json`` from a stream (one pass over it for all
    formats); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    return _write_formats(stream, {fmt: folder / f"{stem}.{fmt}" for fmt in formats})


WRITERS: dict[str, Callable[[nx.DiGraph, Path], Path]] = {
    "graphml": write_graphml, "gexf": write_gexf, "json": write_json,
}


def write_graph(graph: nx.DiGraph, folder: Path, stem: str, formats: Iterable[str] = FORMATS) -> list[Path]:
    """``folder/stem.graphml``, ``.gexf`` and ``.json``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"{stem}.{fmt}" for fmt in formats}
    return _write_formats(graph_stream(graph), paths, _edge_ids(graph) if "gexf" in paths else ())


def read_graph(path: Path) -> nx.DiGraph:
    """Read an export back (for tests and notebooks), whatever its format."""
    if path.suffix == ".graphml":
        return nx.read_graphml(path)
    if path.suffix == ".gexf":
        return nx.read_gexf(path)
    return nx.node_link_graph(json.loads(path.read_text(encoding="utf-8")), edges="edges")


def write_graphs(conn: sqlite3.Connection, folder: Path, options: GraphOptions = GraphOptions(),
                 formats: Iterable[str] = FORMATS) -> list[Path]:
    """The tracking graph (``graph.*``) and the data-broker view (``graph_brokers.*``) of a case,
    each in ``formats`` (none: nothing is built).

    Both use the options' selection and minimum count; the broker view has no levels. The
    graphs are streamed from temporary tables: memory does not grow with the graph.
    """
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:  # said before the graphs are built, not after the first one is written
        raise ValueError(f"unknown graph format {unknown[0]!r}; one of {', '.join(FORMATS)}")
    written: list[Path] = []
    if not formats:
        return written
    try:
        for stem, view in ((GRAPH_STEM, "tracking"), (BROKERS_STEM, "broker")):
            # One selection for both views: its evidence tables are prepared once.
            stream = stream_graph(conn, replace(options, view=view), prepared=view != "tracking")
            written += write_stream(stream, folder, stem, formats)
    finally:
        release(conn)
    return written
