"""Identity leaks: whose addresses are looked for, in which forms, and what is reported."""

from __future__ import annotations

import functools
import hashlib
import html
import importlib.util
import re
import sys
import zlib
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlsplit

import mmh3
import pytest

from forensics.analyse import MessageContext, Settings
from forensics.domains import registered_domain
from forensics.leaks import (
    LeakRow,
    analyse_leaks,
    identity_forms,
    identity_variants,
    message_identities,
    recipient_key,
)
from forensics.parse import parse_rfc5322
from forensics.records import Address, FoundUrl, Locator, Message, RawMessage

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_leak_corpus", ROOT / "tools" / "make_leak_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


gen = _generator()


def _message(**kw: object) -> Message:
    base: dict[str, object] = dict(
        message_sha256="e" * 64, hash_basis="raw-rfc5322", format="eml",
        locator=Locator(source_path="box", source_sha256="0" * 64, kind="file"),
        from_=(Address(name="Shop", address="news@shop-demo.com"),),
        to=(Address(name="Alice", address="Alice.Smith+news@Example.org"),),
    )
    base.update(kw)
    return Message(**base)  # type: ignore[arg-type]


def _found(url: str, i: int = 0, kind: str = "resource") -> FoundUrl:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # real mail has "http://[body_domain]/..." and the like
        host = ""
    return FoundUrl(finding_id=f"ee-{kind}-{i}", message_sha256="e" * 64, kind=kind, url=url, unwrapped=url,
                    host=host, registered_domain=registered_domain(host), is_beacon=kind == "resource")


def _leaks(message: Message, *urls: str, identities: tuple[str, ...] = ()) -> list[LeakRow]:
    context = MessageContext(urls=[_found(u, i) for i, u in enumerate(urls)])
    return [r for r in analyse_leaks(message, Settings(identities=identities), context) if isinstance(r, LeakRow)]


# ---------------------------------------------------------------- identities and forms


def test_variants_of_an_address() -> None:
    assert identity_variants(" Alice.Smith+news@Example.org") == [
        ("as-written", " Alice.Smith+news@Example.org"),
        ("trimmed", "Alice.Smith+news@Example.org"),
        ("lower", "alice.smith+news@example.org"),
        ("no-plus", "alice.smith@example.org"),
        ("local", "alice.smith+news"),
        ("local-no-plus", "alice.smith"),
    ]


def test_short_and_role_local_parts_are_not_variants() -> None:
    assert [n for n, _ in identity_variants("info@example.org")] == ["as-written"]
    assert [n for n, _ in identity_variants("jo@example.org")] == ["as-written"]


def test_identities_come_from_every_recipient_header_and_the_option() -> None:
    message = _message(
        to=(Address(name="", address="Alice@Example.org"),), cc=(Address(name="", address="bob@example.net"),),
        delivered_to=("alice@example.org", "dave@example.com"),
    )
    found = message_identities(message, Settings(identities=("carol@example.com",)))
    assert [(i.address, i.key, i.sources) for i in found] == [
        ("carol@example.com", "carol@example.com", ("identity",)),
        ("alice@example.org", "alice@example.org", ("delivered-to", "to")),  # one identity, two spellings
        ("dave@example.com", "dave@example.com", ("delivered-to",)),
        ("bob@example.net", "bob@example.net", ("cc",)),
    ]
    assert recipient_key(found, Settings(identities=("carol@example.com",))) == "alice@example.org"


def test_the_senders_own_addresses_are_never_identities() -> None:
    message = _message(
        to=(Address(name="", address="news@shop-demo.com"), Address(name="", address="list@lists.example")),
        reply_to=(Address(name="", address="help@shop-demo.com"),), return_path="<Bounce@esp.example>",
        headers=(("List-Post", "<mailto:list@lists.example>"),),
        delivered_to=("bounce@esp.example",),
    )
    assert message_identities(message, Settings(identities=("news@shop-demo.com",))) == ()


def test_identities_are_capped_for_mass_mail() -> None:
    crowd = tuple(Address(name="", address=f"person{i}@example.org") for i in range(100))
    found = message_identities(_message(to=(), cc=crowd), Settings(identities=("me@example.org",)))
    assert len(found) == 64
    assert found[0].address == "me@example.org"  # the mailbox owner always first


