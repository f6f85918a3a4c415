"""Findings about a whole PST/OST store: an empty store and a password-protected one are said,
not silent. Real stores from the shared corpus; the rules themselves on stand-in stores
(libpff cannot write a store, and no library writes PST)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from forensics.analyse import Settings
from forensics.engines.shard import process_shard
from forensics.ingest import plan_input, pst
from forensics.records import ProblemRow

OUTLOOK = Path("aspose-email-net") / "Outlook"
EMPTY = ("empty PST store: none of its 6 folders holds an item and libpff finds no orphan item "
         "(nothing to read)")


def password_reason(crc: str) -> str:
    return (f"password-protected PST: PidTagPstPassword (0x67FF0003) on the message store is {crc}, the CRC-32 "
            f"of the password; a PST password is not encryption, the store was read without it")


def read_count(path: Path) -> tuple[int, list[str]]:
    """Messages read and problem kinds from running every planned shard."""
    count, kinds = 0, []
    for shard in plan_input(path).shards:
        findings, row = process_shard(shard, Settings())
        count += row.messages
        kinds += [p.kind for p in findings.rows.get("problems", [])]  # type: ignore[attr-defined]
    return count, kinds


@pytest.mark.corpus
def test_an_empty_store_is_an_info_problem(corpus: Path) -> None:
    path = corpus / OUTLOOK / "PersonalStorage.pst"
    planned = plan_input(path)
    assert (planned.reader, planned.shards, planned.reason) == ("pst", (), EMPTY)
    assert planned.problems == (ProblemRow(source_path=str(path), source_sha256=planned.evidence.sha256,
                                           locator="file", kind="empty-store", severity="info", reason=EMPTY),)


@pytest.mark.corpus
def test_a_password_protected_store_is_a_warning_and_still_read(corpus: Path) -> None:
    # passwordprotectedPST.pst has 5 items with attached items the binding cannot expand
    # (a known limit, a warning of its own): nothing about the password.
    for relative, crc, messages, kinds in (
        (OUTLOOK / "passwordprotectedPST.pst", "0x11A89DA7", 18, ["embedded-item-not-expanded"] * 5),
        (Path("java-libpst") / "passworded.pst", "0xE61EB50F", 3, []),
    ):
        path = corpus / relative
        planned = plan_input(path)
        assert [(p.kind, p.severity, p.reason, p.locator) for p in planned.problems] == [
            ("password-protected", "warning", password_reason(crc), "file")]
        assert planned.reason == password_reason(crc)
        assert read_count(path) == (messages, kinds)  # every item read, no password needed


@pytest.mark.corpus
def test_other_corpus_stores_have_no_store_notes(corpus: Path) -> None:
    paths = sorted(p for p in corpus.rglob("*") if p.suffix.lower() in (".pst", ".ost"))
    noted = {p.relative_to(corpus).as_posix() for p in paths if plan_input(p).problems}
    assert len(paths) == 16
    assert noted == {"aspose-email-net/Outlook/PersonalStorage.pst", "aspose-email-net/Outlook/passwordprotectedPST.pst",
                     "java-libpst/passworded.pst"}


@pytest.mark.corpus
def test_notes_are_never_run_as_work(corpus: Path) -> None:
    shards = list(pst.plan(corpus / OUTLOOK / "passwordprotectedPST.pst", "f" * 64, 0))
    [note] = [s for s in shards if s.variant == "note"]
    assert note.shard_id == f"ffffffffffffffff:pst:{corpus / OUTLOOK / 'passwordprotectedPST.pst'}:note:password-protected"
    assert list(pst.read(note)) == []


# ---------------------------------------------------------------- the rules, on stand-in stores


class Entry(SimpleNamespace):
    pass


class RecordSet(SimpleNamespace):
    def get_entry(self, index: int) -> Entry:
        return self.entries[index]  # type: ignore[no-any-return]


class MessageStore(SimpleNamespace):
    def get_record_set(self, index: int) -> RecordSet:
        return self.sets[index]  # type: ignore[no-any-return]


def store(*entries: tuple[int, int, bytes]) -> SimpleNamespace:
    """A pypff file whose message store holds ``entries`` (property id, type, value bytes)."""
    records = RecordSet(entries=[Entry(entry_type=i, value_type=t, data=d) for i, t, d in entries],
                        number_of_entries=len(entries))
    return SimpleNamespace(message_store=MessageStore(sets=[records], number_of_record_sets=1))


def folder(messages: int, error: str = "") -> pst._Folder:
    return pst._Folder(path="/Inbox", index_path=(0,), identifier=2, messages=messages, error=error)


def test_password_rule_on_the_property_value() -> None:
    assert pst.password_crc(store((0x67FF, 0x0003, bytes.fromhex("0fb51ee6")))) == (0xE61EB50F, "")
    assert pst.password_crc(store((0x67FF, 0x0003, b"\x00" * 4))) == (0, "")  # zero: no password
    assert pst.password_crc(store((0x3001, 0x001F, "Personal Folders".encode("utf-16-le")))) == (None, "")  # absent
    assert pst.password_crc(SimpleNamespace(message_store=None)) == (None, "libpff found no message store")


class BrokenStore:
    @property
    def message_store(self) -> None:
        raise OSError("libpff_file_get_message_store: unable to retrieve message store. libpff_x: bad node")


def test_unreadable_store_properties_are_said() -> None:
    reason = ("message store properties unreadable (libpff_file_get_message_store: unable to retrieve message "
              "store. … libpff_x: bad node): whether the PST has a password is unknown")
    assert pst.store_notes(BrokenStore(), "pst", [folder(4)], 0) == [("store-properties-unreadable", "info", reason)]


def test_store_notes_rules() -> None:
    locked = store((0x67FF, 0x0003, bytes.fromhex("a79da811")))
    assert pst.store_notes(locked, "pst", [folder(4)], 0) == [
        ("password-protected", "warning", password_reason("0x11A89DA7"))]
    assert pst.store_notes(locked, "ost", [folder(4)], 0) == []  # Outlook does not lock an OST
    empty = "empty OST store: none of its 2 folders holds an item and libpff finds no orphan item (nothing to read)"
    assert pst.store_notes(store(), "ost", [folder(0), folder(0)], 0) == [("empty-store", "info", empty)]
    assert pst.store_notes(store(), "pst", [folder(0)], 3) == []  # orphan items are read
    assert pst.store_notes(store(), "pst", [folder(0, error="folder unreadable: x")], 0) == []  # said elsewhere


@pytest.mark.corpus
def test_a_scan_notes_them_on_the_input_rows(corpus: Path, tmp_path: Path) -> None:
    """Until the pipeline stores ``PlannedInput.problems`` as problem rows, inputs.csv says it."""
    import sqlite3

    from forensics.pipeline import ScanOptions, scan

    empty, locked = corpus / OUTLOOK / "PersonalStorage.pst", corpus / "java-libpst" / "passworded.pst"
    scan([empty, locked], ScanOptions(out=tmp_path / "case", workers=1))
    rows = sqlite3.connect(tmp_path / "case" / "case.sqlite").execute(
        "SELECT path, format, status, reason FROM inputs ORDER BY path").fetchall()
    assert rows == sorted([(str(empty), "pst", "read", EMPTY),
                           (str(locked), "pst", "read", password_reason("0xE61EB50F"))])


@pytest.mark.corpus
def test_a_scan_lists_the_store_notes_in_problems(corpus: Path, tmp_path: Path) -> None:
    """End to end: the notes reach the case's problems table (and so problems.csv)."""
    from forensics.case import open_case
    from forensics.pipeline import ScanOptions, scan

    inputs = [corpus / OUTLOOK / "PersonalStorage.pst", corpus / "java-libpst" / "passworded.pst"]
    scan(inputs, ScanOptions(out=tmp_path / "case", workers=1))
    with open_case(tmp_path / "case") as case:
        rows = sorted(case.conn.execute(
            "SELECT source_path, kind, severity, locator FROM problems"
            " WHERE kind IN ('empty-store', 'password-protected')").fetchall())
    assert rows == sorted([(str(inputs[1]), "password-protected", "warning", "file"),
                           (str(inputs[0]), "empty-store", "info", "file")])
