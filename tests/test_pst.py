"""PST/OST stores: recognised by their signature, damaged stores reported, never fatal.

Real stores come from the shared corpus (tests/test_corpus_outlook.py); these tests
use tiny inline files and a truncated copy of a corpus store made in a temp folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics.analyse import Settings
from forensics.errors import ReadError
from forensics.ingest import identify, pst
from forensics.pipeline import process_shard
from forensics.records import Locator

HEADER = b"!BDN" + b"\x00" * 4 + b"SM" + b"\x17\x00" + b"\x00" * 500


def test_recognised_by_signature_whatever_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "mailbox.backup"
    path.write_bytes(HEADER)
    assert pst.sniff(HEADER, path)
    assert pst.sniff(b"!BDN\0\0\0\0SO" + b"\0" * 20, path)  # OST
    assert not pst.sniff(b"!BDN\0\0\0\0AB" + b"\0" * 20, path)  # address book (.pab)


def test_unopenable_store_is_one_failing_shard_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.pst"
    path.write_bytes(HEADER)
    assert identify(path) == ("pst", "")
    [shard] = list(pst.plan(path, "a" * 64, len(HEADER)))
    with pytest.raises(ReadError, match="libpff cannot open the store"):
        list(pst.read(shard))
    findings, row = process_shard(shard, Settings())
    [problem] = findings.rows["problems"]
    assert (problem.kind, row.messages) == ("read-error", 0)  # type: ignore[attr-defined]


def test_truncated_store_is_reported_with_libpffs_reason(tmp_path: Path, corpus: Path) -> None:
    # libpff builds the whole index tree when it opens a store: a store cut short cannot
    # be opened at all, and the problem says where it broke. (Item-level damage, where
    # the rest of the store is kept, is tested on Test_part1.pst in test_corpus_outlook.)
    data = (corpus / "aspose-email-net" / "Outlook" / "SampleOstFile.ost").read_bytes()
    cut = tmp_path / "cut.ost"
    cut.write_bytes(data[: len(data) // 2])
    [shard] = list(pst.plan(cut, "b" * 64, 0))
    with pytest.raises(ReadError) as caught:
        list(pst.read(shard))
    assert str(caught.value) == (
        f"{cut}: libpff cannot open the store: pypff_file_open_file_object: unable to open file. … "
        "libpff_index_node_read_file_io_handle: unable to read index node data at offset: 2068480 (0x001f9000)"
    )


def test_unreadable_item_is_hashed_from_its_place() -> None:
    locator = Locator(source_path="x.pst", source_sha256="c" * 64, kind="pst", folder="/Inbox", part="index:3")
    message = pst.unreadable(locator, "pst", OSError("libpff_a: unable. libpff_b: x. libpff_c: bad value"))
    assert message.hash_basis == "pst-unreadable-v1"
    assert message.defects == ("ItemUnreadable: OSError: libpff_a: unable. … libpff_b: x",)
    assert message.message_sha256 == pst.unreadable(locator, "pst", OSError("other")).message_sha256


def test_canonical_hash_ignores_bookkeeping_but_not_content() -> None:
    base = {0x0037: (0x1F, "hi".encode("utf-16-le")), 0x0E07: (0x03, b"\x01\0\0\0")}
    read_later = {**base, 0x0E07: (0x03, b"\x00\0\0\0")}
    edited = {**base, 0x0037: (0x1F, "ho".encode("utf-16-le"))}
    assert pst.canonical_hash([base], [], []) == pst.canonical_hash([read_later], [], [])
    assert pst.canonical_hash([base], [], []) != pst.canonical_hash([edited], [], [])
