"""Real Outlook files from ../shared/corpus: every .msg read or refused with a reason,
every PST/OST folder's item count exact, code pages, RTF-only HTML, damaged items."""

from __future__ import annotations

import collections
import functools
from pathlib import Path

import pytest

from forensics.errors import ReadError
from forensics.ingest import identify, msg, pst
from forensics.records import Message

pytestmark = pytest.mark.corpus

# Discovered once with this reader (libpff-python 20260926), then fixed here: a change
# is a regression to explain. Items libpff cannot open are counted (as unreadable).
PST_FOLDER_COUNTS: dict[str, dict[str, int]] = {
    "aspose-email-net/Outlook/Chunks/Test_part1.pst": {
        "/Top of Personal Folders/Sent Items": 31, "/Top of Personal Folders/Calendar": 9,
        "/Top of Personal Folders/Contacts": 21},
    "aspose-email-net/Outlook/MergePST/SampleContacts.pst": {"/Top of Personal Folders/Contacts": 6},
    "aspose-email-net/Outlook/Outlook.pst": {
        "/Top of Personal Folders/Inbox": 8, "/Top of Personal Folders/Sent Items": 6,
        "/Top of Personal Folders/Calendar": 1, "/Top of Personal Folders/Contacts": 1, "/Freebusy Data": 1},
    "aspose-email-net/Outlook/Outlook_1.pst": {
        "/Top of Personal Folders/Inbox": 8, "/Top of Personal Folders/Sent Items": 6,
        "/Top of Personal Folders/Calendar": 1, "/Top of Personal Folders/Contacts": 1, "/Freebusy Data": 1},
    "aspose-email-net/Outlook/PersonalStorage.pst": {},
    "aspose-email-net/Outlook/PersonalStorageFile.pst": {"/Top of Personal Folders/myInbox": 18},
    "aspose-email-net/Outlook/PersonalStorageFile1.pst": {"/Top of Personal Folders/myInbox": 72},
    "aspose-email-net/Outlook/PersonalStorageFile2.pst": {"/Top of Personal Folders/myInbox": 24},
    "aspose-email-net/Outlook/SampleContacts1.pst": {"/Top of Personal Folders/Contacts": 6},
    "aspose-email-net/Outlook/SampleOstFile.ost": {
        "/Root - Mailbox/IPM_SUBTREE/Deleted Items": 10, "/Root - Mailbox/IPM_SUBTREE/Inbox": 12,
        "/Root - Mailbox/IPM_SUBTREE/Inbox/sub1": 25, "/Root - Mailbox/IPM_SUBTREE/Inbox/sub2": 29,
        "/Root - Mailbox/IPM_SUBTREE/Sent Items": 6, "/Root - Mailbox/IPM_SUBTREE/Calendar": 1,
        "/Root - Mailbox/IPM_SUBTREE/Sync Issues": 9},
    "aspose-email-net/Outlook/passwordprotectedPST.pst": {
        "/Top of Personal Folders/Deleted Items": 14, "/Top of Personal Folders/Inbox": 4},
    "aspose-email-net/Outlook/source.pst": {
        "/Top of Personal Folders/Inbox": 8, "/Top of Personal Folders/Sent Items": 6,
        "/Top of Personal Folders/Calendar": 1, "/Top of Personal Folders/Contacts": 1, "/Freebusy Data": 1},
    "java-libpst/dist-list.pst": {
        "/Top of Personal Folders/Calendar": 1, "/Top of Personal Folders/Contacts": 2, "/Freebusy Data": 1},
    "java-libpst/passworded.pst": {"/Top of Personal Folders/Contacts": 2, "/Freebusy Data": 1},
    "go-pst/32-bit.pst": {"/Top of Personal Folders/Calendar": 1},
    "go-pst/support.pst": {"/Top of Personal Folders/Drafts": 6, "/Top of Personal Folders/Sent Messages": 11},
}


@functools.lru_cache(maxsize=None)  # RTF de-encapsulation is slow: read each file once per run
def read_store(path: Path) -> list[Message]:
    return [m for shard in pst.plan(path, "f" * 64, 0) for m in pst.read(shard)]


@functools.lru_cache(maxsize=None)
def read_msg(path: Path) -> list[Message]:
    return [m for m in msg.read(next(msg.plan(path, "f" * 64, 0))) if isinstance(m, Message)]


def test_every_store_is_found_and_counted_per_folder(corpus: Path) -> None:
    found = sorted(str(p.relative_to(corpus)) for folder in ("aspose-email-net", "java-libpst", "go-pst")
                   for p in (corpus / folder).rglob("*") if p.suffix.lower() in (".pst", ".ost"))
    assert found == sorted(PST_FOLDER_COUNTS)
    for name, expected in PST_FOLDER_COUNTS.items():
        path = corpus / name
        assert identify(path) == ("pst", ""), name
        counts = collections.Counter(m.locator.folder for m in read_store(path))
        assert dict(counts) == expected, name


