"""Stage 4 (correlation): prevalence metrics, computed in SQL over the whole case.

``compute_metrics`` is a finalizer: after every scan it empties the ``metrics_*`` tables
and fills them again from the evidence tables (through ``sources.prepare``), in one
transaction, so the result depends on the case alone (idempotent, and the same however
the case was built up). Shares are rounded to six decimals so exports stay byte-stable.

Tables (one row class each; the report exports them as CSV):

- ``metrics_prevalence``: messages with at least one beacon, over all messages
  (``scope`` ``all``), per ``month`` of the Date header (UTC; ``(undated)``), per
  ``sender`` address and per ``sender_domain``;
- ``metrics_providers``: per provider, findings and messages and their shares (findings
  no rule attributed are ``(unattributed)``, so the finding shares add up to 1);
- ``metrics_third_parties``: how many messages contact N third parties (registered
  domains other than the sender's, among the hosts of every remote resource, beacon or
  not, and every link), N = 0, 1, 2...;
- ``metrics_leaks``: messages that leak a recipient identity, over all messages
  (``all``), per ``provider`` that receives it and per ``encoding`` chain;
- ``metrics_sharing``: providers and token values seen in the mail of two senders or more;
- ``metrics_centrality``: degree and betweenness of each provider in the provider–sender
  graph (exact within ``BETWEENNESS_BUDGET``, else estimated from a seeded sample of
  source nodes; ``method`` says which);
- ``metrics_brokers``: the data-broker view, third parties that receive an identifier of
  the same recipient from two senders or more (``sources.BROKER_ROWS``).

Prevalence, providers and third parties need the beacons and links tables; leaks need the
leaks table. A table whose inputs are absent stays empty ("no data", not zero).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import ClassVar

import networkx as nx

from forensics.analyse import Settings
from forensics.correlate.sources import (
    RECIPIENT_ROLE,
    findings_sql,
    has_beacon_source,
    has_table,
    prepare,
    release,
)
from forensics.records import Row
from forensics.store import Store, register

UNATTRIBUTED = "(unattributed)"
UNDATED = "(undated)"
LIST_CAP = 50  # senders named in a list cell; the count column gives the total
EVIDENCE_CAP = 20
# Exact betweenness costs one breadth-first search per node (Brandes): nodes x edges steps,
# a few microseconds each in networkx. Above this budget, the searches start from a
# sample of nodes (fixed seed, so the result is still deterministic) sized to fit it.
BETWEENNESS_BUDGET = 2_000_000
MIN_SAMPLE = 10
_ROUND = 6


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PrevalenceRow(Row):
    """Share of messages with at least one beacon, overall, per month, per sender."""

    TABLE: ClassVar[str] = "metrics_prevalence"
    KEY: ClassVar[tuple[str, ...]] = ("scope", "key")
    scope: str  # all | month | sender | sender_domain
    key: str
    messages: int
    tracked: int
    share: float


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderShareRow(Row):
    TABLE: ClassVar[str] = "metrics_providers"
    KEY: ClassVar[tuple[str, ...]] = ("provider",)
    provider: str
    findings: int
    beacons: int
    links: int
    messages: int
    senders: int
    share_of_findings: float
    share_of_messages: float


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ThirdPartiesRow(Row):
    TABLE: ClassVar[str] = "metrics_third_parties"
    KEY: ClassVar[tuple[str, ...]] = ("third_parties",)
    third_parties: int
    messages: int
    share: float


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class LeakShareRow(Row):
    TABLE: ClassVar[str] = "metrics_leaks"
    KEY: ClassVar[tuple[str, ...]] = ("scope", "key")
    scope: str  # all | provider | encoding
    key: str
    messages: int  # messages with such a leak
    total: int  # messages in the case (the share's denominator)
    share: float


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class SharingRow(Row):
    TABLE: ClassVar[str] = "metrics_sharing"
    KEY: ClassVar[tuple[str, ...]] = ("kind", "value")
    kind: str  # provider | token
    value: str
    role: str  # a token's role across the case; "" for a provider
    senders: int
    messages: int
    sender_list: str


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class CentralityRow(Row):
    TABLE: ClassVar[str] = "metrics_centrality"
    KEY: ClassVar[tuple[str, ...]] = ("provider",)
    provider: str
    senders: int
    degree: float
    betweenness: float
    method: str


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerRow(Row):
    """A third party that can link one recipient across senders, with the evidence."""

    TABLE: ClassVar[str] = "metrics_brokers"
    KEY: ClassVar[tuple[str, ...]] = ("receiver", "recipient")
    receiver: str
    recipient: str
    senders: int
    messages: int
    leaks: int
    tokens: int
    shared_values: int  # identifier values it received from two senders or more
    sender_list: str
    first_seen: str
    last_seen: str
    evidence: str


METRIC_TABLES = tuple(r.TABLE for r in (PrevalenceRow, ProviderShareRow, ThirdPartiesRow, LeakShareRow,
                                        SharingRow, CentralityRow, BrokerRow))


def _share(num: str, den: str) -> str:
    return f"ROUND(1.0 * ({num}) / NULLIF({den}, 0), {_ROUND})"


PREVALENCE_SQL = f"""
    INSERT INTO metrics_prevalence (scope, key, messages, tracked, share)
    WITH t AS (SELECT c.sender, COALESCE(NULLIF(c.sender_domain, ''), '(none)') AS domain,
                      COALESCE(substr(c.d, 1, 7), '{UNDATED}') AS month,
                      EXISTS (SELECT 1 FROM cg_findings f WHERE f.m = c.m AND f.kind = 'beacon') AS tracked
               FROM cg_messages c)
    SELECT 'all', '', COUNT(*), SUM(tracked), {_share('SUM(tracked)', 'COUNT(*)')} FROM t GROUP BY 1
    UNION ALL SELECT 'month', month, COUNT(*), SUM(tracked), {_share('SUM(tracked)', 'COUNT(*)')} FROM t GROUP BY month
    UNION ALL SELECT 'sender', sender, COUNT(*), SUM(tracked), {_share('SUM(tracked)', 'COUNT(*)')} FROM t GROUP BY sender
    UNION ALL SELECT 'sender_domain', domain, COUNT(*), SUM(tracked), {_share('SUM(tracked)', 'COUNT(*)')}
    FROM t GROUP BY domain
