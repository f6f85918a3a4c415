"""Stage 4 (tokens): what each token identifies, judged across the whole case.

A token is one decoded value (``url_tokens.value``). Its role comes from where it
occurs, in this order of precedence:

1. ``campaign-identifier``: the value reached several recipients (several custodians'
   mailboxes, or several addresses). This includes values constant for a whole
   sender, such as an ESP account id.
2. ``recipient-identifier`` (constant): one recipient, at least two messages, and the
   value is in every message (with URLs) that each of its senders sent this recipient.
   With a single recipient in the case, a sender-wide constant looks like this too:
   the evidence counts say how much was seen.
3. ``message-identifier``: in exactly one message, while its sender sent this
   recipient other messages that do not carry it.
4. ``recipient-identifier`` (copies): nothing else from that sender to compare with,
   but two copies of the same newsletter (same sender, same body shape, see
   ``rows.body_shape``) went to different recipients and, at the same place of the
   same URL, carry different values — the cross-recipient comparison PrivacyMail ran
   with test accounts, done offline on the evidence.
5. ``repeated``: one recipient, several but not all of a sender's messages.
6. ``undetermined``: one message, and nothing from that sender to compare it with.

The stage recomputes the whole table from the stored rows each time, so it is
idempotent and gives the same result however the case was built up.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
from dataclasses import dataclass
from typing import Any, ClassVar

from forensics.analyse import Settings
from forensics.records import Row
from forensics.store import Store, register
from forensics.tokens import columns


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRoleRow(Row):
    """One token value and what it identifies across the case, with the evidence."""

    TABLE: ClassVar[str] = "tokens"
    KEY: ClassVar[tuple[str, ...]] = ("value",)
    value: str
    role: str
    evidence: str
    messages: int
    recipients: int
    senders: int
    pair_messages: int  # messages (with URLs) its senders sent its recipients
    copies_compared: int
    copies_differing: int
    length: int
    charclass: str
    entropy: float
    sender_list: str
    provider_list: str
    host_list: str
    locations: str
    chains: str


# Messages with URLs per (sender, recipient) pair: a temporary table, not a dict, so memory
# does not grow with the number of pairs in the case.
PAIRS_TABLE = "temp.token_pairs"
PAIRS_SCHEMA = f"CREATE TABLE IF NOT EXISTS {PAIRS_TABLE} (sender TEXT, recipient TEXT, n INTEGER)"
PAIRS_SQL = f"""
    INSERT INTO {PAIRS_TABLE}
    SELECT sender, recipient, COUNT(*) FROM message_recipients mr
    WHERE EXISTS (SELECT 1 FROM url_tokens t WHERE t.message_sha256 = mr.message_sha256)
    GROUP BY sender, recipient
"""
PAIRS_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS temp.token_pairs_key ON token_pairs (sender, recipient)"
# Aligned tokens of two copies: same sender and body shape, different recipients, same
# URL slot, same place and decoding in that URL. Counted per place instead of pairing
# the copies (a self-join is quadratic in the copies of one newsletter): for a token of
# value v sent to recipient r at place K, the copies it is compared with are the tokens
# at K sent to another recipient (N(K) - N(K,r)), and those that differ are the ones
# with another value too (N(K) - N(K,r) - N(K,v) + N(K,r,v)). A message has one
# recipient, so "another recipient" is also "another message".
COPIES_TABLE = "temp.token_copies"
COPIES_SCHEMA = f"""
    CREATE TABLE IF NOT EXISTS {COPIES_TABLE}
        (value TEXT PRIMARY KEY, compared INTEGER, differing INTEGER) WITHOUT ROWID
