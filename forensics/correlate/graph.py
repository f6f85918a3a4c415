"""Stage 4 (correlation): the case as a graph of who sent what to whom, and who received it.

Every edge is an aggregate computed in SQL (``EDGE_SQL``) over the ``cg_*`` tables of
``sources``: the findings are grouped per message first, then per edge, so Python only
ever sees one row per edge, whatever the number of findings.

Nodes are named ``kind:value``: ``sender:news@shop.example``, ``domain:shop.example``,
``recipient:alice@example.org``, ``provider:Mailchimp``, ``host:list-manage.com``,
``token:<value>``, ``message:<sha256>``. Levels of detail add node kinds, coarsest first:

- ``provider``: senders, their domains, recipients and providers;
- ``host``: adds the tracking hosts (every remote host a message loads or links to);
- ``token``: adds the tokens that identify a recipient, a message or a campaign;
- ``message``: adds every message.

Every edge carries ``relation``, ``count`` (distinct messages behind it), ``senders``,
``beacons``, ``links``, ``leaks``, ``tokens`` (evidence rows of each kind),
``first_seen``/``last_seen`` (Date of the earliest and latest message, UTC, ``""`` when
no message has a readable date), ``evidence`` (the SHA-256 of at most ``EVIDENCE_CAP``
messages, the smallest, space-separated), ``weight`` (``count`` as a float, for Gephi) and
``id`` (``e0``, ``e1``... in edge order; GEXF stores edge ids, so every format keeps them).
The full list behind any edge is queryable: ``evidence_rows`` (``Case.evidence``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from forensics.correlate.sources import RECIPIENT_ROLE, Selection, prepare
from forensics.correlate.xmlsafe import xml_safe

LEVELS = ("provider", "host", "token", "message")
EVIDENCE_CAP = 20
EDGE_ATTRS = ("relation", "count", "senders", "beacons", "links", "leaks", "tokens",
              "first_seen", "last_seen", "evidence", "weight", "id")

# Columns of every evidence query: u, v (node ids), m (message), d (date), s (sender),
# f (finding id or ''), b, l, k, t (1 when the row is a beacon, link, leak, token).
_MSG = "m, d, sender AS s, '' AS f, 0 AS b, 0 AS l, 0 AS k, 0 AS t"
_FIND = "m, d, sender AS s, f, kind = 'beacon' AS b, kind = 'link' AS l, 0 AS k, 0 AS t"
_LEAK = "m, d, sender AS s, f, 0 AS b, 0 AS l, 1 AS k, 0 AS t"
_TOK = "m, d, sender AS s, f, 0 AS b, 0 AS l, 0 AS k, 1 AS t"


@dataclass(frozen=True, slots=True, kw_only=True)
class Relation:
    """One kind of edge: its name, the level that first shows it, and its evidence rows."""

    name: str
    level: str
    source: str  # node kind of u
    target: str  # node kind of v
    sql: str  # rows (u, v, m, d, s, f, b, l, k, t)


def _rel(name: str, level: str, source: str, target: str, *parts: str) -> Relation:
    return Relation(name=name, level=level, source=source, target=target, sql=" UNION ALL ".join(parts))


RELATIONS: tuple[Relation, ...] = (
    _rel("in_domain", "provider", "sender", "domain",
         f"SELECT 'sender:' || sender AS u, 'domain:' || sender_domain AS v, {_MSG} FROM cg_messages WHERE sender_domain != ''"),
    _rel("mailed", "provider", "sender", "recipient",
         f"SELECT 'sender:' || sender, 'recipient:' || recipient, {_MSG} FROM cg_messages WHERE recipient != ''"),
    _rel("uses", "provider", "sender", "provider",
         f"SELECT 'sender:' || sender, 'provider:' || provider, {_FIND} FROM cg_findings WHERE provider != ''",
         f"SELECT 'sender:' || sender, 'provider:' || provider, {_LEAK} FROM cg_leaks WHERE provider != ''"),
    _rel("identified_to", "provider", "recipient", "provider",
         f"SELECT 'recipient:' || identity, 'provider:' || provider, {_LEAK} FROM cg_leaks WHERE provider != '' AND identity != ''",
         f"SELECT 'recipient:' || recipient, 'provider:' || provider, {_TOK} FROM cg_tokens "
         f"WHERE provider != '' AND recipient != '' AND role = '{RECIPIENT_ROLE}'"),
    _rel("contacts", "host", "sender", "host",
         f"SELECT 'sender:' || sender, 'host:' || host, {_FIND} FROM cg_findings WHERE host != ''",
         f"SELECT 'sender:' || sender, 'host:' || host, {_LEAK} FROM cg_leaks WHERE host != ''"),
    _rel("operated_by", "host", "host", "provider",
         f"SELECT 'host:' || host, 'provider:' || provider, {_FIND} FROM cg_findings WHERE host != '' AND provider != ''",
         f"SELECT 'host:' || host, 'provider:' || provider, {_LEAK} FROM cg_leaks WHERE host != '' AND provider != ''"),
    _rel("identified_to_host", "host", "recipient", "host",
         f"SELECT 'recipient:' || identity, 'host:' || host, {_LEAK} FROM cg_leaks WHERE host != '' AND identity != ''",
         f"SELECT 'recipient:' || recipient, 'host:' || host, {_TOK} FROM cg_tokens "
         f"WHERE host != '' AND recipient != '' AND role = '{RECIPIENT_ROLE}'"),
    _rel("issued", "token", "sender", "token", f"SELECT 'sender:' || sender, 'token:' || value, {_TOK} FROM cg_tokens"),
    _rel("sent_to", "token", "token", "host",
         f"SELECT 'token:' || value, 'host:' || host, {_TOK} FROM cg_tokens WHERE host != ''"),
    _rel("identifies", "token", "token", "recipient",
         f"SELECT 'token:' || value, 'recipient:' || recipient, {_TOK} FROM cg_tokens "
         f"WHERE recipient != '' AND role = '{RECIPIENT_ROLE}'"),
    _rel("sent", "message", "sender", "message", f"SELECT 'sender:' || sender, 'message:' || m, {_MSG} FROM cg_messages"),
    _rel("delivered_to", "message", "message", "recipient",
         f"SELECT 'message:' || m, 'recipient:' || recipient, {_MSG} FROM cg_messages WHERE recipient != ''"),
    _rel("requests", "message", "message", "host",
         f"SELECT 'message:' || m, 'host:' || host, {_FIND} FROM cg_findings WHERE host != ''",
         f"SELECT 'message:' || m, 'host:' || host, {_LEAK} FROM cg_leaks WHERE host != ''"),
    _rel("carries", "message", "message", "token", f"SELECT 'message:' || m, 'token:' || value, {_TOK} FROM cg_tokens"),
)

BROKER_RELATIONS: tuple[Relation, ...] = (
    _rel("identified_to", "broker", "recipient", "third_party",
         f"SELECT 'recipient:' || b.recipient AS u, 'third_party:' || b.receiver AS v, b.m, b.d, b.sender AS s, b.f, "
         f"0 AS b, 0 AS l, b.via = 'leak' AS k, b.via = 'token' AS t FROM cg_brokers b "
         f"JOIN cg_broker_pairs p ON p.receiver = b.receiver AND p.recipient = b.recipient"),
    _rel("passed_identifier", "broker", "sender", "third_party",
         f"SELECT 'sender:' || b.sender, 'third_party:' || b.receiver, b.m, b.d, b.sender, b.f, "
         f"0, 0, b.via = 'leak', b.via = 'token' FROM cg_brokers b "
         f"JOIN cg_broker_pairs p ON p.receiver = b.receiver AND p.recipient = b.recipient"),
)

# Per message first (a message counts once per edge), then per edge; the evidence sample
# is a Python aggregate (one pass, no window sort).
EDGE_SQL = """
    WITH p(u, v, m, d, s, f, b, l, k, t) AS ({pairs}),
    pm AS (SELECT u, v, m, MIN(d) AS d, MIN(s) AS s, SUM(b) AS b, SUM(l) AS l, SUM(k) AS k, SUM(t) AS t
           FROM p GROUP BY u, v, m)
    SELECT u, v, COUNT(*), COUNT(DISTINCT s), SUM(b), SUM(l), SUM(k), SUM(t), MIN(d), MAX(d),
           cg_sorted_sample(m, ?, ' ')
    FROM pm GROUP BY u, v HAVING COUNT(*) >= ? ORDER BY u, v