"""
PROVIDERS_SQL = f"""
    INSERT INTO metrics_providers
    SELECT COALESCE(NULLIF(provider, ''), '{UNATTRIBUTED}') AS p, COUNT(*), SUM(kind = 'beacon'),
           SUM(kind = 'link'), COUNT(DISTINCT m), COUNT(DISTINCT sender),
           {_share('COUNT(*)', '(SELECT COUNT(*) FROM cg_findings)')},
           {_share('COUNT(DISTINCT m)', '(SELECT COUNT(*) FROM cg_messages)')}
    FROM cg_findings GROUP BY p
"""
THIRD_PARTIES_SQL = f"""
    INSERT INTO metrics_third_parties
    WITH per AS (SELECT (SELECT COUNT(*) FROM cg_contacts x WHERE x.m = c.m) AS n FROM cg_messages c)
    SELECT n, COUNT(*), {_share('COUNT(*)', '(SELECT COUNT(*) FROM cg_messages)')} FROM per GROUP BY n
"""
LEAKS_SQL = f"""
    INSERT INTO metrics_leaks
    WITH n AS (SELECT COUNT(*) AS total FROM cg_messages),
    a AS (SELECT COUNT(DISTINCT m) AS leaking FROM cg_leaks)
    SELECT 'all', '', a.leaking, n.total, {_share('a.leaking', 'n.total')} FROM a, n WHERE n.total > 0
    UNION ALL
    SELECT 'provider', COALESCE(NULLIF(provider, ''), '{UNATTRIBUTED}') AS p, COUNT(DISTINCT m), n.total,
           {_share('COUNT(DISTINCT m)', 'n.total')} FROM cg_leaks, n GROUP BY p
    UNION ALL
    SELECT 'encoding', chain, COUNT(DISTINCT m), n.total, {_share('COUNT(DISTINCT m)', 'n.total')}
    FROM cg_leaks, n GROUP BY chain