"""
COPIES_SQL = f"""
    INSERT INTO {COPIES_TABLE}
    WITH shapes AS (
        SELECT message_sha256, sender, body_shape, recipient,
               MIN(recipient) OVER shape AS first_to, MAX(recipient) OVER shape AS last_to
        FROM message_recipients WHERE body_shape <> ''
        WINDOW shape AS (PARTITION BY sender, body_shape)
    ), cells AS (
        SELECT m.sender, m.body_shape, t.slot, t.location, t.chain, m.recipient, t.value, COUNT(*) AS n
        FROM shapes m JOIN url_tokens t ON t.message_sha256 = m.message_sha256
        WHERE m.first_to <> m.last_to  -- copies that went to one recipient only compare with nothing
        GROUP BY m.sender, m.body_shape, t.slot, t.location, t.chain, m.recipient, t.value
    ), counted AS (
        SELECT value, n,
               SUM(n) OVER (PARTITION BY sender, body_shape, slot, location, chain) AS place,
               SUM(n) OVER (PARTITION BY sender, body_shape, slot, location, chain, recipient) AS place_to,
               SUM(n) OVER (PARTITION BY sender, body_shape, slot, location, chain, value) AS place_value
        FROM cells
    )
    SELECT value, SUM(n * (place - place_to)) AS compared,
           SUM(n * (place - place_to - place_value + n)) AS differing
    FROM counted GROUP BY value HAVING compared > 0
"""
# Every occurrence with its pair's message count (looked up in SQL) and its copy counts,
# grouped by value: only the columns the roles read, so the sort stays narrow.
TOKENS_SQL = f"""
    SELECT t.value, t.message_sha256, t.sender, t.recipient, COALESCE(p.n, 0), t.provider, t.host,
           t.location, COALESCE(NULLIF(t.chain, ''), 'as written'), t.length, t.charclass, t.entropy,
           COALESCE(c.compared, 0), COALESCE(c.differing, 0)
    FROM url_tokens t LEFT JOIN {PAIRS_TABLE} p ON p.sender = t.sender AND p.recipient = t.recipient
    LEFT JOIN {COPIES_TABLE} c ON c.value = t.value
    ORDER BY t.value
