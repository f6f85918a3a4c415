"""The extraction stage as a whole: never raises on bad markup, bounded on hostile markup, deterministic."""

from __future__ import annotations

import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from forensics.analyse import MessageContext, Settings
from forensics.extract.rows import ExtractionRow, ResourceRow
from forensics.extract.stage import analyse_extraction
from forensics.records import Address, Locator, Message, ProblemRow, Row

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