"""
SHARED_PROVIDERS_SQL = f"""
    INSERT INTO metrics_sharing
    SELECT 'provider', provider, '', COUNT(DISTINCT sender), COUNT(DISTINCT m), cg_sorted_sample(sender, {LIST_CAP}, '; ')
    FROM (SELECT provider, sender, m FROM cg_findings UNION ALL SELECT provider, sender, m FROM cg_leaks)
    WHERE provider != '' GROUP BY provider HAVING COUNT(DISTINCT sender) >= 2
"""
# Every stored token value (any role), so values shared by senders are listed with their role.
# First the values seen from two senders (MIN <> MAX: no per-group DISTINCT set, and a sender
# is never NULL in cg_messages), then their rows alone: the sample, a Python aggregate, is
# then called for the few shared values' rows, not for every token of the case.
SHARED_VALUES_SQL = """
    CREATE TEMP TABLE cg_shared_values (value TEXT PRIMARY KEY);
    INSERT INTO cg_shared_values
    SELECT t.value FROM url_tokens t JOIN cg_messages c ON c.m = t.message_sha256
    GROUP BY t.value HAVING MIN(c.sender) <> MAX(c.sender)
"""
SHARED_TOKENS_SQL = f"""
    INSERT INTO metrics_sharing
    SELECT 'token', t.value, COALESCE(MIN(r.role), ''), COUNT(DISTINCT c.sender), COUNT(DISTINCT c.m),
           cg_sorted_sample(c.sender, {LIST_CAP}, '; ')
    FROM cg_shared_values s JOIN url_tokens t ON t.value = s.value JOIN cg_messages c ON c.m = t.message_sha256
    LEFT JOIN tokens r ON r.value = t.value
    GROUP BY t.value
"""
BROKERS_SQL = f"""
    INSERT INTO metrics_brokers
    WITH shared AS (
      SELECT receiver, recipient, COUNT(*) AS n FROM (
        SELECT receiver, recipient, value FROM cg_brokers WHERE value != ''
        GROUP BY receiver, recipient, value HAVING COUNT(DISTINCT sender) >= 2)
      GROUP BY receiver, recipient)
    SELECT b.receiver, b.recipient, COUNT(DISTINCT b.sender), COUNT(DISTINCT b.m), SUM(b.via = 'leak'),
           SUM(b.via = 'token'), COALESCE(MIN(s.n), 0), cg_sorted_sample(b.sender, {LIST_CAP}, '; '),
           COALESCE(MIN(b.d), ''), COALESCE(MAX(b.d), ''), cg_sorted_sample(b.m, {EVIDENCE_CAP}, '; ')
    FROM cg_brokers b JOIN cg_broker_pairs p ON p.receiver = b.receiver AND p.recipient = b.recipient
    LEFT JOIN shared s ON s.receiver = b.receiver AND s.recipient = b.recipient
    GROUP BY b.receiver, b.recipient
"""
PROVIDER_SENDERS_SQL = """
    SELECT DISTINCT sender, provider FROM (SELECT sender, provider FROM cg_findings
                                           UNION ALL SELECT sender, provider FROM cg_leaks)
    WHERE provider != '' ORDER BY sender, provider
"""


PROVIDER_SENDER_NODES_SQL = f"""
    SELECT 'sender:' || sender AS n FROM ({PROVIDER_SENDERS_SQL}) UNION SELECT 'provider:' || provider FROM
    ({PROVIDER_SENDERS_SQL}) ORDER BY n
