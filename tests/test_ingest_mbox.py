"""The mbox reader: every variant, line ending and damaged shape, cut exactly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from forensics.ingest import mbox
from forensics.ingest.stream import StreamWindow
from forensics.records import RawMessage

BOX = (
    b"From alice@example.org Mon Jan  1 10:00:00 2024\n"
    b"From: Alice <alice@example.org>\nSubject: one\n\n"
    b"From the start, a body line that is not a separator.\n"
    b">From quoted once\n>>From quoted twice\n\n"
    b"From bob@example.net Tue Jan  2 10:00:00 2024\n"
    b"From: Bob <bob@example.net>\nSubject: two\n\nbody two\n\n"
)


def cut(data: bytes) -> list[RawMessage]:
    return list(mbox.read_buffer(data, "box", "sha"))


def test_mboxrd_unquotes_exactly_one_level_and_keeps_from_lines_in_bodies() -> None:
    first, second = cut(BOX)
    assert first.data == (
        b"From: Alice <alice@example.org>\nSubject: one\n\n"
        b"From the start, a body line that is not a separator.\n"
        b"From quoted once\n>From quoted twice\n"
    )
    assert second.data == b"From: Bob <bob@example.net>\nSubject: two\n\nbody two\n"
    assert (first.locator.offset, first.locator.length) == (0, 186)
    assert second.locator.offset == 186 == BOX.index(b"From bob")
    assert first.envelope == "From alice@example.org Mon Jan  1 10:00:00 2024"
    assert first.format == second.format == "mbox"


def test_line_endings_lf_crlf_cr_give_the_same_messages() -> None:
    variants = [BOX, BOX.replace(b"\n", b"\r\n"), BOX.replace(b"\n", b"\r")]
    cuts = [cut(v) for v in variants]
    assert [len(c) for c in cuts] == [2, 2, 2]
    for eol, messages in zip((b"\n", b"\r\n", b"\r"), cuts):
        assert [m.data.replace(eol, b"\n") for m in messages] == [m.data for m in cuts[0]]


def test_prose_from_line_followed_by_a_header_like_line_does_not_split() -> None:
    data = (b"From - Mon Jan  1 10:00:00 2024\nSubject: film\n\nMy favourite:\n\n"
            b"From Russia with love\nYear: 1963\n\nend\n")
    (only,) = cut(data)
    assert only.data.endswith(b"From Russia with love\nYear: 1963\n\nend\n")
    assert only.format == "mbox-netscape"


def test_thunderbird_from_dash_and_dateless_gmail_envelopes_are_separators() -> None:
    data = (b"From -\nSubject: a\n\nx\n\nFrom 1844347792267117879@xxx\nSubject: b\n\ny\n\n"
            b"From ???@??? Mon Jan 01 00:00:00 2001\nSubject: c\n\nz\n")
    messages = cut(data)
    assert [m.data.split(b"\n")[0] for m in messages] == [b"Subject: a", b"Subject: b", b"Subject: c"]
    assert [m.format for m in messages] == ["mbox-netscape", "mbox", "mbox-eudora"]


def test_mboxcl2_content_length_is_honoured_and_body_from_lines_stay_unquoted() -> None:
    body = b"From here the body goes on.\n\nFrom x@y Mon Jan  1 10:00:00 2024\nSubject: fake\n"
    data = (b"From a@example.com Mon Jan  1 10:00:00 2024\nSubject: cl\n"
            b"Content-Length: %d\n\n" % len(body) + body + b"\n"
            b"From b@example.com Mon Jan  1 11:00:00 2024\nSubject: next\n\nok\n")
    first, second = cut(data)
    assert first.data.endswith(b"\n\n" + body)
    assert first.format == "mboxcl"
    assert second.data == b"Subject: next\n\nok\n"


def test_inconsistent_content_length_falls_back_to_separators_with_a_defect() -> None:
    data = (b"From a@example.com Mon Jan  1 10:00:00 2024\nSubject: cl\nContent-Length: 3\n\n"
            b"longer than three\n\nFrom b@example.com Mon Jan  1 11:00:00 2024\nSubject: n\n\nok\n")
    first, second = cut(data)
    assert first.defects == ("ContentLengthInconsistent",)
    assert first.data.endswith(b"longer than three\n")
    assert second.data == b"Subject: n\n\nok\n"


def test_content_length_beyond_end_of_file_is_a_defect() -> None:
    data = b"From a@example.com Mon Jan  1 10:00:00 2024\nSubject: t\nContent-Length: 999\n\nshort\n"
    (only,) = cut(data)
    assert only.defects == ("ContentLengthBeyondEndOfFile",)
    assert only.data == b"Subject: t\nContent-Length: 999\n\nshort\n"


def test_crlf_content_length_is_honoured() -> None:
    body = b"From inside\r\n"
    data = (b"From a@example.com Mon Jan  1 10:00:00 2024\r\nSubject: c\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body + b"\r\nFrom b@example.com Mon Jan  1 11:00:00 2024\r\nSubject: d\r\n\r\nz\r\n")
    first, second = cut(data)
    assert first.format == "mboxcl" and first.data.endswith(b"\r\n\r\nFrom inside\r\n")
    assert second.data == b"Subject: d\r\n\r\nz\r\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"\n\n", []),
        (b"From a@b Mon Jan  1 10:00:00 2024\n", [b""]),
        (b"From a@b Mon Jan  1 10:00:00 2024\nSubject: cut mid-hea", [b"Subject: cut mid-hea"]),
    ],
)
def test_empty_tiny_and_truncated_input(data: bytes, expected: list[bytes]) -> None:
    assert [m.data for m in cut(data)] == expected


def test_leading_byte_order_mark_is_skipped() -> None:
    (only,) = cut(b"\xef\xbb\xbfFrom -\nSubject: bom\n\nx\n")
    assert only.data == b"Subject: bom\n\nx\n"
    assert only.locator.offset == 3


def test_thunderbird_status_flags_and_expunged_bit() -> None:
    data = (b"From - Mon Jan  1 10:00:00 2024\nX-Mozilla-Status: 0009\nX-Mozilla-Status2: 00000000\n"
            b"Subject: deleted\n\nx\n")
    (only,) = cut(data)
    assert only.flags == "X-Mozilla-Status=0009;X-Mozilla-Status2=00000000;read;expunged"
    assert only.expunged is True


def test_gmail_labels_are_kept_unfolded() -> None:
    data = (b"From 1@xxx Mon Jan 01 10:00:00 +0000 2024\nX-GM-THRID: 1\n"
            b"X-Gmail-Labels: Inbox,\n Important,Opened\nSubject: l\n\nx\n")
    assert cut(data)[0].labels == "Inbox, Important,Opened"


@pytest.mark.parametrize(
    ("head", "claimed"),
    [
        (b"From a@b Mon Jan  1 10:00:00 2024\nSubject: x\n", True),
        (b"\xef\xbb\xbfFrom -\r\nFrom: a@b\r\n", True),
        (b"From Russia with love\nit was a film\n", False),
        (b"From: a@b\nSubject: x\n", False),
    ],
)
def test_sniff_needs_a_from_line_followed_by_a_header(head: bytes, claimed: bool) -> None:
    assert mbox.sniff(head, Path("x")) is claimed


def test_shards_cut_at_message_boundaries_and_read_the_same_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "box"
    path.write_bytes(BOX * 3)
    monkeypatch.setattr(mbox, "SHARD_BYTES", 200)
    shards = list(mbox.plan(path, "f" * 64, path.stat().st_size))
    assert [(s.start, s.end) for s in shards] == [(0, 284), (284, 568), (568, 852)]  # len(BOX) == 284
    sharded = [m.data for s in shards for m in mbox.read(s)]
    assert sharded == [m.data for m in cut(BOX * 3)]
    assert len(sharded) == 6


@pytest.mark.parametrize(("size", "cut_every"), [
    (0, 1024 * 1024),
    (32_538_194, 1024 * 1024),  # the SpamAssassin corpus: 31 shards, not 8 (two workers finish together)
    (64 * 1024 * 1024, 2 * 1024 * 1024),
    (1024 ** 3, 4 * 1024 * 1024),  # large files: SHARD_BYTES
])
def test_a_smaller_mbox_is_cut_into_smaller_shards(size: int, cut_every: int) -> None:
    assert mbox.shard_bytes(size) == cut_every


def test_stream_window_cuts_like_a_mapped_file() -> None:
    data = (BOX * 50).replace(b"\n", b"\r\n")
    window = StreamWindow(io.BytesIO(data), len(data), chunk=64)
    streamed = list(mbox.read_buffer(window, "box", "sha"))
    assert [(m.data, m.locator.offset) for m in streamed] == [(m.data, m.locator.offset) for m in cut(data)]
    assert window.short_by == 0