def test_forms_of_one_identity_hold_every_family() -> None:
    forms = identity_forms("alice@example.org", "alice@example.org")
    a = b"alice@example.org"

    def named(value: str) -> tuple[str, tuple[str, ...]]:
        hit = forms[value]
        return hit.variant, hit.steps

    md5 = hashlib.md5(a).hexdigest()
    assert named("alice@example.org") == ("as-written", ())
    assert named("alice%40example.org") == ("as-written", ("url",))
    assert named("YWxpY2VAZXhhbXBsZS5vcmc=") == ("as-written", ("base64",))
    assert named("YWxpY2VAZXhhbXBsZS5vcmc") == ("as-written", ("base64-nopad",))
    assert named(a.hex()) == ("as-written", ("hex",))
    for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_512"):
        assert named(hashlib.new(name, a).hexdigest()) == ("as-written", (name.replace("_", "-"),))
    assert named(f"{zlib.crc32(a):08x}") == ("as-written", ("crc32",))
    assert named(str(zlib.adler32(a))) == ("as-written", ("adler32-dec",))
    assert named(mmh3.hash_bytes(a).hex()) == ("as-written", ("mmh3-128",))
    assert named(hashlib.sha256(md5.encode()).hexdigest()) == ("as-written", ("md5", "sha256"))
    third = hashlib.md5(hashlib.sha1(md5.encode()).hexdigest().encode()).hexdigest()
    assert named(third) == ("as-written", ("md5", "sha1", "md5"))
    assert named(hashlib.md5(b"alice").hexdigest()) == ("local", ("md5",))
    assert "alice" not in forms  # the bare local part is never looked for


# ---------------------------------------------------------------- single messages


def test_a_hashed_address_in_a_pixel_is_reported_with_its_receivers() -> None:
    digest = hashlib.sha256(b"alice.smith@example.org").hexdigest()
    [row] = _leaks(_message(), f"https://px.adnet.example/i.gif?h={digest}")
    assert (row.identity, row.identity_sources, row.variant, row.chain, row.location) == (
        "Alice.Smith+news@Example.org", "to", "no-plus", "sha256", "query[h]")
    assert (row.written, row.matched, row.receivers, row.party, row.kind, row.is_beacon) == (
        digest, digest, "px.adnet.example", "third-party", "resource", True)


def test_an_upper_case_address_says_so_in_its_chain() -> None:
    [row] = _leaks(_message(), "https://x.example/u?em=ALICE.SMITH+NEWS@EXAMPLE.ORG")
    assert (row.variant, row.chain, row.matched) == ("lower", "case-changed", "alice.smith+news@example.org")


def test_no_leak_for_the_sender_or_a_role_address() -> None:
    message = _message(to=(Address(name="", address="info@example.org"),))
    assert _leaks(message, "https://shop-demo.com/info/x?from=news@shop-demo.com&t=info") == []


def test_non_web_urls_are_not_analysed() -> None:
    assert _leaks(_message(), "mailto:unsubscribe@x.example?body=alice.smith+news@example.org") == []


def test_identity_option_finds_a_bccd_recipient() -> None:
    message = _message(to=())
    digest = hashlib.md5(b"carol@example.com").hexdigest()
    [row] = _leaks(message, f"https://x.example/o?u={digest}", identities=("carol@example.com",))
    assert (row.identity, row.identity_sources, row.chain) == ("carol@example.com", "identity", "md5")


# ---------------------------------------------------------------- the generated corpus


def _run_corpus(leaks: bool) -> dict[str, list[tuple[str, str, str, str, str]]]:
    corpus = gen.build(leaks)
    settings = Settings(identities=corpus.identities)
    found: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for generated, message, urls in gen.analysed_inputs(corpus):
        for row in analyse_leaks(message, settings, MessageContext(urls=urls)):
            assert isinstance(row, LeakRow)
            found.setdefault(generated.subject, []).append(
                (row.identity, row.variant, row.chain, row.location, row.party))
    return found


def test_generated_corpus_every_leak_found_with_its_chain() -> None:
    corpus = gen.build(True)
    expected: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for e in corpus.leaks:
        expected.setdefault(e.subject, []).append((e.identity, e.variant, e.chain, e.location, e.party))
    assert len(corpus.leaks) >= 45
    assert _run_corpus(True) == expected


def test_generated_corpus_covers_every_form_the_issue_names() -> None:
    chains = {e.chain for e in gen.build(True).leaks}
    for needed in ("plain", "url", "url > url", "hex", "hex > upper", "base32", "md5", "md5 > upper", "sha1",
                   "sha224", "sha256", "sha384", "sha512", "sha3-256", "crc32", "mmh3-32", "mmh3-128",
                   "sha256 > md5", "md5 > sha1 > sha256"):
        assert needed in chains, needed
    assert {c for c in chains if c.startswith("base64")} >= {"base64", "base64-nopad"}
    assert any(c.startswith("md5 > base64") for c in chains)  # base64 of a hex digest
    assert any(c.startswith("sha256 > raw > base64") for c in chains)  # base64 of digest bytes