"""


def provider_sender_graph(conn: sqlite3.Connection) -> nx.Graph:
    """Bipartite, undirected: a sender is linked to every provider found in its mail.

    Nodes in sorted order, then edges, both streamed from SQL (no list of pairs in Python).
    """
    graph = nx.Graph()
    graph.add_nodes_from(n for (n,) in conn.execute(PROVIDER_SENDER_NODES_SQL))
    graph.add_edges_from((f"sender:{s}", f"provider:{p}") for s, p in conn.execute(PROVIDER_SENDERS_SQL))
    return graph


def betweenness_sample(graph: nx.Graph) -> int | None:
    """How many source nodes to search from: None (all: exact) when the budget allows."""
    nodes, edges = int(graph.number_of_nodes()), max(1, int(graph.number_of_edges()))
    if nodes * edges <= BETWEENNESS_BUDGET:
        return None
    return min(nodes, max(MIN_SAMPLE, BETWEENNESS_BUDGET // edges))


def centrality_rows(graph: nx.Graph) -> list[CentralityRow]:
    """Degree and betweenness centrality of the provider nodes (deterministic: sorted, seeded)."""
    if graph.number_of_nodes() == 0:
        return []
    k = betweenness_sample(graph)
    between = nx.betweenness_centrality(graph, k=k, normalized=True, seed=0)
    degree = nx.degree_centrality(graph)
    method = "exact" if k is None else f"estimated from {k} of {graph.number_of_nodes()} source nodes, seed 0"
    return [
        CentralityRow(provider=n.removeprefix("provider:"), senders=graph.degree(n),
                      degree=round(degree[n], 9), betweenness=round(between[n], 9), method=method)
        for n in sorted(graph.nodes) if n.startswith("provider:")
    ]


def _fill(conn: sqlite3.Connection, *, findings: bool, beacons: bool) -> None:
    if beacons:
        conn.execute(PREVALENCE_SQL)
    if findings:
        conn.execute(PROVIDERS_SQL)
        conn.execute(THIRD_PARTIES_SQL)
    if has_table(conn, "leaks"):
        conn.execute(LEAKS_SQL)
    conn.execute(SHARED_PROVIDERS_SQL)
    if _has_tokens(conn):
        conn.execute(SHARED_TOKENS_SQL)
    conn.execute(BROKERS_SQL)


def _has_tokens(conn: sqlite3.Connection) -> bool:
    return has_table(conn, "url_tokens") and has_table(conn, "tokens")


def _shared_values(conn: sqlite3.Connection) -> None:
    """``cg_shared_values``, committed: it needs no roles, so it is made while they are judged."""
    conn.execute("DROP TABLE IF EXISTS temp.cg_shared_values")
    if _has_tokens(conn):
        with conn:  # the INSERT opens a transaction: closed before the roles are read
            for sql in SHARED_VALUES_SQL.split(";"):
                conn.execute(sql)


def compute_metrics(store: Store, settings: Settings) -> None:  # noqa: ARG001 - finalizer signature
    """Recompute every ``metrics_*`` table from the case (a finalizer: idempotent)."""
    conn = store.conn
    findings = findings_sql(conn) is not None
    rows: list[CentralityRow] = []

    def before_findings() -> None:
        store.await_finalizers("finalize_beacons")  # which resources are beacons, judged meanwhile

    def before_tokens() -> None:
        rows.extend(centrality_rows(provider_sender_graph(conn)))  # findings and leaks only
        _shared_values(conn)
        store.await_finalizers("assign_roles")  # the token roles, judged meanwhile by another finalizer

    try:
        prepare(conn, contacts=True, token_roles=(RECIPIENT_ROLE,), before_findings=before_findings,
                before_tokens=before_tokens)
        with conn:
            for table in METRIC_TABLES:
                conn.execute(f'DELETE FROM "{table}"')
            _fill(conn, findings=findings, beacons=has_beacon_source(conn))
            store.insert(rows)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.cg_shared_values")
        release(conn)


# Named exports for the report (``report.csvout.QUERIES``): the same tables, in reading order.
_SCOPES = "CASE scope WHEN 'all' THEN 0 WHEN 'month' THEN 1 WHEN 'provider' THEN 1 ELSE 2 END"
EXPORTS: dict[str, str] = {
    "metrics_prevalence": f"SELECT * FROM metrics_prevalence ORDER BY {_SCOPES}, scope, key",
    "metrics_providers": "SELECT * FROM metrics_providers ORDER BY findings DESC, provider",
    "metrics_third_parties": "SELECT * FROM metrics_third_parties ORDER BY third_parties",
    "metrics_leaks": f"SELECT * FROM metrics_leaks ORDER BY {_SCOPES}, scope, messages DESC, key",
    "metrics_sharing": "SELECT * FROM metrics_sharing ORDER BY kind, senders DESC, messages DESC, value",
    "metrics_centrality": "SELECT * FROM metrics_centrality ORDER BY betweenness DESC, degree DESC, provider",
    "metrics_brokers": "SELECT * FROM metrics_brokers ORDER BY senders DESC, messages DESC, receiver, recipient",
}

# What each column means, for the data dictionary (``report.dictionary.FILES`` format).
_SHARE = "the share, rounded to 6 decimals"
DOCS: dict[str, dict[str, str]] = {
    "metrics_prevalence": {
        "": "tracker prevalence: messages with at least one beacon, overall, per month, per sender",
        "scope": "`all`, `month` (of the Date header, UTC; `(undated)`), `sender` (first From address), "
                 "`sender_domain` (its registered domain)",
        "key": "the month, sender or domain", "messages": "messages in the scope",
        "tracked": "of which with at least one beacon", "share": _SHARE,
    },
    "metrics_providers": {
        "": "provider shares among beacons and links (`(unattributed)`: no rule matched)",
        "provider": "provider name", "findings": "beacons and links attributed to it",
        "beacons": "beacons", "links": "links", "messages": "messages with at least one of them",
        "senders": "distinct senders of those messages", "share_of_findings": "findings / all beacons and links",
        "share_of_messages": "messages / all messages",
    },
    "metrics_third_parties": {
        "": "third parties per message: registered domains other than the sender's among the hosts of "
            "every remote resource and link",
        "third_parties": "number of third parties a message contacts", "messages": "messages with that number",
        "share": _SHARE + " (of all messages)",
    },
    "metrics_leaks": {
        "": "share of messages leaking a recipient identity, overall, per receiving provider, per encoding",
        "scope": "`all`, `provider` (`(unattributed)`: no rule matched) or `encoding` (the leak's chain)",
        "key": "the provider or encoding", "messages": "messages with such a leak",
        "total": "all messages (the denominator)", "share": _SHARE,
    },
    "metrics_sharing": {
        "": "providers and token values found in the mail of two senders or more",
        "kind": "`provider` or `token`", "value": "provider name or token value",
        "role": "the token's role across the case", "senders": "distinct senders", "messages": "messages",
        "sender_list": f"the senders (at most {LIST_CAP}, sorted; `senders` gives the total)",
    },
    "metrics_centrality": {
        "": "provider centrality in the undirected provider–sender graph",
        "provider": "provider name", "senders": "senders linked to it (its degree)",
        "degree": "degree centrality (degree / (nodes - 1))", "betweenness": "normalised betweenness centrality",
        "method": "`exact`, or estimated from a seeded sample of source nodes (large graphs)",
    },
    "metrics_brokers": {
        "": "data-broker view: third parties receiving an identifier of one recipient (address leak or "
            "recipient-identifier token) from two senders or more, and so able to link that person across them",
        "receiver": "the third party: provider, else registered domain", "recipient": "the recipient's address",
        "senders": "distinct senders", "messages": "messages", "leaks": "leak rows", "tokens": "token rows",
        "shared_values": "identifier values it received from two senders or more (a direct join key)",
        "sender_list": f"the senders (at most {LIST_CAP}, sorted)", "first_seen": "earliest Date (UTC)",
        "last_seen": "latest Date (UTC)", "evidence": f"SHA-256 of up to {EVIDENCE_CAP} messages (the smallest)",
    },
}
