"""The identity forms built in groups (each only when a text of its shape is looked up:
words, encodings, checksums, digests) explain every text as the single table in
``forms_of`` order did: same forms, same first explanation, same order.
Recipient and sender addresses read through the parser's fast path read as the stdlib reads them."""

from __future__ import annotations

from email.utils import getaddresses, parseaddr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.leaks import (
    _CHECKSUMS,
    _ENCODED,
    _WORD_STEPS,
    _WORDS,
    FormsIndex,
    Hit,
    IdentityForms,
    _address_list,
    _binary_encodings,
    _checksum_shaped,
    _checksums,
    _encoded_lengths,
    forms_index,
    forms_of,
    identity_forms,
    identity_variants,
)

IDENTITIES = [
    ("alice@example.org", "Alice@Example.org ", True),
    ("bob.smith+news@mail.example.com", "bob.smith+news@mail.example.com", True),
    ("info@example.net", "info@example.net", False),  # a role local part: no bare-word forms
    ("x7@e.co", "x7@e.co", True),
    ("carol@example.org", "carol@example.org", False),
    ("dave@example.org", "DAVE@example.org", True),
]


def _reference_forms(key: str, written: str, deep: bool) -> dict[str, Hit]:
    """The former ``identity_forms``: one table, every form in ``forms_of`` order."""
    table: dict[str, Hit] = {}
    for variant, text in identity_variants(written):
        for steps, form in forms_of(text, deep):
            if variant.startswith("local") and steps in _WORD_STEPS:
                continue
            table.setdefault(form, Hit(key, variant, steps))
    return table


@pytest.mark.parametrize(("key", "written", "deep"), IDENTITIES)
def test_one_identity_has_the_same_forms_in_the_same_order(key: str, written: str, deep: bool) -> None:
    assert list(identity_forms(key, written, deep).items()) == list(_reference_forms(key, written, deep).items())


@pytest.mark.parametrize("count", [1, 3, 6])  # 6 identities: the merged index
def test_every_form_is_explained_as_the_single_table_explains_it(count: int) -> None:
    chosen = tuple(IDENTITIES[:count])
    tables = [_reference_forms(*i) for i in chosen]
    index = forms_index(chosen)
    assert isinstance(index, FormsIndex)
    texts = {form for t in tables for form in t} | {"", "nothing", "0" * 32, "f" * 64, "alice"}
    for text in sorted(texts):
        assert index.get(text) == tuple(t[text] for t in tables if text in t), text
    assert list(forms_index(chosen)) == list(dict.fromkeys(f for t in tables for f in t))


def test_digests_are_not_built_until_a_digest_shaped_text_is_looked_up() -> None:
    chosen = (("erin@example.org", "erin@example.org", True),)
    index = forms_index(chosen)
    assert index.get("erin@example.org") == (Hit("erin@example.org", "as-written", ()),)
    assert index.forms[0]._digests is None
    assert index.get("ZXJpbkBleGFtcGxlLm9yZw==") == (Hit("erin@example.org", "as-written", ("base64",)),)
    assert index.forms[0]._digests is None
    md5 = "4d2a1b7ec86e0dbf8d2a6a35a3ad7a47"  # not erin's: looked up all the same
    assert index.get(md5) == ()
    assert index.forms[0]._digests is not None


@pytest.mark.parametrize("value", ["<bounce@example.org>", "bounce@example.org", "<>", "", "Name <a@b.example>",
                                   "a@b (comment)", "<@route:a@b>", "junk", "a@b, c@d"])
def test_return_path_reads_as_parseaddr_reads_it(value: str) -> None:
    assert (_address_list([value]) or [("", "")])[0] == parseaddr(value)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(["a", "@", "b.c", "<", ">", ",", " ", '"', "(x)", ":", ";", "d@e.f"]), max_size=10)
       .map("".join))
def test_generated_address_lists_read_as_the_stdlib_reads_them(value: str) -> None:
    assert _address_list([value]) == getaddresses([value])
    assert (_address_list([value]) or [("", "")])[0] == parseaddr(value)


# ---------------------------------------------------------------- groups built by the text's shape

_ADDRESS_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=500, deadline=None)
@given(_ADDRESS_TEXT, _ADDRESS_TEXT)
def test_every_plain_form_has_the_shape_its_group_is_looked_up_by(local: str, domain: str) -> None:
    written = f"{local}@{domain}"
    for _variant, text in identity_variants(written):
        assert {len(form) for _, form in _binary_encodings(text)} <= _encoded_lengths(text)
        assert all(_checksum_shaped(form) for _, form in _checksums(text)), text


@settings(max_examples=300, deadline=None)
@given(st.emails(), st.booleans(), st.lists(st.from_regex(r"-?[0-9]{1,12}|[0-9a-f]{8}|[A-Za-z0-9+/=_-]{4,40}",
                                                            fullmatch=True), max_size=5))
def test_generated_identities_explain_every_text_as_the_single_table(address: str, deep: bool,
                                                                     others: list[str]) -> None:
    identity = (address.lower(), address, deep)
    table = _reference_forms(*identity)
    index = FormsIndex((IdentityForms(*identity),))
    for text in [*table, *others]:
        assert index.get(text) == ((table[text],) if text in table else ()), text


def test_a_word_builds_no_group_but_the_words() -> None:
    forms = IdentityForms("frank@example.org", "frank@example.org", True)
    index = FormsIndex((forms,))
    assert forms.encoded_lengths == {7, 8, 10, 23, 24, 34}  # "frank" and "frank@example.org" encoded
    assert index.get("unsubscribe") == ()
    assert list(forms._groups) == [_WORDS]
    assert index.get("12345") == ()  # a number could be a checksum in decimal: the checksums are built
    assert list(forms._groups) == [_WORDS, _CHECKSUMS] and forms._digests is None
    assert index.get("ZnJhbmtAZXhhbXBsZS5vcmc") == (Hit("frank@example.org", "as-written", ("base64-nopad",)),)
    assert list(forms._groups) == [_WORDS, _CHECKSUMS, _ENCODED] and forms._digests is None
