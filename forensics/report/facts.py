"""Stage 5: the figures a report shows, aggregated in SQL from whatever the case holds.

Finding tables arrive from other stages (``beacons``, ``links``, ``leaks``, ``tokens``);
their columns are looked up by name, so each fact is ``None`` ("no data") when its table
is absent, and a renamed column degrades to an empty value instead of an error. Every
query orders by stable keys: the same case gives the same facts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from forensics.report.tables import has_table, table_columns

# Beacons are the remote resources extraction flagged (``resources.is_beacon``); a case
# with a plain ``beacons`` table (older or synthetic) is read as it is.
BEACON_SOURCES = (("resources", "is_beacon = 1"), ("beacons", "1"))
# Column names each stage may use for the same meaning (first present wins).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "finding_id": ("finding_id", "id"),
    "location": ("location", "where", "context", "element"),
    "url": ("url", "url_written", "raw_url"),
    "unwrapped": ("unwrapped", "url_unwrapped", "final_url", "destination"),
    "host": ("host", "receiving_host"),
    "registered_domain": ("registered_domain", "domain"),
    "provider": ("provider", "receiving_provider", "provider_name"),
    "rule_id": ("provider_rule", "rule_id", "rule"),
    "layer": ("provider_layer", "layer", "attribution_layer"),
    "reason": ("provider_reason", "attribution_reason", "reason", "signals"),
    "confidence": ("confidence",),
    "party": ("party", "first_party"),
    "identity": ("identity", "identity_address"),
    "encoding": ("encoding_chain", "chain", "encoding"),
    "role": ("role",),
}
UNATTRIBUTED = "(unattributed)"


def pick(conn: sqlite3.Connection, table: str, meaning: str) -> str:
    """An SQL expression for a meaning in a table: its column, or '' when it has none."""
    present = set(table_columns(conn, table))
    for name in CANDIDATES[meaning]:
        if name in present:
            return f'COALESCE(CAST(t."{name}" AS TEXT), \'\')'
    return "''"


def beacons_sql(conn: sqlite3.Connection) -> tuple[str, str] | None:
    """(table, condition) of the beacon rows, or None when the case has no beacon data."""
    for table, where in BEACON_SOURCES:
        if has_table(conn, table):
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


def _beacon_messages(conn: sqlite3.Connection) -> str | None:
    """SQL for the distinct messages with at least one beacon."""
    beacons = beacons_sql(conn)
    return f'SELECT DISTINCT message_sha256 FROM "{beacons[0]}" WHERE {beacons[1]}' if beacons else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    messages: int
    copies: int
    defective: int
    inputs: int
    skipped_files: int
    problems: int
    tracked: int | None  # messages with at least one beacon; None: no beacon data
    tracked_links: int | None
    providers: int | None
    leaked_messages: int | None


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
    tracked: int
    beacons: int
    links: int
    leaks: int
    providers: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderFacts:
    provider: str
    beacons: int
    links: int
    messages: int
    senders: int
    hosts: str
    rules: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Receiver:
    """Who received a recipient's identity, and in which forms."""

    receiver: str
    messages: int
    senders: int
    identities: str
    encodings: str


def _one(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0] or 0)


def summary(conn: sqlite3.Connection) -> Summary:
    f = findings_sql(conn)
    beacons = _beacon_messages(conn)
    return Summary(
        messages=_one(conn, "SELECT COUNT(*) FROM messages"),
        copies=_one(conn, "SELECT COUNT(*) FROM occurrences"),
        defective=_one(conn, "SELECT COUNT(*) FROM messages WHERE status = 'defective'"),
        inputs=_one(conn, "SELECT COUNT(*) FROM inputs WHERE status != 'skipped'"),
        skipped_files=_one(conn, "SELECT COUNT(*) FROM inputs WHERE status = 'skipped'"),
        problems=_one(conn, "SELECT COUNT(*) FROM problems WHERE severity != 'skipped'"),
        tracked=_one(conn, f"SELECT COUNT(*) FROM ({beacons})") if beacons else None,
        tracked_links=_one(conn, f"SELECT COUNT(DISTINCT message_sha256) FROM ({f}) WHERE kind = 'link' AND provider != ''") if f else None,
        providers=_one(conn, f"SELECT COUNT(DISTINCT provider) FROM ({f}) WHERE provider != ''") if f else None,
        leaked_messages=_one(conn, "SELECT COUNT(DISTINCT message_sha256) FROM leaks") if has_table(conn, "leaks") else None,
    )


