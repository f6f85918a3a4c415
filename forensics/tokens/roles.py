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
from typing import ClassVar

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
# URL slot, same place and decoding in that URL.
COPIES_SQL = """
    SELECT ta.value, COUNT(*), SUM(ta.value <> tb.value)
    FROM message_recipients a
    JOIN message_recipients b ON b.sender = a.sender AND b.body_shape = a.body_shape
         AND b.recipient <> a.recipient AND b.message_sha256 <> a.message_sha256
    JOIN url_tokens ta ON ta.message_sha256 = a.message_sha256
    JOIN url_tokens tb ON tb.message_sha256 = b.message_sha256 AND tb.slot = ta.slot
         AND tb.location = ta.location AND tb.chain = ta.chain
    WHERE a.body_shape <> ''
    GROUP BY ta.value
"""
TOKENS_SQL = """
    SELECT value, message_sha256, sender, recipient, provider, host, location, chain,
           length, charclass, entropy
    FROM url_tokens ORDER BY value, message_sha256, finding_id, location, chain
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
    copies = {v: (n, d) for v, n, d in conn.execute(COPIES_SQL)}
    rows = (_role_row(value, list(group), pairs, copies)
            for value, group in itertools.groupby(conn.execute(TOKENS_SQL), key=lambda r: r[0]))
    with conn:
        conn.execute(f'DELETE FROM "{TokenRoleRow.TABLE}"')
        for batch in _batches(rows, 1000):
            store.insert(batch)


def _batches(rows: Iterable[TokenRoleRow], size: int) -> Iterable[list[TokenRoleRow]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _role_row(
    value: str, group: list[sqlite3.Row | tuple[object, ...]],
    pairs: dict[tuple[str, str], int], copies: dict[str, tuple[int, int]],
) -> TokenRoleRow:
    by_pair: dict[tuple[str, str], set[str]] = {}
    for r in group:
        by_pair.setdefault((str(r[2]), str(r[3])), set()).add(str(r[1]))
    compared, differing = copies.get(value, (0, 0))
    seen = _Seen(
        messages=len({r[1] for r in group}), recipients=len({r[3] for r in group}),
        senders=len({r[2] for r in group}), pair_messages=sum(pairs.get(p, 0) for p in by_pair),
        covers_pairs=all(len(m) >= pairs.get(p, 0) for p, m in by_pair.items()),
        copies_compared=compared, copies_differing=differing or 0,
    )
    role, evidence = decide(seen)
    first = group[0]
    return TokenRoleRow(
        value=value, role=role, evidence=evidence, messages=seen.messages,
        recipients=seen.recipients, senders=seen.senders, pair_messages=seen.pair_messages,
        copies_compared=compared, copies_differing=differing or 0,
        length=int(first[8]), charclass=str(first[9]), entropy=float(first[10]),
        sender_list=_joined(r[2] for r in group), provider_list=_joined(r[4] for r in group),
        host_list=_joined(r[5] for r in group), locations=_joined(r[6] for r in group),
        chains=_joined(r[7] or "as written" for r in group),
    )


def _joined(values: Iterable[object]) -> str:
    return "; ".join(sorted({str(v) for v in values if v}))


columns.register()  # the report's data dictionary documents the token and leak exports
