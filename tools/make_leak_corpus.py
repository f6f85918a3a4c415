"""Generate the leak and token test corpus: mailboxes whose every leak and token role is known.

Four custodians' mailboxes (mbox), deterministic to the byte:

- ``alice.mbox``: one message per leak form from ``news@shop-demo.com`` (plain, URL-encoded
  once and twice, base64 in all four spellings, base32, hex, every hash in lower and
  upper case, checksums, nested forms up to three layers, JSON, JWT, an address inside
  text, a redirect to a third party, path and fragment positions, the no-plus and
  local-part variants), control messages that must not be flagged (the sender's own
  address, a role address's local part), three campaigns from ``offers@brand.example``
  and one issue of ``digest@weekly.example``;
- ``bob.mbox``: the same three campaigns and the same digest issue, sent to Bob;
- ``carol.mbox``: a Bcc'd message naming Carol nowhere (found through ``--identity``);
- ``dave.mbox``: a list message naming Dave only in ``Delivered-To``.

With ``leaks=False`` the same messages carry the forms of an unrelated address instead,
so nothing may be reported. The expected leaks and token roles come with the corpus.

Usage: ``python tools/make_leak_corpus.py OUT_DIR [--no-leaks]``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import mmh3

if TYPE_CHECKING:
    from forensics.records import FoundUrl, Message

ALICE_WRITTEN = "Alice.Smith+news@Example.org"
ALICE = ALICE_WRITTEN.lower()
ALICE_NO_PLUS = "alice.smith@example.org"
BOB = "bob.jones@example.net"
CAROL = "carol.white@example.com"
DAVE = "dave.brown@example.com"
DECOY = "zed.other@elsewhere.example"  # stands in for every identity when leaks=False
IDENTITY_ARGS = (CAROL,)  # what the scan gets as --identity
PIXEL = "https://pixel.adtrack.example/open.gif"
SHOP = "news@shop-demo.com"  # a real suffix, so the first-party test means something


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedLeak:
    subject: str
    identity: str  # as the case reports it (first spelling seen)
    variant: str
    chain: str
    location: str
    party: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedMessage:
    mailbox: str
    subject: str
    data: bytes
    urls: tuple[tuple[str, str], ...]  # (kind, url) in document order: resources, then links


@dataclass(slots=True, kw_only=True)
class Corpus:
    messages: list[GeneratedMessage] = field(default_factory=list)
    leaks: list[ExpectedLeak] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # token value -> role
    identities: tuple[str, ...] = IDENTITY_ARGS

    def mailboxes(self) -> dict[str, bytes]:
        boxes: dict[str, bytes] = {}
        for m in self.messages:
            boxes[m.mailbox] = boxes.get(m.mailbox, b"") + m.data
        return boxes


# ---------------------------------------------------------------- encodings (spec side)


def b64_chain_name(encoded: str) -> str:
    """What a base64 text is called from what it shows: alphabet, then padding."""
    name = "base64url" if "-" in encoded or "_" in encoded else "base64"
    return name if "=" in encoded or len(encoded) % 4 == 0 else f"{name}-nopad"


def _hex(name: str, text: str) -> str:
    return hashlib.new(name, text.encode()).hexdigest()


def _b64(data: bytes, url: bool, pad: bool) -> str:
    out = (base64.urlsafe_b64encode if url else base64.b64encode)(data).decode()
    return out if pad else out.rstrip("=")


Form = tuple[str, str, Callable[[str], str], str]  # (case, variant, encode, chain)


def leak_forms() -> list[Form]:
    """Every form the issue names, as (case name, variant, encoder, expected chain)."""
    std = lambda t: _b64(t.encode(), False, True)  # noqa: E731
    forms: list[Form] = [
        ("plain as written", "as-written", lambda t: t, "plain"),
        ("plain lower", "lower", lambda t: t.lower(), "plain"),
        ("url", "lower", lambda t: quote(t.lower(), safe=""), "url"),
        ("url twice", "lower", lambda t: quote(quote(t.lower(), safe=""), safe=""), "url > url"),
        ("hex", "lower", lambda t: t.lower().encode().hex(), "hex"),
        ("hex upper", "lower", lambda t: t.lower().encode().hex().upper(), "hex > upper"),
        ("base32", "lower", lambda t: base64.b32encode(t.lower().encode()).decode(), "base32"),
    ]
    for url in (False, True):
        for pad in (True, False):
            enc = (lambda u, p: lambda t: _b64(t.lower().encode(), u, p))(url, pad)
            forms.append((f"base64 url={url} pad={pad}", "lower", enc, "?b64"))
    for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_256", "ripemd160"):
        if name not in hashlib.algorithms_available:  # RIPEMD-160 depends on the OpenSSL build
            continue
        step = name.replace("_", "-")
        forms.append((step, "lower", (lambda n: lambda t: _hex(n, t.lower()))(name), step))
        forms.append((f"{step} upper", "lower", (lambda n: lambda t: _hex(n, t.lower()).upper())(name),
                      f"{step} > upper"))
    forms += [
        ("crc32", "lower", lambda t: f"{zlib.crc32(t.lower().encode()):08x}", "crc32"),
        ("crc32 decimal", "lower", lambda t: str(zlib.crc32(t.lower().encode())), "crc32-dec"),
        ("adler32", "lower", lambda t: f"{zlib.adler32(t.lower().encode()):08x}", "adler32"),
        ("murmur3 32", "lower", lambda t: f"{mmh3.hash(t.lower().encode(), signed=False):08x}", "mmh3-32"),
        ("murmur3 128", "lower", lambda t: mmh3.hash_bytes(t.lower().encode()).hex(), "mmh3-128"),
        ("sha256 no-plus", "no-plus", lambda t: _hex("sha256", ALICE_NO_PLUS if t == ALICE_WRITTEN else
                                                    t.lower()), "sha256"),
        ("md5 local part", "local-no-plus",
         lambda t: _hex("md5", t.lower().partition("@")[0].split("+")[0]), "md5"),
        ("base64 of md5 hex", "lower", lambda t: std(_hex("md5", t.lower())), "md5 > ?b64"),
        ("base64url of raw sha256", "lower",
         lambda t: _b64(hashlib.sha256(t.lower().encode()).digest(), True, False), "sha256 > raw > ?b64"),
        ("md5 of sha256", "lower", lambda t: _hex("md5", _hex("sha256", t.lower())), "sha256 > md5"),
        ("sha256 of sha1 of md5", "lower",
         lambda t: _hex("sha256", _hex("sha1", _hex("md5", t.lower()))), "md5 > sha1 > sha256"),
        ("url of base64 of sha1", "lower", lambda t: quote(std(_hex("sha1", t.lower())), safe=""),
         "sha1 > ?b64 > url"),
    ]
    return forms


def resolve_chain(chain: str, encoded_b64: str) -> str:
    return chain.replace("?b64", b64_chain_name(encoded_b64))


# ---------------------------------------------------------------- messages


def _message(
    *, mailbox: str, sender: tuple[str, str], to: str, subject: str, day: int,
    resources: list[str], links: list[str], extra_headers: str = "", greeting: str = "Hello",
) -> GeneratedMessage:
    name, addr = sender
    img = "".join(f'<img src="{html.escape(u)}" width="1" height="1" alt="">' for u in resources)
    anchors = "".join(f'<p><a href="{html.escape(u)}">Read more</a></p>' for u in links)
    body = (f"<html><body><p>{greeting},</p><p>This week at {name}: new arrivals.</p>"
            f"{anchors}{img}</body></html>")
    msg_id = hashlib.sha1(f"{mailbox}|{subject}|{to}".encode()).hexdigest()[:24]
    text = (
        f"From {addr} Mon Jan {day:2d} 10:00:00 2024\n"
        f"From: {name} <{addr}>\nTo: {to}\n{extra_headers}Subject: {subject}\n"
        f"Date: Mon, {day} Jan 2024 10:00:00 +0000\nMessage-ID: <{msg_id}@gen.example>\n"
        f"MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n{body}\n\n"
    )
    urls = tuple([("resource", u) for u in resources] + [("link", u) for u in links])
    return GeneratedMessage(mailbox=mailbox, subject=subject, data=text.encode(), urls=urls)


def _token(label: str, n: int = 16) -> str:
    """A deterministic identifier-looking value (hex)."""
    return hashlib.sha256(label.encode()).hexdigest()[:n]


def _leak_messages(corpus: Corpus, leaks: bool) -> None:
    target = ALICE_WRITTEN if leaks else DECOY
    to = f"Alice Smith <{ALICE_WRITTEN}>"
    for i, (case, variant, encode, chain) in enumerate(leak_forms()):
        value = encode(target)
        subject = f"Leak {i:02d}: {case}"
        url = f"{PIXEL}?e={value}&m={_token('leak-mid' + case, 20)}"
        corpus.messages.append(_message(mailbox="alice.mbox", sender=("Shop", SHOP), to=to,
                                        subject=subject, day=1 + i % 28, resources=[url], links=[]))
        if leaks:
            corpus.leaks.append(ExpectedLeak(subject=subject, identity=ALICE_WRITTEN, variant=variant,
                                             chain=resolve_chain(chain, unquote(value)),
                                             location="query[e]", party="third-party"))
    _structured_leaks(corpus, target, leaks, to)


def _structured_leaks(corpus: Corpus, target: str, leaks: bool, to: str) -> None:
    """Leaks inside JSON, a JWT, text, a redirect, a path and a fragment."""
    lower = target.lower()
    payload = _b64(json.dumps({"email": lower, "list": 7}).encode(), True, False)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode(), True, False)
    claims = _b64(json.dumps({"sub": "4411", "email": lower}).encode(), True, False)
    jwt = f"{header}.{claims}.{_b64(b'signature-bytes-here', True, False)}"
    inner = f"https://partner.example/landing?email={lower}&src=mail"
    cases = [
        ("in JSON", [f"{PIXEL}?d={payload}"], [], "query[d]>json[email]", b64_chain_name(payload), "third-party"),
        ("in a JWT", [f"{PIXEL}?t={jwt}"], [], "query[t]>jwt[1]>json[email]", b64_chain_name(claims), "third-party"),
        ("inside text", [f"{PIXEL}?s=uid:42|{lower}|x"], [], "query[s]>text", "plain", "third-party"),
        ("through a redirect", [], [f"https://click.esp.example/r?u={quote(inner, safe='')}"],
         "query[u]>query[email]", "url", "third-party"),
        ("in a path", [], [f"https://www.shop-demo.com/unsubscribe/{_hex('sha256', lower)}/confirm"],
         "path[1]", "sha256", "first-party"),
        ("in a fragment", [], [f"https://www.shop-demo.com/prefs#{_hex('md5', lower)}"],
         "fragment", "md5", "first-party"),
    ]
    for case, resources, links, location, chain, party in cases:
        subject = f"Structured: {case}"
        corpus.messages.append(_message(mailbox="alice.mbox", sender=("Shop", SHOP), to=to, subject=subject,
                                        day=2, resources=resources, links=links))
        if leaks:
            corpus.leaks.append(ExpectedLeak(subject=subject, identity=ALICE_WRITTEN, variant="lower",
                                             chain=chain, location=location, party=party))


def _control_messages(corpus: Corpus) -> None:
    """Messages that must never be flagged, leaks or not."""
    corpus.messages.append(_message(
        mailbox="alice.mbox", sender=("Shop", SHOP), to=f"Alice Smith <{ALICE_WRITTEN}>",
        subject="Control: sender's own address", day=3,
        resources=[f"{PIXEL}?from={SHOP}&h={_hex('md5', SHOP)}"], links=[f"https://www.shop-demo.com/contact?reply={SHOP}"]))
    corpus.messages.append(_message(
        mailbox="alice.mbox", sender=("Biz", "billing@biz.example"), to="Info desk <info@example.org>",
        subject="Control: role address", day=4, resources=[],
        links=["https://www.biz.example/info/contact", "https://www.biz.example/help?topic=info"]))


def _other_identities(corpus: Corpus, leaks: bool) -> None:
    """Carol (only --identity knows her) and Dave (only Delivered-To names him)."""
    carol = CAROL if leaks else DECOY
    dave = DAVE if leaks else DECOY
    corpus.messages.append(_message(
        mailbox="carol.mbox", sender=("Shop", SHOP), to="undisclosed-recipients:;", subject="Bcc offer", day=5,
        resources=[f"{PIXEL}?h={_hex('sha256', carol)}"], links=[]))
    corpus.messages.append(_message(
        mailbox="dave.mbox", sender=("Club", "announce@club.example"), to="Members <members@lists.club.example>",
        subject="Club news", day=6, resources=[f"https://stats.club-mail.example/o?u={_hex('md5', dave)}"],
        links=[], extra_headers=f"Delivered-To: {DAVE}\n"))
    if leaks:
        corpus.leaks += [
            ExpectedLeak(subject="Bcc offer", identity=CAROL, variant="as-written", chain="sha256",
                         location="query[h]", party="third-party"),
            ExpectedLeak(subject="Club news", identity=DAVE, variant="as-written", chain="md5",
                         location="query[u]", party="third-party"),
        ]


def _campaigns(corpus: Corpus) -> None:
    """Three campaigns to Alice and Bob: per-recipient, per-message and per-campaign tokens."""
    people = (("alice.mbox", f"Alice Smith <{ALICE_WRITTEN}>", "alice"), ("bob.mbox", f"Bob Jones <{BOB}>", "bob"))
    for mailbox, to, who in people:
        rid = "R" + _token(f"rid:{who}", 15)
        corpus.roles[rid] = "recipient-identifier"
        for c in range(3):
            cid = "C" + _token(f"cid:{c}", 11)
            mid = "M" + _token(f"mid:{who}:{c}", 19)
            corpus.roles[cid] = "campaign-identifier"
            corpus.roles[mid] = "message-identifier"
            pixel = f"https://trk.esp-mail.example/o/{mid}.gif?r={rid}&c={cid}"
            link = f"https://trk.esp-mail.example/c/{mid}?r={rid}&c={cid}&n=1"
            corpus.messages.append(_message(mailbox=mailbox, sender=("Brand", "offers@brand.example"), to=to,
                                            subject=f"Brand offer {c + 1}", day=10 + c, resources=[pixel],
                                            links=[link]))


def _digest_copies(corpus: Corpus) -> None:
    """One newsletter issue sent to Alice and Bob: only the subscriber token differs."""
    issue = "I" + _token("issue:42", 13)
    corpus.roles[issue] = "campaign-identifier"
    for mailbox, to, who, greeting in (
        ("alice.mbox", f"Alice Smith <{ALICE_WRITTEN}>", "alice", "Hi Alice"),
        ("bob.mbox", f"Bob Jones <{BOB}>", "bob", "Hi Bob"),
    ):
        sub = "S" + _token(f"sub:{who}", 17)
        corpus.roles[sub] = "recipient-identifier"
        link = f"https://weekly.example/read?issue={issue}&sub={sub}"
        corpus.messages.append(_message(mailbox=mailbox, sender=("Weekly", "digest@weekly.example"), to=to,
                                        subject="Weekly digest #42", day=20, resources=[], links=[link],
                                        greeting=greeting))


def build(leaks: bool = True) -> Corpus:
    """The whole corpus, in memory."""
    corpus = Corpus()
    _leak_messages(corpus, leaks)
    _control_messages(corpus)
    _other_identities(corpus, leaks)
    _campaigns(corpus)
    _digest_copies(corpus)
    return corpus


def write(folder: Path, leaks: bool = True) -> Corpus:
    """Write the mailboxes into ``folder`` (created) and return the corpus."""
    corpus = build(leaks)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in corpus.mailboxes().items():
        (folder / name).write_bytes(data)
    return corpus


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    corpus = write(Path(argv[0]), leaks="--no-leaks" not in argv)
    print(f"{len(corpus.messages)} messages, {len(corpus.leaks)} expected leaks, "
          f"{len(corpus.roles)} tokens with a known role -> {argv[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


def analysed_inputs(corpus: Corpus) -> list[tuple[GeneratedMessage, Message, list[FoundUrl]]]:
    """Each message parsed, with the URLs the generator put in it as extraction would list them.

    For tests of the token and leak stages on their own (without the extraction stage).
    """
    from urllib.parse import urlsplit

    from forensics.domains import registered_domain
    from forensics.parse import parse_rfc5322
    from forensics.records import FoundUrl, Locator, RawMessage

    out = []
    for gm in corpus.messages:
        data = gm.data.split(b"\n", 1)[1]  # without the mbox From_ line
        locator = Locator(source_path=gm.mailbox, source_sha256="0" * 64, kind="file")
        message = parse_rfc5322(RawMessage(data=data, locator=locator, format="eml"))[0]
        urls = []
        for i, (kind, url) in enumerate(gm.urls):
            host = urlsplit(url).hostname or ""
            urls.append(FoundUrl(
                finding_id=f"{message.message_sha256[:16]}-{kind}-{i}", message_sha256=message.message_sha256,
                kind=kind, url=url, unwrapped=url, host=host, registered_domain=registered_domain(host),
                is_beacon=kind == "resource"))
        out.append((gm, message, urls))
    return out