"""

# Messages behind a node, per node kind (the ``messages`` node attribute).
NODE_PARTS: dict[str, tuple[str, ...]] = {
    "sender": ("SELECT 'sender:' || sender, m FROM cg_messages",),
    "domain": ("SELECT 'domain:' || sender_domain, m FROM cg_messages WHERE sender_domain != ''",),
    "recipient": ("SELECT 'recipient:' || recipient, m FROM cg_messages WHERE recipient != ''",
                  "SELECT 'recipient:' || identity, m FROM cg_leaks WHERE identity != ''",
                  "SELECT 'recipient:' || recipient, m FROM cg_tokens WHERE recipient != ''"),
    "provider": tuple(f"SELECT 'provider:' || provider, m FROM {t} WHERE provider != ''"
                      for t in ("cg_findings", "cg_leaks", "cg_tokens")),
    "host": tuple(f"SELECT 'host:' || host, m FROM {t} WHERE host != ''"
                  for t in ("cg_findings", "cg_leaks", "cg_tokens")),
    "token": ("SELECT 'token:' || value, m FROM cg_tokens",),
    "message": ("SELECT 'message:' || m, m FROM cg_messages",),
    "third_party": ("SELECT 'third_party:' || receiver, m FROM cg_brokers",),
}


def node_sql(kinds: set[str]) -> str:
    parts = [p for kind in sorted(kinds) for p in NODE_PARTS[kind]]
    return f"WITH x(n, m) AS ({' UNION ALL '.join(parts)}) SELECT n, COUNT(DISTINCT m) FROM x GROUP BY n"


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphOptions:
    """What to draw: a selection of the evidence, a level of detail, a minimum count per edge."""

    selection: Selection = field(default_factory=Selection)
    level: str = "host"
    min_count: int = 1
    view: str = "tracking"  # "tracking" (the levels above) or "broker" (the data-broker view)

    def relations(self) -> tuple[Relation, ...]:
        if self.view == "broker":
            return BROKER_RELATIONS
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}; one of {', '.join(LEVELS)}")
        depth = LEVELS.index(self.level)
        return tuple(r for r in RELATIONS if LEVELS.index(r.level) <= depth)


def edge_rows(conn: sqlite3.Connection, relation: Relation, min_count: int) -> list[tuple[Any, ...]]:
    return conn.execute(EDGE_SQL.format(pairs=relation.sql), (EVIDENCE_CAP, min_count)).fetchall()


def edge_attrs(relation: Relation, row: tuple[Any, ...]) -> dict[str, object]:
    """The attributes of one edge row, in ``EDGE_ATTRS`` order, as simple exportable values."""
    _, _, count, senders, b, l, k, t, first, last, evidence = row
    return {
        "relation": relation.name, "count": count, "senders": senders, "beacons": b or 0, "links": l or 0,
        "leaks": k or 0, "tokens": t or 0, "first_seen": first or "", "last_seen": last or "",
        "evidence": evidence or "", "weight": float(count),
    }


def _kind_and_value(node: str) -> tuple[str, str]:
    kind, _, value = node.partition(":")
    return kind, value


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphStream:
    """A graph as sorted streams of nodes and edges, for writers that never hold it whole.

    ``nodes()`` yields ``(node, attributes)`` and ``edges()`` ``(u, v, attributes)`` in the
    order ``build_graph`` adds them; each call starts a new pass (a writer may need the
    nodes before the edges, or the other way round).
    """

    attrs: dict[str, object]
    nodes: Callable[[], Iterator[tuple[str, dict[str, object]]]]
    edges: Callable[[], Iterator[tuple[str, str, dict[str, object]]]]
    directed: bool = True


# The graph's own tables, beside the ``cg_*`` evidence tables (``sources.release`` drops them).
# Node names are stored XML-safe; a later row with the same safe name replaces an earlier one,
# as assigning into a dict does.
_GRAPH_TABLES = (
    "CREATE TEMP TABLE cg_edges (u TEXT, v TEXT, relation TEXT, count INTEGER, senders INTEGER, b INTEGER, "
    "l INTEGER, k INTEGER, t INTEGER, first TEXT, last TEXT, evidence TEXT, PRIMARY KEY (u, v)) WITHOUT ROWID",
    "CREATE TEMP TABLE cg_node_counts (n TEXT PRIMARY KEY, c INTEGER) WITHOUT ROWID",
    "CREATE TEMP TABLE cg_node_extras (n TEXT PRIMARY KEY, is_message INTEGER, date_utc TEXT, subject TEXT, "
    "role TEXT) WITHOUT ROWID",
    "CREATE TEMP TABLE cg_nodes (n TEXT PRIMARY KEY) WITHOUT ROWID",
)
_EXTRAS_SQL = (
    # A message's date and subject, a token's role (keyed by the raw name, as ``build_graph`` always did).
    "INSERT OR REPLACE INTO cg_node_extras SELECT 'message:' || c.m, 1, COALESCE(c.d, ''), "
    "COALESCE(x.subject, ''), NULL FROM cg_messages c JOIN messages x ON x.message_sha256 = c.m",
    "INSERT OR REPLACE INTO cg_node_extras SELECT DISTINCT 'token:' || value, 0, NULL, NULL, role FROM cg_tokens",
)
_NODES_SQL = """
    SELECT n.n, COALESCE(c.c, 0), x.is_message, x.date_utc, x.subject, x.role FROM cg_nodes n
    LEFT JOIN cg_node_counts c ON c.n = n.n LEFT JOIN cg_node_extras x ON x.n = n.n ORDER BY n.n
