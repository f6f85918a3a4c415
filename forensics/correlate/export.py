"""Stage 4 (correlation): the graph written as GraphML, GEXF (Gephi opens both) and node-link JSON.

The writers are networkx's; what this module adds is byte-stable output. The graph is
built in sorted order with attributes of simple types only (``graph.build_graph``), GraphML
keys are named after the attributes, and the GEXF header's ``lastmodifieddate`` (today's
date, which networkx writes) is removed: a data file holds no wall-clock time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import networkx as nx
from networkx.readwrite.gexf import GEXFWriter

from forensics.correlate.graph import GraphOptions, build_graph
from forensics.correlate.sources import release

FORMATS = ("graphml", "gexf", "json")
GRAPH_STEM = "graph"  # the tracking graph at the chosen level
BROKERS_STEM = "graph_brokers"  # the data-broker view


def write_graphml(graph: nx.DiGraph, path: Path) -> Path:
    # The pure-Python writer, not lxml's: same bytes whether or not lxml is installed.
    nx.write_graphml_xml(graph, path, encoding="utf-8", prettyprint=True, named_key_ids=True)
    return path


def write_gexf(graph: nx.DiGraph, path: Path) -> Path:
    writer = GEXFWriter(encoding="utf-8", prettyprint=True, version="1.2draft")
    meta = writer.xml.find("meta")
    if meta is not None:
        meta.attrib.pop("lastmodifieddate", None)
    writer.add_graph(graph)
    with open(path, "wb") as handle:
        writer.write(handle)
    return path


def node_link(graph: nx.DiGraph) -> dict[str, object]:
    return nx.node_link_data(graph, edges="edges")


def write_json(graph: nx.DiGraph, path: Path) -> Path:
    text = json.dumps(node_link(graph), ensure_ascii=False, indent=1, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8", newline="\n")
    return path


WRITERS = {"graphml": write_graphml, "gexf": write_gexf, "json": write_json}


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

    Both use the options' selection and minimum count; the broker view has no levels.
    """
    written: list[Path] = []
    try:
        for stem, view in ((GRAPH_STEM, "tracking"), (BROKERS_STEM, "broker")):
            graph = build_graph(conn, replace(options, view=view))
            written += write_graph(graph, folder, stem)
    finally:
        release(conn)
    return written
