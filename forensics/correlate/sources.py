"""Stage 4 (correlation): the case's evidence tables, normalised into a few temporary tables.

The graph and the metrics read beacons, links, leaks and tokens through one small
relation each, so that a column renamed by another stage is absorbed here (columns are
looked up by name, as in ``report.facts``) and the filters (sender, provider, dates) are
applied once, in SQL, before anything is aggregated:

- ``cg_messages``: ``m`` (message hash), ``sender`` (first From address, lower-case),
  ``sender_domain`` (its registered domain), ``recipient`` (whose mailbox), ``d`` (Date in
  UTC, NULL when unknown);
- ``cg_findings``: beacons and links (the tracking findings), ``kind`` ``beacon``/``link``,
  with ``host``, ``rd`` (registered domain) and ``provider``, plus the message's sender
  and date;
- ``cg_leaks``: identity leaks, with the identity (lower-case), the value written in the
  URL (``value``) and the encoding ``chain``;
- ``cg_contacts``: ``(m, rd)``, the third-party registered domains a message makes the
  reader's client contact (every remote resource, beacon or not, and every link; filled
  for the metrics only);
- ``cg_tokens``: URL tokens whose case-wide role is in ``GRAPH_TOKEN_ROLES``;
- ``cg_brokers``: identifiers of a recipient received by a third party (``BROKER_ROWS``),
  and ``cg_broker_pairs``: the (third party, recipient) pairs seen from two senders or more.

The tables live in SQLite's TEMP schema of the connection (on disk, with a bounded page
cache), so a case with a million findings is never held in Python; a read-only
connection may create them too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from forensics.domains import registered_domain

NO_SENDER = "(no sender)"
CACHE_KIB = 16 * 1024
# Roles of tokens that become graph nodes: values naming a person, a message or a campaign.
# "repeated" and "undetermined" values say too little to be drawn (they stay in url_tokens).
GRAPH_TOKEN_ROLES = ("recipient-identifier", "message-identifier", "campaign-identifier")
RECIPIENT_ROLE = "recipient-identifier"

TEMP_TABLES = ("cg_messages", "cg_findings", "cg_leaks", "cg_token_roles", "cg_tokens", "cg_contacts",
               "cg_brokers", "cg_broker_pairs", "cg_edges", "cg_nodes", "cg_node_counts", "cg_node_extras")
# The column each meaning is read from, as the stages store it (checked against the real
# schema by tests/test_report_schema.py); a column a stage drops reads as '' (see ``pick``).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "finding_id": ("finding_id",),
    "host": ("host",),
    "registered_domain": ("registered_domain",),
    "provider": ("provider",),
    "identity": ("identity",),
    "value": ("matched", "written"),  # leaks: the text equal to the identity's form, else the raw value
    "chain": ("chain",),
}
# Where beacons and links are stored: (table, kind expression). Beacons are the remote
# resources extraction flagged (``resources.is_beacon``; ``beacons.csv`` is that selection).
RESOURCES = ("resources", "CASE WHEN t.is_beacon = 1 THEN 'beacon' ELSE 'resource' END")
LINKS = ("links", "'link'")


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which evidence to correlate. Empty fields select everything.

    ``sender`` is an address (``news@shop.example``) or a registered domain
    (``shop.example``); ``provider`` a provider name (case-insensitive); ``since``/``until``
    are inclusive bounds on the message's Date (see ``utc_bound``). Messages without a
    readable Date are left out as soon as either bound is given.
    """

    sender: str = ""
    provider: str = ""
    since: str = ""
    until: str = ""


def has_table(conn: sqlite3.Connection, table: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    return found.fetchone() is not None


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f'PRAGMA main.table_info("{table}")')]


def pick(conn: sqlite3.Connection, table: str, meaning: str) -> str:
    """An SQL expression for a meaning in ``table`` (aliased ``t``): its column, or ``''``."""
    present = set(columns(conn, table))
    for name in CANDIDATES[meaning]:
        if name in present:
            return f"COALESCE(CAST(t.\"{name}\" AS TEXT), '')"
    return "''"


