"""URL tokens: how a URL is cut into tokens, how each is decoded, which are kept."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from forensics.analyse import MessageContext, Settings
from forensics.records import Address, FoundUrl, Locator, Message
from forensics.tokens.decode import base32_step, base64_step, decode_steps, hex_step, json_leaves, url_step
from forensics.tokens.rows import (
    MessageRecipientRow,
    TokenRow,
    analyse_tokens,
    body_shape,
    charclass,
    entropy,
    is_identifier_like,
)
from forensics.tokens.split import Token, url_tokens


def _by_location(url: str) -> dict[tuple[str, str], str]:
    return {(t.location, " > ".join(t.chain)): t.value for t in url_tokens(url)}


def test_path_query_and_fragment_parts_each_have_a_location() -> None:
    found = _by_location("https://t.esp.example/o/AbC123xyz.gif?u=42aa&mc_eid=77e1f0a9#ref=mail9x")
    assert found == {
        ("path[0]", ""): "o",
        ("path[1]", ""): "AbC123xyz",  # the image extension is not part of the token
        ("query[u]", ""): "42aa",
        ("query[mc_eid]", ""): "77e1f0a9",
        ("fragment[ref]", ""): "mail9x",
    }


def test_bare_query_items_and_plain_fragments() -> None:
    found = _by_location("https://x.example/p?Zm9vYmFyMTIz&a=1#k9Jq2LmP")
    assert found[("query[#0]", "")] == "Zm9vYmFyMTIz"
    assert found[("query[#0]", "base64")] == "foobar123"
    assert found[("fragment", "")] == "k9Jq2LmP"


def test_double_url_encoding_is_two_steps() -> None:
    found = _by_location("https://x.example/?e=a.b%252Bc%2540d.org")
    assert found[("query[e]", "url")] == "a.b%2Bc%40d.org"
    assert found[("query[e]", "url > url")] == "a.b+c@d.org"


def test_nested_url_in_a_parameter_is_split_again_with_its_hosts() -> None:
    inner = "https://partner.example/land/Q7xk29?uid=8842aa19"
    tokens = url_tokens(f"https://click.esp.example/r?u={quote(inner, safe='')}")
    uid = next(t for t in tokens if t.location == "query[u]>query[uid]")
    assert uid.value == "8842aa19" and uid.chain == ("url",)
    assert uid.hosts == ("click.esp.example", "partner.example")
    assert any(t.location == "query[u]>path[1]" and t.value == "Q7xk29" for t in tokens)


def test_unwrapped_destination_is_split_when_not_already_inside_the_wrapper() -> None:
    tokens = url_tokens("https://safe.gw.example/v3/__abc__", "https://shop.example/p?rid=77ab12cd")
    rid = next(t for t in tokens if t.location == "unwrapped>query[rid]")
    assert rid.value == "77ab12cd" and rid.hosts == ("safe.gw.example", "shop.example")


def test_three_nested_layers_url_base64_json() -> None:
    payload = base64.b64encode(json.dumps({"u": {"id": "k2J9x0"}}).encode()).decode()
    assert payload.endswith("=")  # so that URL-encoding has something to encode
    tokens = url_tokens("https://x.example/?d=" + quote(quote(payload, safe=""), safe=""))
    leaf = next(t for t in tokens if t.location == "query[d]>json[u.id]")
    assert leaf.value == "k2J9x0"
    assert leaf.chain == ("url", "url", "base64")


def test_jwt_segments_are_decoded_to_their_claims() -> None:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    jwt = f"{enc({'alg': 'HS256'})}.{enc({'sub': 'user-8812', 'cid': 77})}.c2lnbmF0dXJl"
    found = {t.location: t for t in url_tokens(f"https://x.example/t/{jwt}")}
    assert found["path[1]>jwt[1]>json[sub]"].value == "user-8812"
    assert found["path[1]>jwt[1]>json[cid]"].value == "77"
    # the alphabet is named from what the text shows: this segment has no "-" or "_"
    assert found["path[1]>jwt[1]>json[sub]"].chain == ("base64-nopad",)


def test_query_string_inside_base64() -> None:
    blob = base64.b64encode(b"uid=5521&list=news").decode()
    found = _by_location(f"https://x.example/?q={blob}")
    assert found[("query[q]>qs[uid]", "base64")] == "5521"


def test_decoders_decline_what_the_data_does_not_show() -> None:
    assert url_step("no-percent-here") is None
    assert base64_step("short") is None
    assert base64_step("newsletter") is None  # valid alphabet, decodes to junk: not base64
    assert hex_step("deadbeefcafe0000") is None  # binary: a digest stays as it is
    assert base32_step("ABCDEFGH") is None  # decodes to bytes that are not text
    assert list(decode_steps("spring-sale")) == []


def test_decoders_name_what_they_see() -> None:
    assert base64_step(base64.b64encode(b"alice@example.org").decode()) == ("base64", "alice@example.org")
    assert base64_step("YWxpY2VAZXhhbXBsZS5vcmc") == ("base64-nopad", "alice@example.org")
    assert base32_step(base64.b32encode(b"alice@example.org").decode()) == ("base32", "alice@example.org")
    assert hex_step(b"alice@example.org".hex()) == ("hex", "alice@example.org")
    raw = hashlib.sha256(b"x").digest()
    assert base64_step(base64.urlsafe_b64encode(raw).decode().rstrip("=")) in {
        ("base64url-nopad+raw", raw.hex()), ("base64-nopad+raw", raw.hex())}


def test_upper_case_hex_is_lowered_as_a_step() -> None:
    digest = hashlib.md5(b"x").hexdigest()
    found = _by_location(f"https://x.example/?h={digest.upper()}")
    assert found[("query[h]", "upper")] == digest


def test_json_leaves_flatten_nested_keys() -> None:
    assert json_leaves('{"a": {"b": "x", "n": 3}, "l": ["y", true]}') == [("a.b", "x"), ("a.n", "3"), ("l.0", "y")]
    assert json_leaves("{broken") is None


def test_bounded_on_adversarial_input() -> None:
    value = quote(quote(quote(quote(quote(quote("a@b.example", safe=""), safe=""), safe=""), safe=""),
                              safe=""), safe="")
    tokens = url_tokens(f"https://x.example/?e={value}")
    assert max(len(t.chain) for t in tokens) == 5  # MAX_DECODE_STEPS
    assert len(url_tokens("https://x.example/" + "/".join(["a"] * 5000))) == 5000


def _tok(value: str, binary: bool = False) -> Token:
    return Token(location="query[x]", raw=value, value=value, chain=(), hosts=(), binary=binary)


def test_identifier_rule() -> None:
    keep = ["8842aa19", "a1b2c3", "123456", "R137fda1a09b33c9", "XyZaBcDeFgHiJkLm", "2024-03-15"]
    skip = ["newsletter", "spring-sale", "logo", "12345", "600x400", "000000", "has space 12",
            "https://x.example/", "xyzabcdefghijklm"]
    assert [v for v in keep if not is_identifier_like(_tok(v))] == []
    assert [v for v in skip if is_identifier_like(_tok(v))] == []
    assert not is_identifier_like(_tok("ab" * 16, binary=True))


def test_character_class_and_entropy() -> None:
    assert [charclass(v) for v in ("123456", "deadbeef", "AbcDef", "Ab12", "a-b_c", "a+b/c=", "a.b@c")] == [
        "digits", "hex", "alpha", "alnum", "base64url", "base64", "text"]
    assert entropy("aaaa") == 0.0
    assert entropy("abcd") == 2.0
    assert entropy("0123456789abcdef") == 4.0


def _message(**kw: object) -> Message:
    base: dict[str, object] = dict(
        message_sha256="f" * 64, hash_basis="raw-rfc5322", format="eml",
        locator=Locator(source_path="box", source_sha256="0" * 64, kind="file"),
        from_=(Address(name="Shop", address="News@Shop.example"),),
        to=(Address(name="Alice Smith", address="alice@example.org"),),
        subject="Sale", html=("<p>Hi Alice Smith</p><a href='https://t.example/c?r=1'>x</a>",),
    )
    base.update(kw)
    return Message(**base)  # type: ignore[arg-type]


def _found(url: str, i: int = 0) -> FoundUrl:
    return FoundUrl(finding_id=f"ff-link-{i}", message_sha256="f" * 64, kind="link", url=url,
                    unwrapped=url, host="t.example", registered_domain="t.example")


def test_analyser_rows_carry_sender_recipient_and_evidence() -> None:
    context = MessageContext(urls=[_found("https://t.example/c/8842aa19?n=1"), _found("mailto:x@y.example", 1)])
    rows = analyse_tokens(_message(), Settings(), context)
    head, *tokens = rows
    assert isinstance(head, MessageRecipientRow)
    assert (head.sender, head.recipient, head.identities) == ("news@shop.example", "alice@example.org",
                                                                "alice@example.org")
    assert [(t.location, t.value, t.slot, t.charclass) for t in tokens if isinstance(t, TokenRow)] == [
        ("path[1]", "8842aa19", 0, "hex")]


def test_analyser_without_web_urls_returns_nothing() -> None:
    assert analyse_tokens(_message(), Settings(), MessageContext(urls=[_found("mailto:a@b.example")])) == []


def test_body_shape_ignores_urls_and_the_recipient() -> None:
    alice = _message()
    bob = _message(to=(Address(name="Bob Jones", address="bob@example.net"),),
                   html=("<p>Hi Bob Jones</p><a href='https://t.example/c?r=2'>x</a>",))
    other = _message(html=("<p>Another text</p>",))
    shape = lambda m: body_shape(m, ())  # noqa: E731
    assert shape(alice) == shape(bob)
    assert shape(alice) != shape(other)
    assert body_shape(_message(html=(), subject=None), ()) == ""


_SHAPE_IN_A_CHILD = """
from forensics.records import Address
from tests.test_tokens import _message
from forensics.tokens.rows import body_shape
print(body_shape(_message(to=(Address(name="bcd abc", address="x@example.org"),), html=("abcd",), subject=""), ()))
"""


def test_body_shape_is_the_same_whatever_the_hash_seed() -> None:
    """Names of one length that overlap ("abc", "bcd" in "abcd") are removed in one order."""
    shapes = {subprocess.run([sys.executable, "-c", _SHAPE_IN_A_CHILD], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, cwd=Path(__file__).parent.parent).stdout
              for seed in ("0", "1", "2", "3")}
    assert shapes == {hashlib.sha256(b"d").hexdigest() + "\n"}  # "abc" first: " d"