"""
_EDGES_SQL = "SELECT u, v, relation, count, senders, b, l, k, t, first, last, evidence FROM cg_edges ORDER BY u, v"


def _fill_graph_tables(conn: sqlite3.Connection, options: GraphOptions) -> None:
    """The edges (aggregated in SQL, per relation), the nodes they name, their counts and extras."""
    relations = options.relations()
    for name in ("cg_edges", "cg_node_counts", "cg_node_extras", "cg_nodes"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    for sql in _GRAPH_TABLES:
        conn.execute(sql)
    for relation in relations:
        rows = conn.execute(EDGE_SQL.format(pairs=relation.sql), (EVIDENCE_CAP, options.min_count))
        conn.executemany("INSERT OR REPLACE INTO cg_edges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         ((xml_safe(r[0]), xml_safe(r[1]), relation.name, *r[2:]) for r in rows))
    conn.execute("INSERT OR IGNORE INTO cg_nodes SELECT u FROM cg_edges")
    conn.execute("INSERT OR IGNORE INTO cg_nodes SELECT v FROM cg_edges")
    kinds = {r.source for r in relations} | {r.target for r in relations}
    counts = conn.execute(node_sql(kinds) + " ORDER BY 1")
    conn.executemany("INSERT OR REPLACE INTO cg_node_counts VALUES (?, ?)", ((xml_safe(n), c) for n, c in counts))
    for sql, kind in zip(_EXTRAS_SQL, ("message", "token")):
        if kind in kinds:
            conn.execute(sql)


def _node_attrs(node: str, messages: int, extra: dict[str, object]) -> dict[str, object]:
    kind, value = _kind_and_value(node)
    label = value
    if kind == "message":
        label = str(extra.get("subject") or "") or value[:12]
    return {"kind": kind, "label": xml_safe(label), "messages": messages,
            **{k: xml_safe(v) if isinstance(v, str) else v for k, v in extra.items()}}


def _stream_nodes(conn: sqlite3.Connection) -> Iterator[tuple[str, dict[str, object]]]:
    for node, count, is_message, date_utc, subject, role in conn.execute(_NODES_SQL):
        extra: dict[str, object] = {}
        if is_message == 1:
            extra = {"date_utc": date_utc, "subject": subject}
        elif is_message == 0:
            extra = {"role": role}
        yield node, _node_attrs(node, count, extra)


def _stream_edges(conn: sqlite3.Connection, relations: dict[str, Relation]) -> Iterator[
        tuple[str, str, dict[str, object]]]:
    for i, (u, v, name, *row) in enumerate(conn.execute(_EDGES_SQL)):
        yield u, v, {**edge_attrs(relations[name], (u, v, *row)), "id": f"e{i}"}


def stream_graph(conn: sqlite3.Connection, options: GraphOptions = GraphOptions(), *,
                 prepared: bool = False) -> GraphStream:
    """The graph of a selection of the case as streams over temporary tables (bounded memory).

    The nodes and edges, their attributes and order are those of ``build_graph``; the
    streams read the connection's ``cg_*`` tables until ``sources.release``. ``prepared``:
    those tables already hold this selection (another view of it was just streamed).
    """
    relations = {r.name: r for r in options.relations()}
    if not prepared:
        prepare(conn, options.selection)
    _fill_graph_tables(conn, options)
    return GraphStream(attrs={"view": options.view, "level": options.level if options.view != "broker" else "broker"},
                       nodes=lambda: _stream_nodes(conn), edges=lambda: _stream_edges(conn, relations))


def to_networkx(stream: GraphStream) -> nx.DiGraph:
    graph = nx.DiGraph(**stream.attrs) if stream.directed else nx.Graph(**stream.attrs)
    for node, attrs in stream.nodes():
        graph.add_node(node, **attrs)
    for u, v, attrs in stream.edges():
        graph.add_edge(u, v, **attrs)
    return graph


def build_graph(conn: sqlite3.Connection, options: GraphOptions = GraphOptions()) -> nx.DiGraph:
    """The graph of a selection of the case, nodes and edges in sorted order (deterministic)."""
    return to_networkx(stream_graph(conn, options))


def relation_between(u: str, v: str, view: str = "tracking") -> Relation:
    """The relation an edge from ``u`` to ``v`` belongs to (node kinds decide it).

    Raises:
        KeyError: no relation links these two kinds of node.
    """
    kinds = (_kind_and_value(u)[0], _kind_and_value(v)[0])
    for relation in BROKER_RELATIONS if view == "broker" else RELATIONS:
        if (relation.source, relation.target) == kinds:
            return relation
    raise KeyError(f"no {view} relation from {kinds[0]} to {kinds[1]}")


def evidence_rows(conn: sqlite3.Connection, u: str, v: str, selection: Selection = Selection(),
                  view: str = "tracking", *, prepared: bool = False) -> list[tuple[Any, ...]]:
    """Every evidence row behind one edge: ``(message_sha256, date_utc, finding_id, kind)``, sorted.

    ``prepared``: the ``cg_*`` tables already hold this selection (skip rebuilding them).

    Raises:
        KeyError: no relation links these two kinds of node.
    """
    relation = relation_between(u, v, view)
    if not prepared:
        prepare(conn, selection)
    sql = f"""
        WITH p(u, v, m, d, s, f, b, l, k, t) AS ({relation.sql})
        SELECT DISTINCT m, COALESCE(d, ''), f,
               CASE WHEN b THEN 'beacon' WHEN l THEN 'link' WHEN k THEN 'leak' WHEN t THEN 'token' ELSE 'message' END
        FROM p WHERE u = ? AND v = ? ORDER BY 1, 3, 4"""
    return conn.execute(sql, (u, v)).fetchall()