def _sender_expr() -> str:
    return "COALESCE(NULLIF(lower(m.from_addr), ''), '(no sender)')"


def _provider_expr() -> str:
    return f"COALESCE(NULLIF(f.provider, ''), '{UNATTRIBUTED}')"


def prevalence_by_month(conn: sqlite3.Connection) -> list[Month] | None:
    """Share of messages with a beacon per month of their Date header (None: no beacon data)."""
    beacons = _beacon_messages(conn)
    if beacons is None:
        return None
    rows = conn.execute(f"""
        SELECT substr(m.date_utc, 1, 7) AS month, COUNT(*), SUM(b.message_sha256 IS NOT NULL)
        FROM messages m LEFT JOIN ({beacons}) b
          ON b.message_sha256 = m.message_sha256
        WHERE m.date_utc != '' GROUP BY month ORDER BY month""")
    return [Month(month=r[0], messages=r[1], tracked=r[2] or 0) for r in rows]


def top_providers(conn: sqlite3.Connection, limit: int = 20) -> list[Count] | None:
    """Providers by number of messages they appear in (attributed findings only)."""
    f = findings_sql(conn)
    if f is None:
        return None
    rows = conn.execute(f"""
        SELECT provider, COUNT(DISTINCT message_sha256) AS n FROM ({f})
        WHERE provider != '' GROUP BY provider ORDER BY n DESC, provider LIMIT ?""", (limit,))
    return [Count(label=r[0], value=r[1]) for r in rows]


def sender_provider_cells(conn: sqlite3.Connection, senders: int = 25, providers: int = 20) -> list[Cell] | None:
    """Messages per (sender, provider) for the busiest senders and providers."""
    f = findings_sql(conn)
    if f is None:
        return None
    rows = conn.execute(f"""
        WITH pairs AS (
          SELECT {_sender_expr()} AS sender, f.provider AS provider,
                 COUNT(DISTINCT f.message_sha256) AS n
          FROM ({f}) f JOIN messages m ON m.message_sha256 = f.message_sha256
          WHERE f.provider != '' GROUP BY sender, provider),
        s AS (SELECT sender FROM pairs GROUP BY sender ORDER BY SUM(n) DESC, sender LIMIT ?),
        p AS (SELECT provider FROM pairs GROUP BY provider ORDER BY SUM(n) DESC, provider LIMIT ?)
        SELECT sender, provider, n FROM pairs
        WHERE sender IN s AND provider IN p ORDER BY sender, provider""", (senders, providers))
    return [Cell(sender=r[0], provider=r[1], messages=r[2]) for r in rows]


def leak_encodings(conn: sqlite3.Connection) -> list[Count] | None:
    if not has_table(conn, "leaks"):
        return None
    enc = pick(conn, "leaks", "encoding")
    rows = conn.execute(f"""
        SELECT COALESCE(NULLIF({enc}, ''), '(unknown)') AS e, COUNT(*) AS n FROM leaks t
        GROUP BY e ORDER BY n DESC, e""")
    return [Count(label=r[0], value=r[1]) for r in rows]