def test_generated_corpus_without_leaks_reports_nothing() -> None:
    assert _run_corpus(False) == {}


def test_generator_is_deterministic(tmp_path: Path) -> None:
    gen.write(tmp_path / "a")
    gen.write(tmp_path / "b")
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


# ---------------------------------------------------------------- real mail


_URL = re.compile(r"""(?i)https?://[^\s"'<>]+""")


@functools.lru_cache(maxsize=4)  # two tests read the same folder
def _real_leaks(folder: Path) -> list[tuple[str, LeakRow]]:
    """Leaks in real mail, with URLs harvested by a plain regex (extraction stand-in)."""
    out: list[tuple[str, LeakRow]] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        raw = RawMessage(data=path.read_bytes(), locator=Locator(source_path=str(path), source_sha256="0" * 64,
                                                                   kind="file"), format="eml")
        for message in parse_rfc5322(raw):
            bodies = [html.unescape(b) for b in message.html] + list(message.text)
            urls = [u for body in bodies for u in _URL.findall(body)]
            context = MessageContext(urls=[_found(u, i, "link") for i, u in enumerate(urls)])
            out += [(path.name, r) for r in analyse_leaks(message, Settings(), context) if isinstance(r, LeakRow)]
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("folder", ["spamassassin-public-corpus/hard-ham-1", "phishing_pot-dev"])
def test_real_mail_reports_only_addresses_really_in_the_urls(corpus: Path, folder: str) -> None:
    found = _real_leaks(corpus / folder)
    assert found, "these folders hold newsletters that do put the recipient in their links"
    for name, row in found:
        # every hit is the whole recipient address written in the URL: verifiable by eye
        assert row.variant in {"as-written", "lower"}, (name, row)
        assert unquote(row.matched).lower() == row.identity.lower(), (name, row)
        assert row.chain in {"plain", "url", "case-changed"}, (name, row)


@pytest.mark.corpus
def test_real_mail_known_leak(corpus: Path) -> None:
    found = _real_leaks(corpus / "spamassassin-public-corpus" / "hard-ham-1")
    first = [r for name, r in found if name.startswith("00001.")]
    assert [(r.identity, r.location, r.host) for r in first] == [
        ("mkettler@home.com", "query[email]", "www.fool.com")]


# ---------------------------------------------------------------- end to end, through the scan


def _extraction_registered() -> bool:
    from forensics.stages import ANALYSERS

    return ANALYSERS.index(analyse_leaks) > 1  # something runs before tokens and leaks


needs_extraction = pytest.mark.skipif(not _extraction_registered(), reason="extraction stage not registered yet")


def _scan_leaks(evidence: Path, out: Path, identities: tuple[str, ...], workers: int = 1) -> list[dict[str, object]]:
    from forensics.pipeline import ScanOptions, scan
    from forensics.report.csvout import QUERIES
    from forensics.store import Store

    scan([evidence], ScanOptions(out=out, workers=workers, settings=Settings(identities=identities)))
    with Store(out) as store:
        return [dict(r) for r in store.query(QUERIES["leaks"])]


@needs_extraction
def test_scan_finds_every_generated_leak(tmp_path: Path) -> None:
    corpus = gen.write(tmp_path / "evidence")
    rows = _scan_leaks(tmp_path / "evidence", tmp_path / "case", corpus.identities)
    found = sorted((r["subject"], r["identity"], r["variant"], r["chain"], r["location"], r["party"]) for r in rows)
    assert found == sorted((e.subject, e.identity, e.variant, e.chain, e.location, e.party) for e in corpus.leaks)


@needs_extraction
def test_scan_without_leaks_reports_none(tmp_path: Path) -> None:
    corpus = gen.write(tmp_path / "evidence", leaks=False)
    assert _scan_leaks(tmp_path / "evidence", tmp_path / "case", corpus.identities) == []


@needs_extraction
def test_scan_results_do_not_depend_on_workers(tmp_path: Path) -> None:
    corpus = gen.write(tmp_path / "evidence")
    one = _scan_leaks(tmp_path / "evidence", tmp_path / "one", corpus.identities, workers=1)
    two = _scan_leaks(tmp_path / "evidence", tmp_path / "two", corpus.identities, workers=2)
    assert one == two


@needs_extraction
@pytest.mark.corpus
@pytest.mark.slow
def test_scan_of_real_newsletters_reports_only_real_leaks(corpus: Path, tmp_path: Path) -> None:
    rows = _scan_leaks(corpus / "spamassassin-public-corpus" / "hard-ham-1", tmp_path / "case", ())
    assert rows
    for row in rows:  # the whole recipient address, written in the URL
        assert unquote(str(row["matched"])).lower() == str(row["identity"]).lower(), row