@pytest.mark.slow  # RTFDE takes about a second per RTF-only item
def test_every_msg_is_read_or_refused_with_a_reason(corpus: Path) -> None:
    files = sorted(p for folder in ("aspose-email-net", "kenjiuno-msgreader")
                   for p in (corpus / folder).rglob("*.msg"))
    assert len(files) == 78
    outcomes: dict[str, int] = {}
    refused: dict[str, str] = {}
    for path in files:
        assert identify(path) == ("msg", ""), path
        try:
            outcomes[str(path.relative_to(corpus))] = len(read_msg(path))
        except ReadError as e:
            refused[str(path.relative_to(corpus))] = str(e)
    assert refused == {}
    assert sum(outcomes.values()) == 114  # 78 files and 36 embedded items
    assert outcomes["kenjiuno-msgreader/test/msgInMsgInMsg.msg"] == 3
    assert outcomes["kenjiuno-msgreader/test/Many entities.msg"] == 23


def test_ost_is_read_as_ost(corpus: Path) -> None:
    messages = read_store(corpus / "aspose-email-net" / "Outlook" / "SampleOstFile.ost")
    assert len(messages) == 92
    assert {m.format for m in messages} == {"ost"}
    assert all(m.locator.kind == "pst" and m.locator.node_id for m in messages)
    assert all(m.hash_basis == "pst-canonical-v1" for m in messages)


def test_cp932_subject_is_decoded(corpus: Path) -> None:
    [message] = read_msg(corpus / "kenjiuno-msgreader" / "test" / "nonUnicodeCP932.msg")
    assert message.subject == "日本語 Non Unicode タイトル"
    assert message.html_source == "rtf-encapsulated-html"


def test_rtf_only_item_html_is_recovered(corpus: Path) -> None:
    [message] = read_msg(corpus / "kenjiuno-msgreader" / "test" / "htmlLink.msg")
    assert message.html_source == "rtf-encapsulated-html"
    assert '<a href="https://google.com/">' in message.html[0]
    assert '<a href="mailto:test@example.com">' in message.html[0]


def test_rtf_only_items_in_a_store_are_recovered(corpus: Path) -> None:
    messages = read_store(corpus / "aspose-email-net" / "Outlook" / "SampleOstFile.ost")
    sources = collections.Counter(m.html_source for m in messages)
    assert sources == {"plain-only": 58, "html": 20, "rtf-only": 11, "rtf-encapsulated-html": 2, None: 1}


def test_received_lines_are_all_kept(corpus: Path) -> None:
    [top, _report] = read_msg(corpus / "aspose-email-net" / "Email" / "failed.msg")
    assert len(top.received) == 2
    assert top.headers_synthetic is False


def test_attached_eml_is_linked_to_its_parent(corpus: Path) -> None:
    top, attached = read_msg(corpus / "kenjiuno-msgreader" / "test" / "Attach sample eml sent.msg")
    assert (attached.parent_sha256, attached.locator.part) == (top.message_sha256, "attachment/0")
    assert attached.hash_basis == "raw-rfc5322"


def test_non_mail_items_keep_their_class(corpus: Path) -> None:
    classes = {path.name: read_msg(path)[0].message_class for path in
               sorted((corpus / "aspose-email-net" / "Outlook").glob("*.msg"))}
    assert classes["MapiTask.msg"] == "IPM.Task"
    assert classes["Contact.msg"] == "IPM.Contact"
    assert classes["Note.msg"] == "IPM.StickyNote"
    assert classes["Test Meeting.msg"] == "IPM.Appointment"


def test_damaged_items_are_reported_and_the_rest_kept(corpus: Path) -> None:
    messages = read_store(corpus / "aspose-email-net" / "Outlook" / "Chunks" / "Test_part1.pst")
    unreadable = [m for m in messages if any(d.startswith("ItemUnreadable") for d in m.defects)]
    assert (len(messages), len(unreadable)) == (61, 12)
    assert {m.locator.part for m in unreadable} == {f"index:{i}" for i in range(9, 21)}
    assert unreadable[0].defects[0].startswith(
        "ItemUnreadable: OSError: pypff_folder_get_sub_message_by_index: unable to retrieve sub message: 9")


def test_sent_items_without_headers_are_flagged_and_senders_found(corpus: Path) -> None:
    messages = read_store(corpus / "go-pst" / "support.pst")
    sent = [m for m in messages if m.locator.folder.endswith("Sent Messages")]
    assert len(sent) == 11
    drafts = [m for m in messages if m.locator.folder.endswith("Drafts")]
    assert drafts[0].from_[0].address == "support@hackingteam.com"
    assert all(m.date_utc is None or m.date_utc.endswith("Z") for m in messages)


def test_plan_is_deterministic(corpus: Path) -> None:
    path = corpus / "aspose-email-net" / "Outlook" / "SampleOstFile.ost"
    first = list(pst.plan(path, "f" * 64, 0))
    assert first == list(pst.plan(path, "f" * 64, 0))
    assert len(first) == 7
    assert [m.message_sha256 for m in read_store(path)] == [m.message_sha256 for m in read_store(path)]
