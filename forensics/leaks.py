"""Stage 3 (leaks): the recipient's address carried by a URL, plain, encoded or hashed.

Identities are the addresses a message was delivered to (To, Cc, Delivered-To,
X-Original-To, Envelope-To) plus the ``--identity`` addresses, minus the sender's
own addresses (From, Sender, Reply-To, Return-Path, List-Post): a newsletter that
links to its own reply address leaks nothing about the recipient.

For each identity the variants (as written, trimmed, lower-case, plus-tag removed,
local part alone) are turned once into every form worth looking for: plain,
URL-encoded, base64 (standard or URL-safe, padded or not), hex, and digests (the
hashes Englehardt et al., PrivacyMail and Leaky Forms report, see ``CRYPTO`` and
``_checksums``) including a hash of a hash to three layers. The forms go into a dict
(cached per identity, and per set of identities), so the work per URL is one dict
lookup per decoded token, whatever the number of forms. Encodings stacked on top
of a form (base64 of a hex digest, of raw digest bytes, upper-case hex, URL-encoding
twice) are undone on the token side (``forensics.tokens.decode``), and both sides
use the same step names, so a chain reads the same whichever side explains it.
Plain addresses inside longer text are found by pulling address-shaped substrings
(and digest-length hex runs) out of each token and looking those up, not by
searching every form in every URL.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from functools import lru_cache
from typing import ClassVar
from urllib.parse import quote

import mmh3

from forensics.analyse import MessageContext, Settings
from forensics.domains import registered_domain
from forensics.parse import simple_addresses
from forensics.providers import attribute_url, sender_domain
from forensics.records import FoundUrl, Message, Row
from forensics.store import register
from forensics.tokens.decode import DIGEST_HEX
from forensics.tokens.split import Token, is_web_url, url_tokens

# Local parts shorter than this, or naming a role rather than a person, are not looked
# for alone: "info" or "sales" would match ordinary words in every newsletter's URLs.
# A local part alone is only looked for encoded or hashed, never as the bare word (or
# its URL-encoding): real list mail puts words like "history" or "enews", which are
# also the list's address, in its paths.
MIN_LOCAL = 5
ROLE_LOCALS = frozenset({
    "admin", "billing", "contact", "customer", "enquiries", "events", "hello", "help", "hostmaster",
    "info", "mail", "mailer", "marketing", "media", "news", "newsletter", "noreply", "no-reply",
    "office", "orders", "postmaster", "press", "privacy", "reply", "root", "sales", "security",
    "service", "support", "team", "test", "undisclosed-recipients", "unsubscribe", "webmaster",
})
_HASHLIB_NAMES = {  # our step name -> hashlib name, in the order they are tried
    "md5": "md5", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256", "sha384": "sha384",
    "sha512": "sha512", "sha3-224": "sha3_224", "sha3-256": "sha3_256", "sha3-384": "sha3_384",
    "sha3-512": "sha3_512", "ripemd160": "ripemd160",
}
LIKELY = ("md5", "sha1", "sha256", "sha512")  # Leaky Forms' short list: the third layer uses only these
_ADDRESS = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,128}(?![0-9A-Fa-f])")
_SOURCE_ORDER = ("identity", "delivered-to", "to", "cc")
# Mass mail can show hundreds of recipients. The first MAX_DEEP identities of a message
# (``--identity`` first, then Delivered-To, To, Cc) get every form; the others get the
# direct forms only (plain, encodings, checksums, one hash), about a seventh of the cost.
MAX_DEEP = 16
# A message shown to more people than this cannot be personalised for each of them (all
# copies share one body); beyond it only the first MAX_IDENTITIES, in the order above,
# are looked for. This also bounds the memory of the cached lookup tables.
MAX_IDENTITIES = 64
_WORD_STEPS = frozenset({(), ("url",)})
_MERGE_FROM = 4  # identities per message above which their forms are merged into one dict


def _available(names: dict[str, str]) -> dict[str, str]:
    """The digests this Python offers offline (RIPEMD-160 depends on the OpenSSL build)."""
    usable: dict[str, str] = {}
    for ours, theirs in names.items():
        try:
            hashlib.new(theirs, b"")
        except ValueError:
            continue
        usable[ours] = theirs
    return usable


CRYPTO = _available(_HASHLIB_NAMES)
_DIGEST_LENGTHS = frozenset(2 * hashlib.new(name).digest_size for name in CRYPTO.values())  # hex digits
_LOWER_HEX = re.compile(r"[0-9a-f]+")


# ---------------------------------------------------------------- identities


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """One address of the recipient, as first written, and where the message names it."""

    address: str
    key: str  # trimmed, lower-case: two spellings of one address are one identity
    sources: tuple[str, ...]


def _addresses_in(values: Sequence[str]) -> list[str]:
    return [a for _, a in _address_list(list(values)) if "@" in a]


def _address_list(values: list[str]) -> list[tuple[str, str]]:
    """``email.utils.getaddresses(values)``, through the parser's fast path for plain lists
    (the stdlib reads character by character: it was half the cost of a message's identities)."""
    pairs = simple_addresses(values)
    return getaddresses(values) if pairs is None else pairs


def sender_addresses(message: Message) -> frozenset[str]:
    """Addresses that belong to the sender side of a message, lower-case."""
    found = [a.address for a in (*message.from_, *message.sender, *message.reply_to)]
    if message.return_path:
        found.append((_address_list([message.return_path]) or [("", "")])[0][1])  # as parseaddr
    for value in message.header_values("List-Post"):
        found += [m.group().removeprefix("mailto:") for m in re.finditer(r"mailto:[^>\s,]+", value)]
    return frozenset(a.strip().lower() for a in found if "@" in a)


# The last message's identities: the token and leak stages both ask, one after the other.
_LAST: list[tuple[Message, tuple[str, ...], tuple[Identity, ...]]] = []


def message_identities(message: Message, settings: Settings) -> tuple[Identity, ...]:
    """The recipient's identities for this message, ``--identity`` ones first."""
    if _LAST and _LAST[0][0] is message and _LAST[0][1] == settings.identities:
        return _LAST[0][2]
    found = _message_identities(message, settings)
    _LAST[:] = [(message, settings.identities, found)]
    return found


def _message_identities(message: Message, settings: Settings) -> tuple[Identity, ...]:
    listed: list[tuple[str, str]] = [(a, "identity") for a in settings.identities]
    listed += [(a, "delivered-to") for a in _addresses_in(message.delivered_to)]
    listed += [(a.address, "to") for a in message.to] + [(a.address, "cc") for a in message.cc]
    senders = sender_addresses(message)
    order: list[str] = []
    first: dict[str, str] = {}
    sources: dict[str, set[str]] = {}
    for written, source in listed:
        key = written.strip().lower()
        if "@" not in key or key.startswith("@") or key in senders:
            continue
        if key not in first:
            order.append(key)
            first[key] = written
        sources.setdefault(key, set()).add(source)
    return tuple(
        Identity(address=first[k], key=k, sources=tuple(s for s in _SOURCE_ORDER if s in sources[k]))
        for k in order[:MAX_IDENTITIES]
    )


def recipient_key(identities: Sequence[Identity], settings: Settings) -> str:
    """The one address that says whose mailbox a message is in (for token roles)."""
    for wanted in ("identity", "delivered-to", "to", "cc"):
        for ident in identities:
            in_headers = any(s != "identity" for s in ident.sources)
            if wanted in ident.sources and (wanted != "identity" or in_headers):
                return ident.key
    if len(settings.identities) == 1:  # a one-person mailbox: Bcc'd mail is still theirs
        return settings.identities[0].strip().lower()
    return ""


# ---------------------------------------------------------------- forms


def identity_variants(address: str) -> list[tuple[str, str]]:
    """``(variant name, text)``: as written, trimmed, lower-case, without +tag, local part."""
    trimmed = address.strip()
    lower = trimmed.lower()
    local, _, domain = lower.rpartition("@")
    bare_local = local.split("+", 1)[0]
    found = [("as-written", address), ("trimmed", trimmed), ("lower", lower),
             ("no-plus", f"{bare_local}@{domain}")]
    found += [("local", x) for x in (local,) if _local_is_distinctive(x)]
    found += [("local-no-plus", x) for x in (bare_local,) if _local_is_distinctive(x)]
    seen: set[str] = set()
    variants: list[tuple[str, str]] = []
    for name, text in found:
        if text and text not in seen:  # each text once, under its first name
            seen.add(text)
            variants.append((name, text))
    return variants


def _local_is_distinctive(local: str) -> bool:
    return len(local) >= MIN_LOCAL and local not in ROLE_LOCALS and not local.isdigit()


def _digest(name: str, text: str) -> str:
    return hashlib.new(CRYPTO[name], text.encode("utf-8")).hexdigest()


def _encodings(text: str) -> Iterator[tuple[str, str]]:
    yield "url", quote(text, safe="")
    yield from _binary_encodings(text)


def _binary_encodings(text: str) -> Iterator[tuple[str, str]]:
    """Base64 (four kinds) and hex: their lengths follow from the text's (``_encoded_lengths``)."""
    data = text.encode("utf-8")
    std, url = base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()
    yield "base64", std
    yield "base64-nopad", std.rstrip("=")
    yield "base64url", url
    yield "base64url-nopad", url.rstrip("=")
    yield "hex", data.hex()


def _checksums(text: str) -> Iterator[tuple[str, str]]:
    """The non-cryptographic hashes Englehardt et al. looked for, in hex and decimal."""
    data = text.encode("utf-8")
    crc, adler = zlib.crc32(data), zlib.adler32(data)
    m32 = mmh3.hash(data, signed=False)
    yield "crc32", f"{crc:08x}"
    yield "crc32-dec", str(crc)
    yield "adler32", f"{adler:08x}"
    yield "adler32-dec", str(adler)
    yield "mmh3-32", f"{m32:08x}"
    yield "mmh3-32-le", m32.to_bytes(4, "little").hex()  # Guava's HashCode.toString() byte order
    yield "mmh3-32-dec", str(m32)
    yield "mmh3-32-signed", str(mmh3.hash(data, signed=True))
    yield "mmh3-64-signed", str(mmh3.hash64(data, signed=True)[0])
    yield "mmh3-128", mmh3.hash_bytes(data).hex()
    yield "mmh3-128-dec", str(mmh3.hash128(data, signed=False))


def forms_of(text: str, deep: bool = True) -> Iterator[tuple[tuple[str, ...], str]]:
    """``(steps, form)`` for one variant, identity side; with ``deep``, three hash layers."""
    yield from _plain_forms(text)
    yield from _digest_forms(text, deep)


def _plain_forms(text: str) -> Iterator[tuple[tuple[str, ...], str]]:
    """The text, its encodings and its checksums: cheap, and looked up for every token."""
    for group in _PLAIN_GROUPS:
        yield from group.forms(text)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)  # a key by identity: hashed in C