def senders(conn: sqlite3.Connection, limit: int = 50) -> list[SenderFacts]:
    """The senders with the most messages, with what tracked them (aggregated, then joined)."""
    f = findings_sql(conn) or "SELECT '' AS kind, '' AS message_sha256, '' AS provider WHERE 0"
    leaks = "SELECT message_sha256 FROM leaks" if has_table(conn, "leaks") else "SELECT '' AS message_sha256 WHERE 0"
    rows = conn.execute(f"""
        WITH fm AS MATERIALIZED (SELECT kind, message_sha256, provider FROM ({f})),
        pm AS (SELECT message_sha256, SUM(kind = 'beacon') AS b, SUM(kind = 'link') AS l
               FROM fm GROUP BY message_sha256),
        km AS (SELECT message_sha256, COUNT(*) AS k FROM ({leaks}) GROUP BY message_sha256),
        per AS MATERIALIZED (
          SELECT {_sender_expr()} AS sender, m.message_sha256, COALESCE(pm.b, 0) AS b,
                 COALESCE(pm.l, 0) AS l, COALESCE(km.k, 0) AS k
          FROM messages m LEFT JOIN pm ON pm.message_sha256 = m.message_sha256
          LEFT JOIN km ON km.message_sha256 = m.message_sha256),
        sp AS (SELECT sender, group_concat(provider, ', ') AS names FROM (
                 SELECT DISTINCT per.sender, fm.provider FROM fm JOIN per USING (message_sha256)
                 WHERE fm.provider != '' ORDER BY per.sender, fm.provider) GROUP BY sender),
        agg AS (SELECT sender, COUNT(*) AS n, SUM(b > 0) AS t, SUM(b) AS b, SUM(l) AS l,
                       SUM(k) AS k FROM per GROUP BY sender ORDER BY n DESC, sender LIMIT ?)
        SELECT agg.*, sp.names FROM agg LEFT JOIN sp USING (sender) ORDER BY n DESC, sender""",
        (limit,))
    return [SenderFacts(sender=r[0], messages=r[1], tracked=r[2] or 0, beacons=r[3] or 0,
                        links=r[4] or 0, leaks=r[5] or 0, providers=r[6] or "") for r in rows]


def providers(conn: sqlite3.Connection, limit: int = 50) -> list[ProviderFacts] | None:
    f = findings_sql(conn)
    if f is None:
        return None
    rows = conn.execute(f"""
        WITH fm AS (SELECT * FROM ({f}) WHERE provider != '')
        SELECT fm.provider, SUM(kind = 'beacon'), SUM(kind = 'link'),
               COUNT(DISTINCT fm.message_sha256), COUNT(DISTINCT lower(m.from_addr)),
               (SELECT group_concat(host, ', ') FROM (SELECT DISTINCT host FROM fm f2
                  WHERE f2.provider = fm.provider AND host != '' ORDER BY host LIMIT 12)),
               (SELECT group_concat(rule_id, ', ') FROM (SELECT DISTINCT rule_id FROM fm f3
                  WHERE f3.provider = fm.provider AND rule_id != '' ORDER BY rule_id LIMIT 12))
        FROM fm JOIN messages m ON m.message_sha256 = fm.message_sha256
        GROUP BY fm.provider ORDER BY COUNT(DISTINCT fm.message_sha256) DESC, fm.provider
        LIMIT ?""", (limit,))
    return [ProviderFacts(provider=r[0], beacons=r[1] or 0, links=r[2] or 0, messages=r[3],
                          senders=r[4], hosts=r[5] or "", rules=r[6] or "") for r in rows]


def receivers(conn: sqlite3.Connection, limit: int = 50) -> list[Receiver] | None:
    """Who received the recipient's address (provider, else host), in which encodings."""
    if not has_table(conn, "leaks"):
        return None
    who = f"COALESCE(NULLIF({pick(conn, 'leaks', 'provider')}, ''), NULLIF({pick(conn, 'leaks', 'host')}, ''), '(unknown)')"
    rows = conn.execute(f"""
        WITH k AS (SELECT {who} AS receiver, t.message_sha256 AS message_sha256,
                          {pick(conn, 'leaks', 'identity')} AS identity,
                          {pick(conn, 'leaks', 'encoding')} AS encoding FROM leaks t)
        SELECT receiver, COUNT(DISTINCT k.message_sha256), COUNT(DISTINCT lower(m.from_addr)),
               (SELECT group_concat(identity, ', ') FROM (SELECT DISTINCT identity FROM k k2
                  WHERE k2.receiver = k.receiver AND identity != '' ORDER BY identity LIMIT 10)),
               (SELECT group_concat(encoding, ', ') FROM (SELECT DISTINCT encoding FROM k k3
                  WHERE k3.receiver = k.receiver AND encoding != '' ORDER BY encoding LIMIT 10))
        FROM k LEFT JOIN messages m ON m.message_sha256 = k.message_sha256
        GROUP BY receiver ORDER BY COUNT(DISTINCT k.message_sha256) DESC, receiver LIMIT ?""", (limit,))
    return [Receiver(receiver=r[0], messages=r[1], senders=r[2], identities=r[3] or "",
                     encodings=r[4] or "") for r in rows]