# Senders repeat: a few thousand cached addresses hit nearly always; ``release`` empties the
# caches, so they do not outlive the stage that filled them.
ADDRESS_CACHE = 16384


@lru_cache(maxsize=ADDRESS_CACHE)
def first_address(text: str | None) -> str:
    """The first address of a ``; ``-joined list, trimmed and lower-case."""
    return (text or "").split(";", 1)[0].strip().lower()


@lru_cache(maxsize=ADDRESS_CACHE)
def address_domain(address: str | None) -> str:
    """Registered domain of an address (``news@mail.shop.example`` -> ``shop.example``)."""
    host = (address or "").rpartition("@")[2]
    return registered_domain(host) if "@" in (address or "") else ""


class SortedSample:
    """SQL aggregate ``cg_sorted_sample(value, cap, sep)``: the smallest ``cap`` distinct values,
    sorted and joined: the same text whatever order SQLite feeds the rows in."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.cap = 0
        self.sep = "; "

    def step(self, value: object, cap: int, sep: str) -> None:
        if value is None or value == "":
            return
        self.cap, self.sep = cap, sep
        self.values.add(str(value))
        if len(self.values) > 4 * cap:  # memory stays bounded on huge groups
            self.values = set(sorted(self.values)[:cap])

    def finalize(self) -> str:
        return self.sep.join(sorted(self.values)[: self.cap])


def install_functions(conn: sqlite3.Connection) -> None:
    """SQL functions the queries use (pure, so SQLite may treat them as deterministic)."""
    conn.create_function("cg_first_address", 1, first_address, deterministic=True)
    conn.create_function("cg_address_domain", 1, address_domain, deterministic=True)
    conn.create_function("cg_registered_domain", 1, lambda h: registered_domain(h or ""), deterministic=True)
    # typeshed's protocol for aggregates has one argument and an integer result only
    conn.create_aggregate("cg_sorted_sample", 3, SortedSample)  # type: ignore[arg-type]


def _finding_sources(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    found = [RESOURCES] if has_beacon_source(conn) else []
    return found + ([LINKS] if has_table(conn, "links") else [])


def findings_sql(conn: sqlite3.Connection, *, contacts: bool = False) -> str | None:
    """Beacons and links as one relation ``(kind, f, m, host, rd, provider)``; None without either.

    With ``contacts``, remote resources that are not beacons are included too, as kind
    ``resource`` (every host a message makes the reader's client contact).
    """
    parts = _finding_parts(conn, contacts=contacts)
    return " UNION ALL ".join(parts) if parts else None


def _finding_parts(conn: sqlite3.Connection, *, contacts: bool) -> list[str]:
    """``findings_sql``'s relation, one SELECT per source table (resources, then links)."""
    parts = []
    for table, kind in _finding_sources(conn):
        host = f"lower({pick(conn, table, 'host')})"
        domain = pick(conn, table, "registered_domain")
        where = " WHERE kind != 'resource'" if not contacts and table == "resources" else ""
        parts.append(
            f"SELECT * FROM (SELECT {kind} AS kind, {pick(conn, table, 'finding_id')} AS f, t.message_sha256 AS m, "
            f"{host} AS host, COALESCE(NULLIF({domain}, ''), cg_registered_domain({host})) AS rd, "
            f"{pick(conn, table, 'provider')} AS provider FROM \"{table}\" t){where}"
        )
    return parts


def _joined_per_source(conn: sqlite3.Connection, select: str, where: str, *, contacts: bool) -> str | None:
    """``SELECT {select} FROM (findings) x JOIN cg_messages c ... WHERE {where}``, written as one
    join per source table, UNION ALL: a join over the union itself first copies every finding
    into a temporary table (SQLite materializes a compound subquery it joins); per source,
    the rows stream. Same rows, in the same order (each source scanned in turn)."""
    parts = _finding_parts(conn, contacts=contacts)
    joined = [f"SELECT {select} FROM ({part}) x JOIN cg_messages c ON c.m = x.m WHERE {where}" for part in parts]
    return " UNION ALL ".join(joined) if joined else None


def has_beacon_source(conn: sqlite3.Connection) -> bool:
    """Whether the case says which resources are beacons (else prevalence is unknown, not 0)."""
    return has_table(conn, "resources") and "is_beacon" in columns(conn, "resources")


def _drop(conn: sqlite3.Connection) -> None:
    for name in TEMP_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")


def utc_bound(text: str, *, end: bool) -> str:
    """A date bound as the case writes dates (``2024-03-01T00:00:00Z``), inclusive.

    ``2024-03-01`` means the whole day, ``2024-03`` the whole month (the start for a lower
    bound, the end for an upper one); a time with an offset is converted to UTC.

    Raises:
        ValueError: not an ISO 8601 date or time.
    """
    try:
        return _utc_bound(text.strip(), end=end)
    except ValueError as e:
        raise ValueError(f"not a date or time (YYYY-MM-DD, YYYY-MM or ISO 8601): {text!r}") from e


def _utc_bound(value: str, *, end: bool) -> str:
    if len(value) == 7:  # YYYY-MM
        start = datetime.strptime(value, "%Y-%m")
        if not end:
            return start.strftime("%Y-%m-%dT%H:%M:%SZ")
        nxt = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return (nxt - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if len(value) == 10:
        day = date.fromisoformat(value)
        return f"{day.isoformat()}T{'23:59:59' if end else '00:00:00'}Z"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _message_filter(sel: Selection) -> tuple[str, list[str]]:
    clauses, params = ["1"], []
    if sel.sender:
        column = "sender" if "@" in sel.sender else "sender_domain"
        clauses.append(f"{column} = ?")
        params.append(sel.sender.strip().lower())
    if sel.since:
        clauses.append("d >= ?")
        params.append(utc_bound(sel.since, end=False))
    if sel.until:
        clauses.append("d <= ?")
        params.append(utc_bound(sel.until, end=True))
    return " AND ".join(clauses), params


def _create_messages(conn: sqlite3.Connection, sel: Selection) -> None:
    recipients = has_table(conn, "message_recipients")
    recipient = "COALESCE(NULLIF(lower(mr.recipient), ''), " if recipients else "COALESCE("
    recipient += "NULLIF(cg_first_address(x.delivered_to), ''), cg_first_address(x.to_addrs))"
    join = "LEFT JOIN message_recipients mr ON mr.message_sha256 = x.message_sha256" if recipients else ""
    where, params = _message_filter(sel)
    conn.execute(f"""
        CREATE TEMP TABLE cg_messages AS SELECT * FROM (
          SELECT x.message_sha256 AS m,
                 COALESCE(NULLIF(cg_first_address(x.from_addr), ''), '{NO_SENDER}') AS sender,
                 cg_address_domain(cg_first_address(x.from_addr)) AS sender_domain,
                 {recipient} AS recipient, NULLIF(x.date_utc, '') AS d
          FROM messages x {join}) WHERE {where} ORDER BY m""", params)
    conn.execute("CREATE UNIQUE INDEX temp.cg_messages_m ON cg_messages (m)")


def _provider_clause(sel: Selection, column: str) -> tuple[str, list[str]]:
    return (f" AND lower({column}) = ?", [sel.provider.strip().lower()]) if sel.provider else ("", [])


def _create_findings(conn: sqlite3.Connection, sel: Selection) -> None:
    clause, params = _provider_clause(sel, "x.provider")
    columns = "x.kind, x.f, x.m, x.host, x.rd, x.provider, c.sender, c.sender_domain, c.d"
    source = _joined_per_source(conn, columns, f"1{clause}", contacts=False)
    if source is None:  # neither beacons nor links: the same columns, no rows
        source = f"SELECT {columns} FROM (SELECT '' AS kind, '' AS f, '' AS m, '' AS host, '' AS rd, " \
                 "'' AS provider WHERE 0) x JOIN cg_messages c ON c.m = x.m"
        params = []
    # each source has its own WHERE, so the clause's parameter is given once per source
    conn.execute(f"CREATE TEMP TABLE cg_findings AS {source}", params * max(1, len(_finding_sources(conn))))


def _create_contacts(conn: sqlite3.Connection, *, enabled: bool) -> None:
    where = "x.rd != '' AND x.rd != c.sender_domain"
    source = (_joined_per_source(conn, "x.m, x.rd", where, contacts=True) if enabled else None) \
        or "SELECT '' AS m, '' AS rd WHERE 0"
    conn.execute(f"CREATE TEMP TABLE cg_contacts AS SELECT DISTINCT m, rd FROM ({source})")


def _create_leaks(conn: sqlite3.Connection, sel: Selection) -> None:
    if not has_table(conn, "leaks"):
        conn.execute("CREATE TEMP TABLE cg_leaks (f, m, host, rd, provider, identity, value, chain, sender, sender_domain, d)")
        return
    clause, params = _provider_clause(sel, pick(conn, "leaks", "provider"))
    host = f"lower({pick(conn, 'leaks', 'host')})"
    conn.execute(f"""
        CREATE TEMP TABLE cg_leaks AS
        SELECT {pick(conn, 'leaks', 'finding_id')} AS f, t.message_sha256 AS m, {host} AS host,
               COALESCE(NULLIF({pick(conn, 'leaks', 'registered_domain')}, ''), cg_registered_domain({host})) AS rd,
               {pick(conn, 'leaks', 'provider')} AS provider, lower(trim({pick(conn, 'leaks', 'identity')})) AS identity,
               {pick(conn, 'leaks', 'value')} AS value,
               COALESCE(NULLIF({pick(conn, 'leaks', 'chain')}, ''), 'plain') AS chain,
               c.sender, c.sender_domain, c.d
        FROM leaks t JOIN cg_messages c ON c.m = t.message_sha256 WHERE 1{clause}""", params)


def _create_tokens(conn: sqlite3.Connection, sel: Selection, token_roles: tuple[str, ...]) -> None:
    if not (has_table(conn, "url_tokens") and has_table(conn, "tokens")):
        conn.execute("CREATE TEMP TABLE cg_tokens (f, m, host, rd, provider, value, role, recipient, sender, sender_domain, d)")
        return
    clause, params = _provider_clause(sel, "t.provider")
    roles = ", ".join(f"'{r}'" for r in token_roles)
    # The values of those roles first (the metrics read only the recipient identifiers: 3 of
    # the 64 MB generated case's 75,016 values), then the occurrences scanned once against
    # that table; joined to ``tokens`` itself, every occurrence cost a look-up among all the
    # values (0.34-0.50 s -> 0.15-0.18 s CPU there). The scan, and so the row order, is the same.
    conn.execute(f"CREATE TEMP TABLE cg_token_roles AS SELECT value, role FROM tokens WHERE role IN ({roles})")
    conn.execute("CREATE UNIQUE INDEX temp.cg_token_roles_value ON cg_token_roles (value)")
    conn.execute(f"""
        CREATE TEMP TABLE cg_tokens AS
        SELECT DISTINCT t.finding_id AS f, t.message_sha256 AS m, lower(t.host) AS host,
               COALESCE(NULLIF(t.registered_domain, ''), cg_registered_domain(t.host)) AS rd,
               COALESCE(t.provider, '') AS provider, t.value, r.role,
               COALESCE(NULLIF(lower(t.recipient), ''), c.recipient) AS recipient,
               c.sender, c.sender_domain, c.d
        FROM url_tokens t CROSS JOIN cg_token_roles r ON r.value = t.value JOIN cg_messages c ON c.m = t.message_sha256
        WHERE 1{clause}""", params)


# The data-broker view: a third party (provider, else registered domain) that receives an
# identifier of one recipient (a leak of their address, or a recipient-identifier token)
# from several senders. Rows where the receiver is the sender's own domain (and no
# provider is named) are first-party and left out.
_RECEIVER = "COALESCE(NULLIF(provider, ''), NULLIF(rd, ''), host)"
BROKER_ROWS = f"""
    SELECT {_RECEIVER} AS receiver, identity AS recipient, sender, m, d, 'leak' AS via, value, f
    FROM cg_leaks WHERE identity != '' AND NOT (provider = '' AND rd = sender_domain)
    UNION ALL
    SELECT {_RECEIVER}, recipient, sender, m, d, 'token', value, f
    FROM cg_tokens WHERE role = '{RECIPIENT_ROLE}' AND recipient != '' AND NOT (provider = '' AND rd = sender_domain)
"""


def _create_brokers(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE TEMP TABLE cg_brokers AS SELECT * FROM ({BROKER_ROWS}) WHERE receiver != ''")
    conn.execute("""CREATE TEMP TABLE cg_broker_pairs AS SELECT receiver, recipient FROM cg_brokers
                    GROUP BY receiver, recipient HAVING COUNT(DISTINCT sender) >= 2""")


def prepare(
    conn: sqlite3.Connection, sel: Selection = Selection(), *, contacts: bool = False,
    token_roles: tuple[str, ...] = GRAPH_TOKEN_ROLES, before_findings: Callable[[], None] = lambda: None,
    before_tokens: Callable[[], None] = lambda: None,
) -> None:
    """(Re)create the ``cg_*`` temporary tables for a selection of the case's evidence.

    With a provider, only that provider's findings, leaks and tokens are kept, and only
    the messages that carry at least one of them. ``cg_contacts`` (every third party a
    message contacts, for the metrics) is only filled when asked for: the graph does not
    need it. ``cg_tokens`` holds the tokens of ``token_roles``: the metrics read only the
    recipient identifiers (through ``cg_brokers``), the graph all of ``GRAPH_TOKEN_ROLES``.
    The beacons' verdicts (``resources.is_beacon``) are read after ``before_findings()``
    returns, the ``tokens`` table (the roles) last, after ``before_tokens()``: the metrics
    finalizer waits there for what other finalizers judge meanwhile (the messages, leaks
    and contacts, which need neither, are made first), and no transaction of this
    connection is open at those points (a snapshot taken earlier would not see them).
    """
    install_functions(conn)
    # Sorts and index lookups over a million rows: a bounded page cache for the case and
    # for the temporary tables (SQLite's sorters may each use as much again).
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    conn.execute(f"PRAGMA temp.cache_size=-{CACHE_KIB}")
    _drop(conn)
    _create_messages(conn, sel)
    _create_leaks(conn, sel)
    _create_contacts(conn, enabled=contacts)  # every resource, beacon or not: no verdict read
    before_findings()
    _create_findings(conn, sel)
    for name in ("cg_findings", "cg_leaks", "cg_contacts"):
        conn.execute(f"CREATE INDEX temp.{name}_m ON {name} (m)")
    before_tokens()
    _create_tokens(conn, sel, token_roles)
    conn.execute("CREATE INDEX temp.cg_tokens_m ON cg_tokens (m)")
    if sel.provider:
        conn.execute("""DELETE FROM cg_messages WHERE m NOT IN (
            SELECT m FROM cg_findings UNION SELECT m FROM cg_leaks UNION SELECT m FROM cg_tokens)""")
    _create_brokers(conn)


def release(conn: sqlite3.Connection) -> None:
    """Drop the temporary tables (their disk space is freed at once) and empty the address caches."""
    _drop(conn)
    first_address.cache_clear()
    address_domain.cache_clear()
