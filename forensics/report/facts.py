"""Stage 5: the figures a report shows, read from the case in SQL.

Where correlation already computed a figure, the report reads its ``metrics_*`` table
(prevalence per month and per sender, provider shares, leaks per encoding, the
data-broker table), so the page, the charts and the CSV files can never disagree. The
rest is aggregated here from the evidence tables as the stages store them: beacons are
the ``resources`` rows with ``is_beacon = 1`` (``beacons.csv`` is that selection), links
are ``links``, leaks ``leaks``, token roles ``tokens``. Senders are named as correlation
names them (the first From address, lower-case: ``correlate.sources.first_address``).

A fact is ``None`` ("no data") when the table behind it is absent, and empty when the
table holds nothing. Every query orders by stable keys: the same case gives the same facts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from forensics.correlate.metrics import UNATTRIBUTED, UNDATED
from forensics.correlate.sources import NO_SENDER, RECIPIENT_ROLE, install_functions
from forensics.report.tables import has_table, table_columns

# Beacons are the remote resources extraction flagged (as in ``correlate.sources``).
BEACON_SOURCES = (("resources", "is_beacon = 1"),)
# The columns the report reads, per meaning, as the stages name them (first present wins;
# checked against the real schema by tests/test_report_schema.py).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "finding_id": ("finding_id",),
    "location": ("location",),
    "url": ("url",),
    "unwrapped": ("unwrapped",),
    "host": ("host",),
    "registered_domain": ("registered_domain",),
    "provider": ("provider",),
    "rule_id": ("provider_rule",),
    "layer": ("provider_layer",),
    "reason": ("provider_reason",),
    "confidence": ("confidence",),
    "party": ("party",),
    "identity": ("identity",),
    "encoding": ("chain",),
    "receivers": ("receivers",),
    "kind": ("kind",),
    "role": ("role",),
}
SENDER = f"COALESCE(NULLIF(cg_first_address(m.from_addr), ''), '{NO_SENDER}')"


def pick(conn: sqlite3.Connection, table: str, meaning: str) -> str:
    """An SQL expression for a meaning in a table aliased ``t``: its column, or '' when it has none."""
    present = set(table_columns(conn, table))
    for name in CANDIDATES[meaning]:
        if name in present:
            return f'COALESCE(CAST(t."{name}" AS TEXT), \'\')'
    return "''"


def beacons_sql(conn: sqlite3.Connection) -> tuple[str, str] | None:
    """(table, condition) of the beacon rows, or None when the case has no beacon data."""
    for table, where in BEACON_SOURCES:
        if has_table(conn, table) and "is_beacon" in table_columns(conn, table):
            return table, where
    return None


def _finding_sources(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    sources = []
    beacons = beacons_sql(conn)
    if beacons:
        sources.append(("beacon", *beacons))
    if has_table(conn, "links"):
        sources.append(("link", "links", "1"))
    return sources


def findings_sql(conn: sqlite3.Connection) -> str | None:
    """Beacons and links as one normalised relation (None when neither exists)."""
    parts = []
    for kind, table, where in _finding_sources(conn):
        fields = ", ".join(f"{pick(conn, table, m)} AS {m}" for m in (
            "finding_id", "location", "url", "unwrapped", "host", "registered_domain",
            "provider", "rule_id", "layer", "reason", "confidence", "party"))
        parts.append(f"SELECT '{kind}' AS kind, t.message_sha256, {fields} FROM \"{table}\" t WHERE {where}")
    return " UNION ALL ".join(parts) if parts else None


def _ready(conn: sqlite3.Connection) -> sqlite3.Connection:
    install_functions(conn)  # cg_first_address: senders named as correlation names them
    return conn


def _metric(conn: sqlite3.Connection, table: str) -> bool:
    """Whether correlation filled a metrics table (absent or empty: no data)."""
    return has_table(conn, table) and conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    messages: int
    copies: int
    defective: int
    inputs: int
    skipped_files: int
    problems: int  # warnings and errors (messages or files not wholly analysed)
    notes: int  # problems rows of severity info (e.g. expunged but present)
    tracked: int | None  # messages with at least one beacon; None: no beacon data
    tracked_links: int | None
    providers: int | None
    leaked_messages: int | None
    recipient_tokens: int | None  # token values identifying a recipient
    brokers: int | None  # third parties receiving one recipient's identifier from 2+ senders


@dataclass(frozen=True, slots=True, kw_only=True)
class Count:
    label: str
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Month:
    month: str  # YYYY-MM (UTC)
    messages: int
    tracked: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    sender: str
    provider: str
    messages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderFacts:
    sender: str
    messages: int
    tracked: int | None  # None: no beacon data
    share: float | None
    beacons: int
    links: int
    leaks: int
    providers: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderFacts:
    provider: str
    findings: int
    beacons: int
    links: int
    messages: int
    senders: int
    share_of_messages: float
    hosts: str
    rules: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Receiver:
    """One third party (or first party) that received one identity of the recipient."""

    identity: str
    receiver: str  # provider name, else the receiving host
    hosts: str  # every host the value travelled to, outermost first, distinct
    party: str
    encodings: str
    via: str  # beacon, link, resource, header
    senders: int
    messages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Broker:
    receiver: str
    recipient: str
    senders: int
    messages: int
    leaks: int
    tokens: int
    shared_values: int
    sender_list: str
    first_seen: str
    last_seen: str


def _one(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0] or 0)


def _count_or_none(conn: sqlite3.Connection, table: str, sql: str) -> int | None:
    return _one(conn, sql) if has_table(conn, table) else None


def summary(conn: sqlite3.Connection) -> Summary:
    f = findings_sql(conn)
    prevalence = _prevalence_all(conn)
    return Summary(
        messages=_one(conn, "SELECT COUNT(*) FROM messages"),
        copies=_one(conn, "SELECT COUNT(*) FROM occurrences"),
        defective=_one(conn, "SELECT COUNT(*) FROM messages WHERE status = 'defective'"),
        inputs=_one(conn, "SELECT COUNT(*) FROM inputs WHERE status != 'skipped'"),
        skipped_files=_one(conn, "SELECT COUNT(*) FROM inputs WHERE status = 'skipped'"),
        problems=_one(conn, "SELECT COUNT(*) FROM problems WHERE severity NOT IN ('skipped', 'info')"),
        notes=_one(conn, "SELECT COUNT(*) FROM problems WHERE severity = 'info'"),
        tracked=prevalence,
        tracked_links=_one(conn, f"SELECT COUNT(DISTINCT message_sha256) FROM ({f}) WHERE kind = 'link' AND provider != ''") if f else None,
        providers=_count_or_none(conn, "metrics_providers",
                                 f"SELECT COUNT(*) FROM metrics_providers WHERE provider != '{UNATTRIBUTED}'") if f else None,
        leaked_messages=_count_or_none(conn, "leaks", "SELECT COUNT(DISTINCT message_sha256) FROM leaks"),
        recipient_tokens=_count_or_none(conn, "tokens", f"SELECT COUNT(*) FROM tokens WHERE role = '{RECIPIENT_ROLE}'"),
        brokers=_count_or_none(conn, "metrics_brokers", "SELECT COUNT(DISTINCT receiver) FROM metrics_brokers"),
    )


def _prevalence_all(conn: sqlite3.Connection) -> int | None:
    if not _metric(conn, "metrics_prevalence"):
        return None
    row = conn.execute("SELECT tracked FROM metrics_prevalence WHERE scope = 'all'").fetchone()
    return int(row[0] or 0) if row else None


def prevalence_by_month(conn: sqlite3.Connection) -> list[Month] | None:
    """Messages and messages with a beacon per month of their Date header (``metrics_prevalence``).

    Undated messages are left out (see ``undated``); None: no beacon data.
    """
    if _prevalence_all(conn) is None:
        return None
    rows = conn.execute(f"""SELECT key, messages, tracked FROM metrics_prevalence
                            WHERE scope = 'month' AND key != '{UNDATED}' ORDER BY key""")
    return [Month(month=r[0], messages=r[1], tracked=r[2] or 0) for r in rows]


def undated(conn: sqlite3.Connection) -> int:
    """Messages without a readable Date (not on the prevalence chart)."""
    if not has_table(conn, "metrics_prevalence"):
        return 0
    row = conn.execute(f"SELECT messages FROM metrics_prevalence WHERE scope = 'month' AND key = '{UNDATED}'").fetchone()
    return int(row[0]) if row else 0


def top_providers(conn: sqlite3.Connection, limit: int = 20) -> list[Count] | None:
    """Providers by the number of messages with a beacon or link they operate (``metrics_providers``)."""
    if findings_sql(conn) is None or not has_table(conn, "metrics_providers"):
        return None
    rows = conn.execute(f"""SELECT provider, messages FROM metrics_providers WHERE provider != '{UNATTRIBUTED}'
                            ORDER BY messages DESC, provider LIMIT ?""", (limit,))
    return [Count(label=r[0], value=r[1]) for r in rows]


def sender_provider_cells(conn: sqlite3.Connection, senders: int = 25, providers: int = 20) -> list[Cell] | None:
    """Messages per (sender, provider) for the busiest senders and providers."""
    f = findings_sql(conn)
    if f is None:
        return None
    rows = _ready(conn).execute(f"""
        WITH pairs AS (
          SELECT {SENDER} AS sender, f.provider AS provider, COUNT(DISTINCT f.message_sha256) AS n
          FROM ({f}) f JOIN messages m ON m.message_sha256 = f.message_sha256
          WHERE f.provider != '' GROUP BY sender, provider),
        s AS (SELECT sender FROM pairs GROUP BY sender ORDER BY SUM(n) DESC, sender LIMIT ?),
        p AS (SELECT provider FROM pairs GROUP BY provider ORDER BY SUM(n) DESC, provider LIMIT ?)
        SELECT sender, provider, n FROM pairs
        WHERE sender IN s AND provider IN p ORDER BY sender, provider""", (senders, providers))
    return [Cell(sender=r[0], provider=r[1], messages=r[2]) for r in rows]


def leak_encodings(conn: sqlite3.Connection) -> list[Count] | None:
    """Messages leaking an identity, per encoding chain (``metrics_leaks``); None: no leak data."""
    if not has_table(conn, "leaks") or not has_table(conn, "metrics_leaks"):
        return None
    rows = conn.execute("""SELECT key, messages FROM metrics_leaks WHERE scope = 'encoding'
                           ORDER BY messages DESC, key""")
    return [Count(label=r[0], value=r[1]) for r in rows]


def _sender_counts_sql(conn: sqlite3.Connection) -> str:
    """Per sender: beacons, links, leaks and the providers named in its mail."""
    f = findings_sql(conn) or "SELECT '' AS kind, '' AS message_sha256, '' AS provider WHERE 0"
    leaks = "SELECT message_sha256 FROM leaks" if has_table(conn, "leaks") else "SELECT '' AS message_sha256 WHERE 0"
    return f"""
        WITH fm AS MATERIALIZED (SELECT kind, message_sha256, provider FROM ({f})),
        per AS MATERIALIZED (SELECT {SENDER} AS sender, m.message_sha256 FROM messages m),
        counts AS (SELECT per.sender, SUM(fm.kind = 'beacon') AS b, SUM(fm.kind = 'link') AS l
                   FROM fm JOIN per USING (message_sha256) GROUP BY per.sender),
        leaked AS (SELECT per.sender, COUNT(*) AS k FROM ({leaks}) x JOIN per USING (message_sha256)
                   GROUP BY per.sender),
        names AS (SELECT sender, group_concat(provider, ', ') AS names FROM (
                    SELECT DISTINCT per.sender, fm.provider FROM fm JOIN per USING (message_sha256)
                    WHERE fm.provider != '' ORDER BY per.sender, fm.provider) GROUP BY sender),
        base AS (SELECT sender, COUNT(*) AS n FROM per GROUP BY sender)
        SELECT base.sender, base.n, COALESCE(counts.b, 0), COALESCE(counts.l, 0),
               COALESCE(leaked.k, 0), COALESCE(names.names, '')
        FROM base LEFT JOIN counts USING (sender) LEFT JOIN leaked USING (sender)
        LEFT JOIN names USING (sender)"""


def senders(conn: sqlite3.Connection, limit: int = 50) -> list[SenderFacts]:
    """The senders with the most messages: their prevalence row (``metrics_prevalence``,
    scope ``sender``) and what tracked them."""
    prevalence = _metric(conn, "metrics_prevalence")
    join = ("LEFT JOIN metrics_prevalence p ON p.scope = 'sender' AND p.key = s.sender" if prevalence
            else "LEFT JOIN (SELECT NULL AS tracked, NULL AS share, NULL AS key) p ON 0")
    rows = _ready(conn).execute(f"""
        WITH s(sender, n, b, l, k, names) AS ({_sender_counts_sql(conn)})
        SELECT s.sender, s.n, p.tracked, p.share, s.b, s.l, s.k, s.names FROM s {join}
        ORDER BY s.n DESC, s.sender LIMIT ?""", (limit,))
    return [SenderFacts(sender=r[0], messages=r[1], tracked=r[2], share=r[3], beacons=r[4], links=r[5],
                        leaks=r[6], providers=r[7]) for r in rows]


def providers(conn: sqlite3.Connection, limit: int = 50) -> list[ProviderFacts] | None:
    """Provider shares (``metrics_providers``) with the hosts and rules behind each provider."""
    f = findings_sql(conn)
    if f is None or not has_table(conn, "metrics_providers"):
        return None
    rows = conn.execute(f"""
        WITH fm AS MATERIALIZED (SELECT provider, host, rule_id FROM ({f})),
        hosts AS (SELECT provider, group_concat(host, ', ') AS names FROM (
                    SELECT DISTINCT provider, host FROM fm WHERE host != '' ORDER BY provider, host)
                  GROUP BY provider),
        rules AS (SELECT provider, group_concat(rule_id, ', ') AS names FROM (
                    SELECT DISTINCT provider, rule_id FROM fm WHERE rule_id != '' ORDER BY provider, rule_id)
                  GROUP BY provider)
        SELECT p.provider, p.findings, p.beacons, p.links, p.messages, p.senders, p.share_of_messages,
               COALESCE(h.names, ''), COALESCE(r.names, '')
        FROM metrics_providers p
        LEFT JOIN hosts h ON h.provider = (CASE p.provider WHEN '{UNATTRIBUTED}' THEN '' ELSE p.provider END)
        LEFT JOIN rules r ON r.provider = p.provider
        ORDER BY p.provider = '{UNATTRIBUTED}', p.messages DESC, p.provider LIMIT ?""", (limit,))
    return [ProviderFacts(provider=r[0], findings=r[1], beacons=r[2] or 0, links=r[3] or 0, messages=r[4],
                          senders=r[5], share_of_messages=r[6] or 0.0, hosts=_capped(r[7]), rules=_capped(r[8]))
            for r in rows]


def _capped(names: str, cap: int = 12) -> str:
    """At most ``cap`` names of a ``, ``-joined list, saying how many more there are."""
    items = names.split(", ") if names else []
    return ", ".join(items[:cap]) + (f" (+{len(items) - cap} more)" if len(items) > cap else "")


def receivers(conn: sqlite3.Connection, limit: int = 200) -> list[Receiver] | None:
    """Who received the recipient's address: per identity, each receiver (the provider, else
    the receiving host) with every host the value reached, its party, the encodings, and
    whether a beacon (on opening) or a link (on clicking) carried it. Third parties first."""
    if not has_table(conn, "leaks"):
        return None
    receiver = f"COALESCE(NULLIF({pick(conn, 'leaks', 'provider')}, ''), NULLIF({pick(conn, 'leaks', 'host')}, ''), '(unknown)')"
    via = "CASE WHEN t.is_beacon THEN 'beacon' ELSE t.kind END" if "is_beacon" in table_columns(conn, "leaks") \
        else pick(conn, "leaks", "kind")
    rows = _ready(conn).execute(f"""
        WITH k AS MATERIALIZED (
          SELECT lower(trim({pick(conn, 'leaks', 'identity')})) AS identity, {receiver} AS receiver,
                 {pick(conn, 'leaks', 'receivers')} AS hosts, {pick(conn, 'leaks', 'party')} AS party,
                 COALESCE(NULLIF({pick(conn, 'leaks', 'encoding')}, ''), 'plain') AS encoding, {via} AS via,
                 t.message_sha256 AS m, {SENDER} AS sender
          FROM leaks t LEFT JOIN messages m ON m.message_sha256 = t.message_sha256),
        g AS (SELECT identity, receiver, COUNT(DISTINCT sender) AS senders, COUNT(DISTINCT m) AS messages,
                     MAX(party = 'third-party') AS third FROM k GROUP BY identity, receiver)
        SELECT g.identity, g.receiver,
               (SELECT group_concat(hosts, '; ') FROM (SELECT DISTINCT hosts FROM k
                  WHERE k.identity = g.identity AND k.receiver = g.receiver AND hosts != '' ORDER BY hosts)),
               (SELECT group_concat(party, ', ') FROM (SELECT DISTINCT party FROM k
                  WHERE k.identity = g.identity AND k.receiver = g.receiver AND party != '' ORDER BY party)),
               (SELECT group_concat(encoding, ', ') FROM (SELECT DISTINCT encoding FROM k
                  WHERE k.identity = g.identity AND k.receiver = g.receiver ORDER BY encoding)),
               (SELECT group_concat(via, ', ') FROM (SELECT DISTINCT via FROM k
                  WHERE k.identity = g.identity AND k.receiver = g.receiver AND via != '' ORDER BY via)),
               g.senders, g.messages
        FROM g ORDER BY g.identity, g.third DESC, g.messages DESC, g.receiver LIMIT ?""", (limit,))
    return [Receiver(identity=r[0], receiver=r[1], hosts=r[2] or "", party=r[3] or "", encodings=r[4] or "",
                     via=r[5] or "", senders=r[6], messages=r[7]) for r in rows]


def brokers(conn: sqlite3.Connection, limit: int = 100) -> list[Broker] | None:
    """The data-broker table (``metrics_brokers``), most senders first; None: not computed."""
    if not has_table(conn, "metrics_brokers"):
        return None
    rows = conn.execute("""
        SELECT receiver, recipient, senders, messages, leaks, tokens, shared_values, sender_list,
               first_seen, last_seen FROM metrics_brokers
        ORDER BY senders DESC, messages DESC, receiver, recipient LIMIT ?""", (limit,))
    return [Broker(receiver=r[0], recipient=r[1], senders=r[2], messages=r[3], leaks=r[4], tokens=r[5],
                   shared_values=r[6], sender_list=r[7], first_seen=r[8], last_seen=r[9]) for r in rows]


def token_roles(conn: sqlite3.Connection) -> list[Count] | None:
    """How many token values have each role across the case (``tokens``); None: no token data."""
    if not has_table(conn, "tokens"):
        return None
    rows = conn.execute("SELECT role, COUNT(*) AS n FROM tokens GROUP BY role ORDER BY n DESC, role")
    return [Count(label=r[0] or "(none)", value=r[1]) for r in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenFacts:
    value: str
    senders: int
    messages: int
    providers: str
    hosts: str
    evidence: str


def recipient_tokens(conn: sqlite3.Connection, limit: int = 50) -> list[TokenFacts]:
    """Token values that identify the recipient, the most widely sent first."""
    if not has_table(conn, "tokens"):
        return []
    rows = conn.execute("""
        SELECT value, senders, messages, provider_list, host_list, evidence FROM tokens WHERE role = ?
        ORDER BY senders DESC, messages DESC, value LIMIT ?""", (RECIPIENT_ROLE, limit))
    return [TokenFacts(value=r[0], senders=r[1] or 0, messages=r[2] or 0, providers=r[3] or "", hosts=r[4] or "",
                       evidence=r[5] or "") for r in rows]



def sender_total(conn: sqlite3.Connection) -> int:
    """Distinct senders (as ``senders`` names them), for "first 50 of N"."""
    return _one(_ready(conn), f"SELECT COUNT(DISTINCT {SENDER}) FROM messages m")


def receiver_total(conn: sqlite3.Connection) -> int:
    """(identity, receiver) pairs ``receivers`` would list without its limit."""
    if not has_table(conn, "leaks"):
        return 0
    receiver = f"COALESCE(NULLIF({pick(conn, 'leaks', 'provider')}, ''), NULLIF({pick(conn, 'leaks', 'host')}, ''), '(unknown)')"
    return _one(conn, f"SELECT COUNT(*) FROM (SELECT DISTINCT lower(trim({pick(conn, 'leaks', 'identity')})), "
                      f"{receiver} FROM leaks t)")