class _PlainGroup:
    """Consecutive forms of ``_plain_forms``, from position ``start``, built together."""

    start: int
    family: Callable[[str], Iterator[tuple[str, str]]]
    plain: bool = False  # the text itself comes first

    def forms(self, text: str) -> Iterator[tuple[tuple[str, ...], str]]:
        if self.plain:
            yield (), text
        for name, form in self.family(text):
            yield (name,), form


def _url_encoding(text: str) -> Iterator[tuple[str, str]]:
    yield "url", quote(text, safe="")


# The plain tier in three groups, each built only when a text of its shape is looked up:
# a form equals a text only if both have the same shape, so a lookup that skips a group
# whose shape the text lacks finds what the whole tier would find.
_WORDS = _PlainGroup(start=0, family=_url_encoding, plain=True)  # never for a bare local part
_ENCODED = _PlainGroup(start=2, family=_binary_encodings)  # lengths follow from the text's
_CHECKSUMS = _PlainGroup(start=7, family=_checksums)  # 8 or 32 lower-case hex digits, or an int
_PLAIN_GROUPS = (_WORDS, _ENCODED, _CHECKSUMS)
_CHECKSUM_SHAPED = re.compile(r"[0-9a-f]{8}|[0-9a-f]{32}|-?[0-9]+")


