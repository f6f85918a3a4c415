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

import itertools
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, cast

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


PAIRS_SQL = """
    SELECT sender, recipient, COUNT(*) FROM message_recipients mr
    WHERE EXISTS (SELECT 1 FROM url_tokens t WHERE t.message_sha256 = mr.message_sha256)
    GROUP BY sender, recipient
"""
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
TOKENS_SQL = f"""
    SELECT t.value, t.message_sha256, t.sender, t.recipient, t.provider, t.host, t.location, t.chain,
           t.length, t.charclass, t.entropy, c.compared, c.differing
    FROM url_tokens t LEFT JOIN {COPIES_TABLE} c ON c.value = t.value
    ORDER BY t.value, t.message_sha256, t.finding_id, t.location, t.chain
"""


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
    pairs = {(s, r): n for s, r, n in conn.execute(PAIRS_SQL)}
    with conn:  # a temporary table, not a dict: memory must not grow with the case
        conn.execute(COPIES_SCHEMA)
        conn.execute(f"DELETE FROM {COPIES_TABLE}")
        conn.execute(COPIES_SQL)
    try:
        rows = (_role_row(value, list(group), pairs)
                for value, group in itertools.groupby(conn.execute(TOKENS_SQL), key=lambda r: r[0]))
        with conn:
            conn.execute(f'DELETE FROM "{TokenRoleRow.TABLE}"')
            for batch in _batches(rows, 1000):
                store.insert(batch)
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {COPIES_TABLE}")


def _batches(rows: Iterable[TokenRoleRow], size: int) -> Iterable[list[TokenRoleRow]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _role_row(
    value: str, group: list[sqlite3.Row | tuple[object, ...]],
    pairs: dict[tuple[str, str], int],
) -> TokenRoleRow:
    # One pass over the group's rows (one per occurrence): this runs for every token of the case.
    by_pair: dict[tuple[str, str], set[str]] = {}
    messages: set[object] = set()
    lists: tuple[set[str], ...] = (set(), set(), set(), set(), set())  # senders, providers, hosts, ...
    for r in group:
        sender, recipient = str(r[2]), str(r[3])
        by_pair.setdefault((sender, recipient), set()).add(str(r[1]))
        messages.add(r[1])
        for target, cell in zip(lists, (r[2], r[4], r[5], r[6], r[7] or "as written")):
            if cell:
                target.add(str(cell))
    first = group[0]
    compared, differing = int(cast(int, first[11]) or 0), int(cast(int, first[12]) or 0)
    seen = _Seen(
        messages=len(messages), recipients=len({p[1] for p in by_pair}),
        senders=len({p[0] for p in by_pair}), pair_messages=sum(pairs.get(p, 0) for p in by_pair),
        covers_pairs=all(len(m) >= pairs.get(p, 0) for p, m in by_pair.items()),
        copies_compared=compared, copies_differing=differing,
    )
    role, evidence = decide(seen)
    senders, providers, hosts, locations, chains = ("; ".join(sorted(s)) for s in lists)
    return TokenRoleRow(
        value=value, role=role, evidence=evidence, messages=seen.messages,
        recipients=seen.recipients, senders=seen.senders, pair_messages=seen.pair_messages,
        copies_compared=compared, copies_differing=differing,
        length=int(first[8]), charclass=str(first[9]), entropy=float(first[10]),
        sender_list=senders, provider_list=providers, host_list=hosts, locations=locations, chains=chains,
    )


columns.register()  # the report's data dictionary documents the token and leak exports
