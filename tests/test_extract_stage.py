"""The extraction stage as a whole: never raises on bad markup, bounded on hostile markup, deterministic."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.analyse import MessageContext, Settings, message_row, occurrence_row
from forensics.extract.columns import COLUMNS
from forensics.extract.export import QUERIES
from forensics.extract.rows import ExtractionRow, ResourceRow
from forensics.extract.stage import analyse_extraction, finalize_beacons
from forensics.records import Address, Locator, Message, ProblemRow, Row
from forensics.store import Store

ROOT = Path(__file__).resolve().parent.parent

FRAGMENTS = st.sampled_from([
    "<img src=", "<img srcset='", "http://t.example/o.gif?id=", "//x", "<!--[if mso]>", "<![endif]-->", "<v:fill src=",
    "<style>", "</style>", "url(", "@import '", "<div style='display:none'>", "</div>", "<a href=", ">", "'", '"',
    "&amp;", "&#x", "<table background=", "<base href=http://b.example/>", "cid:", "data:,", "<meta http-equiv=refresh "
    "content='0;url=", "\x00", "\ud800", "<svg><image href=", "%", "#", ";", ",", " 1x", "<body>", "</html>",
])


def message(*bodies: str, text: tuple[str, ...] = ()) -> Message:
    return Message(message_sha256="c" * 64, hash_basis="raw-rfc5322", format="eml",
                   locator=Locator(source_path="m.eml", source_sha256="0" * 64, kind="file"),
                   from_=(Address(name="", address="a@b.example"),), html=bodies, text=text)


def run(msg: Message) -> tuple[list[Row], MessageContext]:
    context = MessageContext()
    return analyse_extraction(msg, Settings(), context), context


@settings(max_examples=200, deadline=None)
@given(st.lists(FRAGMENTS | st.text(max_size=20), max_size=40))
def test_any_markup_gives_rows_and_never_raises(pieces: list[str]) -> None:
    body = "".join(pieces)
    rows, context = run(message(body, text=(body,)))
    again, _ = run(message(body, text=(body,)))
    assert rows == again
    summary = [r for r in rows if isinstance(r, ExtractionRow)]
    assert len(summary) == 1
    assert len(context.urls) >= summary[0].remote_resources + summary[0].links
    for row in rows:
        if isinstance(row, ResourceRow):
            assert 0.0 <= row.confidence <= 1.0


def test_hostile_markup_is_bounded_and_reported() -> None:
    started = time.perf_counter()
    rows, _ = run(message("<b><div>" * 100_000, '<img src="http://t.example/x.gif">' * 30_000))
    assert time.perf_counter() - started < 60  # a generous bound: uncut, the first part alone takes minutes
    summary = next(r for r in rows if isinstance(r, ExtractionRow))
    assert json.loads(summary.limits) == ["html-cut-at-nesting-depth-3000", "references-capped-at-20000"]
    assert summary.remote_resources == 20_000
    problem = next(r for r in rows if isinstance(r, ProblemRow))
    assert (problem.kind, problem.severity, problem.message_sha256) == ("extraction-limit", "warning", "c" * 64)
    assert problem.reason == ("hostile or huge HTML, extraction bounded: html-cut-at-nesting-depth-3000; "
                              "references-capped-at-20000")


def test_a_message_without_bodies_gives_a_summary_only() -> None:
    rows, context = run(message())
    assert rows == [ExtractionRow(
        message_sha256="c" * 64, html_parts=0, html_chars=0, elements_walked=0, remote_resources=0, beacons_local=0,
        cid_references=0, data_references=0, relative_references=0, other_references=0, links=0, tracked_links=0,
        text_links=0, header_findings=0, limits="[]")]
    assert context.urls == []


def test_every_exported_column_is_documented(tmp_path: Path) -> None:
    msg = message('<img src="http://t.example/o.gif?id=12345678" width=1 height=1><a href="http://t.example/">x</a>')
    rows = [message_row(msg), occurrence_row(msg), *analyse_extraction(msg, Settings(), MessageContext())]
    docs = (ROOT / "docs" / "extraction.md").read_text(encoding="utf-8")
    with Store(tmp_path) as store:
        for table in sorted({r.TABLE for r in rows}):
            store.insert([r for r in rows if r.TABLE == table])
        finalize_beacons(store, Settings())
        for name, sql in QUERIES.items():
            cursor = store.conn.execute(sql)
            header = [d[0] for d in cursor.description]
            assert len(cursor.fetchall()) == (0 if name == "header_findings" else 1)
            assert [c for c in header if c not in COLUMNS[name]] == []
            assert [c for c in header if f"`{c}`" not in docs] == []
    assert ["`extraction.csv`" in docs, "docs/extraction.md" in (ROOT / "README.md").read_text(encoding="utf-8")] == [
        True, True]