def _encoded_lengths(text: str) -> frozenset[int]:
    """Lengths of the ``_binary_encodings`` of ``text``: base64 padded (4 per 3 bytes,
    rounded up to 4), unpadded (4 per 3 bytes, rounded up), hex (2 per byte)."""
    n = len(text.encode("utf-8"))
    return frozenset((4 * -(-n // 3), -(-4 * n // 3), 2 * n))


def _checksum_shaped(text: str) -> bool:
    """Could ``text`` be one of ``_checksums``? (Hex of 4 or 16 bytes, or ``str`` of an int.)"""
    return _CHECKSUM_SHAPED.fullmatch(text) is not None


def _digest_forms(text: str, deep: bool) -> Iterator[tuple[tuple[str, ...], str]]:
    """Hashes of the text, and with ``deep`` hashes of hashes: every one a lower-case hex
    digest (``_digest_shaped``), and nine tenths of the cost of an identity's forms."""
    first = {name: _digest(name, text) for name in CRYPTO}
    for name, digest in first.items():
        yield (name,), digest
    if not deep:
        return
    for inner, digest in first.items():
        for outer in CRYPTO:  # a hash of a hash: every pair
            second = _digest(outer, digest)
            yield (inner, outer), second
            if inner in LIKELY and outer in LIKELY:  # three layers: the likely ones only
                for third in LIKELY:
                    yield (inner, outer, third), _digest(third, second)


def _digest_shaped(text: str) -> bool:
    """Could ``text`` be one of ``_digest_forms``? (A hexdigest of one of ``CRYPTO``.)"""
    return len(text) in _DIGEST_LENGTHS and _LOWER_HEX.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Hit:
    """A form that matched: whose, which variant, and the steps from the variant to the form."""

    identity: str  # the identity's key
    variant: str
    steps: tuple[str, ...]


# Where a form comes first in ``forms_of`` order over an identity's variants: (variant,
# tier, position in the tier). Plain forms of a variant come before its digests, so the
# first explanation of a text is the entry with the smallest place in any group. The
# entry's variant and steps become a ``Hit`` only when the text is found.
_Entry = tuple[tuple[int, int, int], str, tuple[str, ...]]
_Group = dict[str, _Entry]
_GroupKey = _PlainGroup | None  # None: the digests


class IdentityForms:
    """The forms of one identity in groups (``_PLAIN_GROUPS``, digests), each built when first needed.

    Most texts looked up in URLs (path words, ids) have no shape but the words': for most
    identities the checksums, the encodings and the ~1,300 hashes are never computed. A
    lookup gives the same first explanation as the single table ``identity_forms`` builds
    in ``forms_of`` order.
    """

    __slots__ = (
        "_digests",
        "_found",
        "_groups",
        "_pending",
        "deep",
        "encoded_lengths",
        "key",
        "variants",
        "written",
    )

    def __init__(self, key: str, written: str, deep: bool) -> None:
        self.key, self.written, self.deep = key, written, deep
        self.variants = identity_variants(written)
        self.encoded_lengths = frozenset().union(*(_encoded_lengths(text) for _, text in self.variants))
        self._groups: dict[_PlainGroup, _Group] = {}
        self._digests: _Group | None = None
        # The groups built so far in one table (first explanation of each form), and those
        # not built yet: a recipient seen again costs one dict lookup per text.
        self._found: _Group = {}
        self._pending: list[_GroupKey] = [*_PLAIN_GROUPS, None]

    def group(self, group: _PlainGroup) -> _Group:
        """The forms of one plain group, first explanation of each."""
        table = self._groups.get(group)
        if table is None:
            table = self._groups[group] = {}
            for v, (variant, text) in enumerate(self.variants):
                local = variant.startswith("local")
                for i, (steps, form) in enumerate(group.forms(text), start=group.start):
                    if local and steps in _WORD_STEPS:
                        continue  # a bare word in a URL is no evidence; its digest or encoding is
                    table.setdefault(form, ((v, 0, i), variant, steps))
        return table

    def digests(self) -> _Group:
        if self._digests is None:
            table: _Group = {}
            for v, (variant, text) in enumerate(self.variants):
                for i, (steps, form) in enumerate(_digest_forms(text, self.deep)):
                    table.setdefault(form, ((v, 1, i), variant, steps))
            self._digests = table
        return self._digests

    def tables(self, key: _GroupKey) -> _Group:
        return self.digests() if key is None else self.group(key)

    def hit(self, entry: _Entry) -> Hit:
        return Hit(self.key, entry[1], entry[2])

    def entry(self, text: str) -> _Entry | None:
        """The first explanation of ``text`` among this identity's forms, or None."""
        if self._pending:
            for key in [k for k in self._pending if _may_hold(k, text, self.encoded_lengths)]:
                self._pending.remove(key)
                for form, entry in self.tables(key).items():
                    if form not in self._found or entry[0] < self._found[form][0]:
                        self._found[form] = entry
        return self._found.get(text)

    def table(self) -> dict[str, Hit]:
        """Every form, first explanation of each, in ``forms_of`` order (builds every group)."""
        entries = dict(self.digests())
        for group in _PLAIN_GROUPS:
            for form, entry in self.group(group).items():
                if form not in entries or entry[0] < entries[form][0]:
                    entries[form] = entry
        return {form: self.hit(entry) for form, entry in sorted(entries.items(), key=lambda fe: fe[1][0])}


def _keys_for(text: str, encoded_lengths: frozenset[int]) -> list[_GroupKey]:
    """The groups that could hold ``text``: the words always, the others by its shape."""
    return [k for k in (*_PLAIN_GROUPS, None) if _may_hold(k, text, encoded_lengths)]


def _may_hold(key: _GroupKey, text: str, encoded_lengths: frozenset[int]) -> bool:
    """Could group ``key`` (None: the digests) hold ``text``? False only if it cannot."""
    if key is _WORDS:
        return True
    if key is _ENCODED:
        return len(text) in encoded_lengths
    if key is _CHECKSUMS:
        return _checksum_shaped(text)
    return _digest_shaped(text)


@lru_cache(maxsize=128)  # a mailbox has few recipients; each one's forms are built once per worker
def _identity(key: str, written: str, deep: bool) -> IdentityForms:
    return IdentityForms(key, written, deep)


def identity_forms(key: str, written: str, deep: bool = True) -> dict[str, Hit]:
    """Every form of one identity, first (simplest) explanation kept for each value."""
    return _identity(key, written, deep).table()


_Merged = dict[str, list[tuple[int, _Entry]]]


def _merge(tiers: Sequence[_Group]) -> _Merged:
    merged: _Merged = {}
    for n, tier in enumerate(tiers):
        for form, entry in tier.items():
            merged.setdefault(form, []).append((n, entry))
    return merged


class FormsIndex:
    """The forms of a set of identities, each form with every identity's explanation, in order.

    A few identities are looked up one by one, not merged: a mailbox of spam names a
    new recipient in most messages, and merging thousands of forms per message cost as
    much as computing them. Many identities (mass mail) have each group merged once, when
    a text of its shape is first looked up, as a lookup in dozens of tables per candidate
    text would cost more. Either way a group is built only when a text of its shape is
    looked up.
    """

    __slots__ = ("_merged", "encoded_lengths", "forms")

    def __init__(self, forms: tuple[IdentityForms, ...]) -> None:
        self.forms = forms
        self.encoded_lengths: frozenset[int] = frozenset().union(*(f.encoded_lengths for f in forms))
        self._merged: dict[_GroupKey, _Merged] | None = {} if len(forms) > _MERGE_FROM else None

    def __len__(self) -> int:
        """Distinct forms across the identities."""
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        """Every distinct form, first identity's first."""
        return iter(self._all())

    def _all(self) -> dict[str, None]:
        return dict.fromkeys(form for f in self.forms for form in f.table())

    def get(self, text: str, default: tuple[Hit, ...] = ()) -> tuple[Hit, ...]:
        """Every identity's explanation of ``text``, in the order of the identities."""
        if self._merged is None:
            found = ((f, f.entry(text)) for f in self.forms)
            return tuple(f.hit(e) for f, e in found if e is not None) or default
        best: dict[int, _Entry] = {}
        for key in _keys_for(text, self.encoded_lengths):
            for n, entry in self._merged_group(key).get(text, ()):
                if n not in best or entry[0] < best[n][0]:
                    best[n] = entry
        return tuple(self.forms[n].hit(best[n]) for n in sorted(best)) or default

    def _merged_group(self, key: _GroupKey) -> _Merged:
        assert self._merged is not None
        merged = self._merged.get(key)
        if merged is None:
            merged = self._merged[key] = _merge([f.tables(key) for f in self.forms])
        return merged


@lru_cache(maxsize=16)
def forms_index(identities: tuple[tuple[str, str, bool], ...]) -> FormsIndex:
    """The forms of a set of identities ``(key, as written, deep)``."""
    return FormsIndex(tuple(_identity(key, written, deep) for key, written, deep in identities))


def index_for(identities: Sequence[Identity]) -> FormsIndex:
    """The lookup dict of a message's identities (nested hashes for the first MAX_DEEP)."""
    return forms_index(tuple(sorted((i.key, i.address, n < MAX_DEEP) for n, i in enumerate(identities))))


# ---------------------------------------------------------------- lookup


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """An identity form found at one place in a URL."""

    token: Token
    location: str  # the token's location, plus ">text" for a substring of it
    matched: str  # the text that equals the form
    hit: Hit
    extra: tuple[str, ...] = ()  # steps between the form and the token value (a case change)

    @property
    def steps(self) -> tuple[str, ...]:
        """From the identity to the text written in the URL."""
        return self.hit.steps + self.extra + tuple(reversed(self.token.chain))

    @property
    def chain(self) -> str:
        return " > ".join(self.steps) or "plain"


def _candidates(token: Token) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """``(location, text, extra steps)`` to look up: the value, address or digest substrings."""
    value = token.value
    yield token.location, value, ()
    if "@" in value:
        for m in _ADDRESS.finditer(value):
            location = token.location if m.group() == value else f"{token.location}>text"
            yield location, m.group(), ()
            if m.group() != m.group().lower():  # "ALICE@EXAMPLE.ORG" is still Alice
                yield location, m.group().lower(), ("case-changed",)
    if len(value) > 32:
        for m in _HEX_RUN.finditer(value):
            if len(m.group()) in DIGEST_HEX and m.group() != value:
                yield f"{token.location}>text", m.group(), ()


def find_matches(tokens: Sequence[Token], index: FormsIndex) -> list[Match]:
    """Every identity form among the tokens; one dict lookup per candidate text."""
    found: list[Match] = []
    for token in tokens:
        for location, text, extra in _candidates(token):
            for hit in index.get(text, ()):
                found.append(Match(token=token, location=location, matched=text, hit=hit, extra=extra))
    return found


def best_matches(matches: Sequence[Match]) -> list[Match]:
    """One explanation per place and identity: the shortest chain (then the first by name).

    An address found inside a decoded text is dropped when the same identity was found
    in a field of that text (JSON, JWT, query string): the field is the precise place.
    """
    fields = {(m.token.location, m.hit.identity) for m in matches}
    best: dict[tuple[str, str], Match] = {}
    for m in matches:
        if m.location.endswith(">text") and _inside_field(m, fields):
            continue
        key = (m.location, m.hit.identity)
        rank = (len(m.steps), m.chain, _variant_rank(m.hit.variant))
        current = best.get(key)
        if current is None or rank < (len(current.steps), current.chain, _variant_rank(current.hit.variant)):
            best[key] = m
    return [best[k] for k in sorted(best)]


def _inside_field(m: Match, fields: set[tuple[str, str]]) -> bool:
    parent = m.location.removesuffix(">text")
    return any(loc.startswith(parent + ">") and who == m.hit.identity for loc, who in fields)


def _variant_rank(variant: str) -> int:
    order = ("as-written", "trimmed", "lower", "no-plus", "local", "local-no-plus")
    return order.index(variant) if variant in order else len(order)


# ---------------------------------------------------------------- rows


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class LeakRow(Row):
    """A recipient identity found in a URL of a message, and how it was encoded."""

    TABLE: ClassVar[str] = "leaks"
    KEY: ClassVar[tuple[str, ...]] = ("finding_id", "location", "identity")
    message_sha256: str
    finding_id: str
    slot: int
    kind: str
    is_beacon: bool
    location: str
    identity: str
    identity_sources: str
    variant: str
    chain: str
    layers: int
    written: str
    matched: str
    url: str
    unwrapped: str
    host: str
    registered_domain: str
    receivers: str
    provider: str
    party: str


def party_of(hosts: Sequence[str], provider: str, message: Message) -> str:
    """``first-party`` when every host is under the sender's domain and no provider is named."""
    own = sender_domain(message)
    if provider:
        return "third-party"
    if not own:
        return "unknown"
    return "first-party" if all(registered_domain(h) == own for h in hosts) else "third-party"


def analyse_leaks(message: Message, settings: Settings, context: MessageContext) -> list[Row]:
    """Leak rows for every URL extraction found in the message."""
    web = [(slot, found) for slot, found in enumerate(context.urls) if is_web_url(found.url)]
    identities = message_identities(message, settings) if web else ()
    if not identities:  # no URL a client would request, or nobody's: nothing to build the forms for
        return []
    index = index_for(identities)
    by_key = {i.key: i for i in identities}
    rows: dict[tuple[str, str, str], LeakRow] = {}
    for slot, found in web:
        matches = best_matches(find_matches(url_tokens(found.url, found.unwrapped), index))
        provider = attribute_url(found.url, found.host, message).provider if matches else ""
        for m in matches:
            row = _leak_row(message, found, slot, m, by_key[m.hit.identity], provider)
            rows.setdefault((row.finding_id, row.location, row.identity), row)
    return [rows[k] for k in sorted(rows)]


def _leak_row(
    message: Message, found: FoundUrl, slot: int, m: Match, ident: Identity, provider: str
) -> LeakRow:
    hosts = m.token.hosts or ((found.host,) if found.host else ())
    return LeakRow(
        message_sha256=message.message_sha256, finding_id=found.finding_id, slot=slot,
        kind=found.kind, is_beacon=found.is_beacon, location=m.location, identity=ident.address,
        identity_sources="; ".join(ident.sources), variant=m.hit.variant, chain=m.chain,
        layers=len(m.steps), written=m.token.raw, matched=m.matched, url=found.url,
        unwrapped=found.unwrapped, host=found.host, registered_domain=found.registered_domain,
        receivers=" > ".join(hosts), provider=provider, party=party_of(hosts, provider, message),
    )