"""
# The role rows, made while url_tokens is read, then copied into tokens in a transaction of
# their own: another finalizer may write the case meanwhile (pipeline.run_finalizers), and
# a transaction that has read an older state of the case cannot start writing it.
ROLES_TABLE = "temp.token_roles"
TEMP_TABLES = (PAIRS_TABLE, COPIES_TABLE, ROLES_TABLE)
# Columns of TOKENS_SQL: the message, its pair, and the lists a role row names (senders,
# providers, hosts, locations, chains: distinct, non-empty, sorted).
_MESSAGE, _SENDER, _RECIPIENT, _PAIR_N = 1, 2, 3, 4
_LENGTH, _CLASS, _ENTROPY, _COMPARED, _DIFFERING = 9, 10, 11, 12, 13
_LISTS = (2, 5, 6, 7, 8)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Seen:
    messages: int
    recipients: int
    senders: int
    pair_messages: int
    covers_pairs: bool  # in every message of each (sender, recipient) pair it occurs in
    copies_compared: int
    copies_differing: int


def decide(seen: _Seen) -> tuple[str, str]:
    """``(role, evidence)`` from the counts (precedence as in the module docstring)."""
    copies = (f"; differs between copies sent to different recipients "
              f"({seen.copies_differing} of {seen.copies_compared} comparisons)"
              if seen.copies_differing else "")
    if seen.recipients > 1:
        return "campaign-identifier", f"shared by {seen.recipients} recipients"
    if seen.messages > 1 and seen.covers_pairs:
        return "recipient-identifier", (
            f"in all {seen.messages} messages its sender(s) sent this recipient{copies}")
    if seen.messages == 1 and seen.pair_messages > 1:
        return "message-identifier", (
            f"in 1 of {seen.pair_messages} messages from its sender to this recipient{copies}")
    if seen.copies_differing:
        return "recipient-identifier", copies.removeprefix("; ")
    if seen.messages > 1:
        return "repeated", f"in {seen.messages} of {seen.pair_messages} messages from its sender(s)"
    return "undetermined", "one message, nothing from the same sender to compare with"


def assign_roles(store: Store, settings: Settings) -> None:  # noqa: ARG001 - finalizer signature
    """Recompute ``token_roles`` from ``url_tokens`` and ``message_recipients``."""
    conn = store.conn
    fields = [f.name for f in dataclasses.fields(TokenRoleRow)]
    names, marks = ", ".join(fields), ", ".join("?" for _ in fields)
    try:
        with conn:  # temporary tables, not dicts: memory must not grow with the case
            for table in TEMP_TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            for sql in (PAIRS_SCHEMA, PAIRS_INDEX, COPIES_SCHEMA, PAIRS_SQL, COPIES_SQL,
                        f'CREATE TABLE {ROLES_TABLE} AS SELECT {names} FROM "{TokenRoleRow.TABLE}" WHERE 0'):
                conn.execute(sql)
            groups = itertools.groupby(conn.execute(TOKENS_SQL), key=operator.itemgetter(0))
            # Streamed: each value's row is made as it is stored, from its occurrences alone.
            conn.executemany(f"INSERT INTO {ROLES_TABLE} VALUES ({marks})",
                             (_role_values(list(group)) for _, group in groups))
        with conn:
            conn.execute(f'DELETE FROM "{TokenRoleRow.TABLE}"')
            conn.execute(f'INSERT OR IGNORE INTO "{TokenRoleRow.TABLE}" ({names}) '
                         f"SELECT {names} FROM {ROLES_TABLE} ORDER BY rowid")
    finally:
        for table in TEMP_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


Occurrence = tuple[Any, ...]  # a row of TOKENS_SQL


def _role_values(group: list[Occurrence]) -> tuple[object, ...]:
    """A ``TokenRoleRow``'s columns, in field order, from one value's occurrences."""
    first = group[0]
    if len(group) == 1:  # most values: one place in one message, nothing to merge
        role, evidence = _decide_once(first[_PAIR_N], first[_COMPARED], first[_DIFFERING])
        return (first[0], role, evidence, 1, 1, 1, first[_PAIR_N], first[_COMPARED], first[_DIFFERING],
                first[_LENGTH], first[_CLASS], first[_ENTROPY], *(first[k] or "" for k in _LISTS))
    seen = _seen(group)
    role, evidence = decide(seen)
    lists = ("; ".join(sorted({str(r[k]) for r in group if r[k]})) for k in _LISTS)
    return (first[0], role, evidence, seen.messages, seen.recipients, seen.senders, seen.pair_messages,
            seen.copies_compared, seen.copies_differing, first[_LENGTH], first[_CLASS], first[_ENTROPY], *lists)


@functools.lru_cache(maxsize=1024)  # few distinct (pair size, copy counts): the same decision again
def _decide_once(pair_messages: int, compared: int, differing: int) -> tuple[str, str]:
    return decide(_Seen(messages=1, recipients=1, senders=1, pair_messages=pair_messages,
                        covers_pairs=pair_messages <= 1, copies_compared=compared, copies_differing=differing))


def _seen(group: list[Occurrence]) -> _Seen:
    by_pair: dict[tuple[str, str], set[str]] = {}  # this value's pairs only: a handful
    counts: dict[tuple[str, str], int] = {}
    for r in group:
        pair = (str(r[_SENDER]), str(r[_RECIPIENT]))
        by_pair.setdefault(pair, set()).add(r[_MESSAGE])
        counts[pair] = r[_PAIR_N]
    first = group[0]
    return _Seen(
        messages=len({r[_MESSAGE] for r in group}), recipients=len({p[1] for p in by_pair}),
        senders=len({p[0] for p in by_pair}), pair_messages=sum(counts.values()),
        covers_pairs=all(len(m) >= counts[p] for p, m in by_pair.items()),
        copies_compared=first[_COMPARED], copies_differing=first[_DIFFERING],
    )


columns.register()  # the report's data dictionary documents the token and leak exports
