"""Messages present but not wholly analysable are also listed in problems, with the reason."""

from __future__ import annotations

from forensics.analyse import MessageContext, Settings, accounting_problems
from forensics.records import Locator, Message

LOC = Locator(source_path="/e/box", source_sha256="ab" * 32, kind="offset", offset=10, length=99)


def _message(**kw: object) -> Message:
    return Message(message_sha256="cd" * 32, hash_basis="raw-rfc5322", locator=LOC, format="mbox", **kw)  # type: ignore[arg-type]


def test_clean_message_has_no_problem() -> None:
    assert accounting_problems(_message(), Settings(), MessageContext()) == []


def test_expunged_thunderbird_message_is_listed_as_info() -> None:
    rows = accounting_problems(_message(expunged=True, flags="X-Mozilla-Status=0009;read;expunged"),
                               Settings(), MessageContext())
    assert [(r.kind, r.severity, r.locator, r.message_sha256) for r in rows] == [
        ("expunged-present", "info", "offset=10+99", "cd" * 32)
    ]
    assert "X-Mozilla-Status=0009" in rows[0].reason


def test_unreadable_outlook_item_and_rtf_timeout_are_errors() -> None:
    defects = ("ItemUnreadable: OSError: missing value data", "RtfTimeout: exceeded 10 s", "CharsetDecodeDefect")
    rows = accounting_problems(_message(defects=defects), Settings(), MessageContext())
    assert [(r.kind, r.severity) for r in rows] == [("item-unreadable", "error"), ("rtf-timeout", "error")]


def test_repeated_defect_kind_gives_one_row_with_both_reasons() -> None:
    rows = accounting_problems(_message(defects=("NestingTooDeep", "NestingTooDeep: part 3")),
                               Settings(), MessageContext())
    assert len(rows) == 1 and rows[0].reason == "NestingTooDeep; NestingTooDeep: part 3"
