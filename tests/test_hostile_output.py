"""Hostile evidence stays inert: HTML injection, script in a display name, spreadsheet formulas,
XML and JSON syntax in graph exports.

The case holds a subject ``"><img src=http://127.0.0.1:9/x>``, a display name with a
``<script>`` element, a ``=HYPERLINK(...)`` subject, and tracking URLs pointing at
127.0.0.1:9. The report must show all of them as text.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser
from test_report_support import add_findings, hostile_mbox, mbox_message, scan_case

from forensics.report.build import write_report
from forensics.report.html import csp_hash

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "ev").mkdir()
    (root / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(root / "ev", root / "case")
    add_findings(root / "case", port=9)
    write_report(root / "case", root / "case", argv=["test"])
    return root / "case"


def test_no_csv_cell_starts_like_a_formula(report: Path) -> None:
    for path in sorted(report.glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                assert not [c for c in row if c.startswith(FORMULA_START)], path.name


def test_formula_subject_is_kept_with_a_quote_prefix(report: Path) -> None:
    with open(report / "messages.csv", encoding="utf-8", newline="") as handle:
        subjects = sorted(r["subject"] for r in csv.DictReader(handle))
    assert subjects == ['"><img src=http://127.0.0.1:9/x>', "'+sum(1,2)",
                        "'=HYPERLINK(\"http://127.0.0.1:9/f\",\"click\")"]


def page(report: Path) -> LexborHTMLParser:
    return LexborHTMLParser((report / "report.html").read_text(encoding="utf-8"))


def test_evidence_text_is_escaped_in_the_html(report: Path) -> None:
    text = (report / "report.html").read_text(encoding="utf-8")
    assert "<img src=http" not in text and "<script>fetch" not in text
    assert "&quot;&gt;&lt;img src=http://127.0.0.1:9/x&gt;" in text
    assert "&lt;script&gt;fetch(&#x27;http://127.0.0.1:9/s&#x27;)&lt;/script&gt;" in text


def test_the_parsed_page_has_only_its_own_script_and_data_images(report: Path) -> None:
    tree = page(report)
    scripts = tree.css("script")
    assert len(scripts) == 1 and "src" not in scripts[0].attributes
    assert [i.attributes["src"][:26] for i in tree.css("img")] == ["data:image/svg+xml;base64,"] * 5
    for tag in ("link", "iframe", "object", "embed", "base", "form", "video", "audio", "source", "frame"):
        assert tree.css(tag) == [], tag
    for node in tree.root.traverse():  # type: ignore[union-attr]
        for name, value in (node.attributes or {}).items():
            assert not name.lower().startswith("on"), (node.tag, name)
            if name in ("href", "src", "action", "formaction", "poster", "srcset", "background"):
                assert (value or "").startswith(("#", "data:image/svg+xml;base64,")), (node.tag, name, value)


def test_tracking_urls_are_text_only(report: Path) -> None:
    tree = page(report)
    cells = [td.text() for td in tree.css("td.url")]
    assert any(c.startswith("http://127.0.0.1:9/o/") for c in cells)
    assert all(not (a.attributes.get("href") or "").startswith("http") for a in tree.css("a"))


def test_content_security_policy_forbids_remote_loads(report: Path) -> None:
    tree = page(report)
    metas = tree.css('meta[http-equiv="Content-Security-Policy"]')
    assert len(metas) == 1
    policy = metas[0].attributes["content"] or ""
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == "data:"
    assert directives["script-src"] == csp_hash(tree.css_first("script").text())
    assert directives["style-src"] == csp_hash(tree.css_first("style").text())
    assert not re.search(r"https?:|\*|'unsafe-eval'", policy)
    head = [n.tag for n in tree.head.iter()]  # type: ignore[union-attr]
    assert head.index("meta") < head.index("title")  # the policy is in force before any content


def test_messages_are_linked_from_findings(report: Path) -> None:
    tree = page(report)
    ids = {n.attributes["id"] for n in tree.css("tr[id]")}
    links = [a.attributes["href"] for a in tree.css("td a")]
    assert links and all(href[1:] in ids for href in links)


# ---------------------------------------------------------------- every export, real stages
# A case scanned from hostile evidence with the real stages (no findings added by hand):
# sender and recipient addresses carrying markup, XML syntax, control characters and
# formulas reach the graph nodes, every CSV, the JSON Lines and the timeline.

HOSTILE_SENDERS = [
    'x <"<script>alert(1)</script>"@evil.example>',
    '"=HYPERLINK(""http://127.0.0.1:9/h"",""go"")"@formula.example',
    'a <"]]><!--&amp;\x01\x1b[31m"@xml.example>',
    "<\"</data><node id='x'/>\"@xml2.example>",
]
MEMBER_NAMES = ['=HYPERLINK("http://127.0.0.1:9/z").eml', "-2+3.eml", "@SUM(1).eml", "+cmd.eml"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-exports")
    (root / "ev").mkdir()
    pixel = '<img src="http://127.0.0.1:9/o.gif?u=a1b2c3d4e5f6" width="1" height="1">'
    mbox = b"".join(mbox_message(sender, f"=1+{i}", "Mon, 1 Jan 2024 10:00:00 +0000", pixel,
                                 to='"<b>victim</b>"@home.example') for i, sender in enumerate(HOSTILE_SENDERS))
    (root / "ev" / "box.mbox").write_bytes(mbox)
    with zipfile.ZipFile(root / "ev" / "takeout.zip", "w") as zf:
        for name in MEMBER_NAMES:
            zf.writestr(name, f"From: a@b.example\nSubject: {name}\n\nx\n")
    scan_case(root / "ev", root / "case")
    write_report(root / "case", root / "case", argv=["test"])
    return root / "case"


def test_every_csv_including_timeline_and_metrics_is_formula_safe(exports: Path) -> None:
    names = sorted(p.name for p in exports.glob("*.csv"))
    assert {"timeline.csv", "occurrences.csv", "inputs.csv", "metrics_prevalence.csv", "resources.csv"} <= set(names)
    for name in names:
        with open(exports / name, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                assert not [c for c in row if c.startswith(FORMULA_START)], name
    with open(exports / "timeline.csv", encoding="utf-8", newline="") as handle:
        subjects = {r["subject"] for r in csv.DictReader(handle)}
    assert {"'=1+0", "'=1+3"} <= subjects
    with open(exports / "occurrences.csv", encoding="utf-8", newline="") as handle:
        members = sorted(r["member"] for r in csv.DictReader(handle) if r["member"])
    assert members == sorted("'" + n for n in MEMBER_NAMES)


def test_every_json_lines_row_is_one_object_with_the_values_as_stored(exports: Path) -> None:
    senders = set()
    for path in sorted(exports.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert isinstance(row, dict), path.name
            if path.name == "messages.jsonl":
                senders.add(row["from_addr"])
    assert '"<script>alert(1)</script>"@evil.example' in senders  # as evidence wrote it, unquoted by nothing


XML_TAGS = {"graphml", "key", "default", "graph", "node", "edge", "data",  # GraphML
            "gexf", "meta", "creator", "description", "attributes", "attribute", "nodes", "edges", "attvalues",
            "attvalue"}  # GEXF


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@pytest.mark.parametrize("stem", ["graph", "graph_brokers"])
def test_graph_exports_carry_hostile_names_as_text(exports: Path, stem: str) -> None:
    from xml.etree import ElementTree

    node_ids: dict[str, set[str]] = {}
    for fmt in ("graphml", "gexf"):
        text = (exports / f"{stem}.{fmt}").read_text(encoding="utf-8")
        assert "<script" not in text and "<node id='x'/>" not in text and "<!--&" not in text
        tree = ElementTree.fromstring(text.encode("utf-8"))
        assert {local(e.tag) for e in tree.iter()} <= XML_TAGS, fmt
        node_ids[fmt] = {e.get("id") or "" for e in tree.iter() if local(e.tag) == "node"}
    data = json.loads((exports / f"{stem}.json").read_text(encoding="utf-8"))
    node_ids["json"] = {n["id"] for n in data["nodes"]}
    assert node_ids["graphml"] == node_ids["gexf"] == node_ids["json"]
    if stem == "graph":
        assert {'sender:"<script>alert(1)</script>"@evil.example',
                "sender:\"</data><node id='x'/>\"@xml2.example"} <= node_ids["json"]
    assert not [n for n in node_ids["json"] if re.search("[\x00-\x1f]", n)]  # XML 1.0 cannot carry them
