"""The report's cheaper forms of its queries give the rows the plain queries give, in the same
order, and the page made before the exports' row counts are known is the page made after.

A keyed form (``extract/export.py KEYED``, run through ``report.tables.export_sql``) ranks the
messages by their first location once and reads each message's findings through the table's
index; it must equal the plain query on everything a case can hold: findings of a message
with no occurrence, of a NULL message hash, of messages with several occurrences (the first
one wins), ties on location between messages, NULL locations, hostile text; and any number
of first rows (the page's ``LIMIT``) must be the plain query's first rows.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_report_support import add_findings, hostile_mbox, insert, scan_case

from forensics.report import html
from forensics.report.build import _page_context
from forensics.report.csvout import KEYED, QUERIES
from forensics.report.tables import Export, export_plan, export_sql, generic_sql
from forensics.store import Store

HOSTILE = ["", "=1+1", "<!--forensics-rows:t-messages-->", "zoë 日本語", "\x00\x1f", "😀", "'quoted", None]


def _findings(conn: sqlite3.Connection, table: str, sha: str | None, seq: int, text: str | None, beacon: int) -> None:
    kind = {"resources": "r", "links": "l", "header_findings": "h"}[table]
    row: dict[str, object] = {"finding_id": f"{(sha or 'null')[:16]}-{kind}{seq:05d}-{table}", "message_sha256": sha,
                              "seq": seq, "url": text, "host": text, "is_beacon": beacon, "header": "List-Unsubscribe"}
    insert(conn, table, row, ("finding_id",))


@pytest.fixture(scope="module")
def odd_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scanned case with findings on every kind of message the keyed forms must handle."""
    root = tmp_path_factory.mktemp("keyed")
    (root / "ev").mkdir()
    (root / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(root / "ev", root / "case")
    add_findings(root / "case")
    with Store(root / "case") as store, store.conn:
        conn = store.conn
        shas = [r[0] for r in conn.execute("SELECT message_sha256 FROM messages ORDER BY message_sha256")]
        # A second, earlier occurrence of one message (it becomes the first location) and a
        # message at the very location of another (a tie broken by the hash).
        first = conn.execute("SELECT * FROM occurrences WHERE message_sha256 = ?", (shas[0],)).fetchone()
        columns = [d[1] for d in conn.execute("PRAGMA table_info(occurrences)")]
        copy = dict(zip(columns, first))
        for sha, locator, offset in ((shas[0], "early", -1), (shas[1], "tie", -1), (shas[2], "null-path", None)):
            row = copy | {"message_sha256": sha, "locator": locator, "offset": offset}
            if locator == "null-path":
                row |= {"source_path": None, "member": None, "folder": None, "node_id": None, "part": None}
            insert(conn, "occurrences", row, ("source_sha256", "source_path", "locator"))
        orphans = ["f" * 64, "0" * 64, None]  # no message, no occurrence; and a NULL hash
        for table in ("resources", "links", "header_findings"):
            for i, sha in enumerate(shas + orphans):
                for seq in (3, 1, 2):
                    _findings(conn, table, sha, seq, HOSTILE[(i + seq) % len(HOSTILE)], (i + seq) % 2)
    return root / "case"


def _plain_and_keyed(conn: sqlite3.Connection, name: str, *, limited: bool) -> tuple[list[tuple[object, ...]], str]:
    plan = {e.name: e for e in export_plan(conn, QUERIES)}
    plain = conn.execute(plan[name].sql).fetchall()
    with export_sql(conn, plan[name], KEYED, limited=limited) as sql:
        assert sql != plan[name].sql  # the keyed form ran
        keyed = conn.execute(sql).fetchall()
    assert not conn.execute(f"SELECT 1 FROM sqlite_temp_master WHERE name = '{KEYED[name].keys}'").fetchone()
    return plain, keyed  # type: ignore[return-value]


@pytest.mark.parametrize("name", sorted(KEYED))
def test_a_keyed_form_gives_the_plain_querys_rows_in_its_order(odd_case: Path, name: str) -> None:
    with Store(odd_case) as store:
        plain, keyed = _plain_and_keyed(store.conn, name, limited=True)
    assert keyed == plain
    assert len(plain) > 10 and any(r[1] is None for r in plain) and any(r[3] is None for r in plain)


@pytest.mark.parametrize("name", sorted(KEYED))
@pytest.mark.parametrize("limit", [1, 2, 7, 30, 1000])
def test_the_first_rows_of_a_keyed_form_are_the_plain_querys_first_rows(odd_case: Path, name: str, limit: int) -> None:
    with Store(odd_case) as store:
        plan = {e.name: e for e in export_plan(store.conn, QUERIES)}
        plain = store.conn.execute(plan[name].sql).fetchall()
        with export_sql(store.conn, plan[name], KEYED, limited=True) as sql:
            first = store.conn.execute(html._limited(sql, limit)).fetchall()
        assert first == plain[:limit]
        assert store.conn.execute(html._limited(plan[name].sql, limit)).fetchall() == plain[:limit]  # a total order


def test_beacons_keyed_only_for_their_first_rows(odd_case: Path) -> None:
    with Store(odd_case) as store:
        export = Export(name="beacons", sql=QUERIES["beacons"])
        with export_sql(store.conn, export, KEYED) as sql:
            assert sql == QUERIES["beacons"]
        with export_sql(store.conn, export, KEYED, limited=True) as sql:
            assert sql == KEYED["beacons"].sql


def test_a_table_without_its_message_index_or_a_changed_query_runs_the_plain_form(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE links (finding_id, message_sha256, seq)")
    conn.execute("CREATE TABLE occurrences (message_sha256, source_path, source_sha256, locator, member, folder, "
                 "node_id, offset, part)")
    export = Export(name="links", sql=QUERIES["links"])
    with export_sql(conn, export, KEYED) as sql:
        assert sql == QUERIES["links"]  # no index on links.message_sha256
    conn.execute("CREATE INDEX i ON links (message_sha256)")
    with export_sql(conn, export, KEYED) as sql:
        assert sql == KEYED["links"].sql
    with export_sql(conn, Export(name="links", sql="SELECT * FROM links"), KEYED) as sql:
        assert sql == "SELECT * FROM links"  # the plan fell back to the table: its own query


def test_the_page_made_before_the_row_counts_is_the_page_made_after(odd_case: Path) -> None:
    with Store(odd_case) as store:
        counts: dict[str, int] = {}
        early = html.first_sections(_page_context(store, counts, "rules"), [], later=True)
        counts.update({e.name: 1000 + i for i, e in enumerate(export_plan(store.conn, QUERIES))})
        ctx = _page_context(store, counts, "rules")
        page = html.render_report(ctx, [], early)
        assert page == html.render_report(ctx, [])
        # Every note filled, each with its export's count; a subject holding a slot's text stays text.
        assert "<!--forensics-rows:" not in page and "&lt;!--forensics-rows:t-messages--&gt;" in page
        assert f"of {counts['messages']} messages (those behind" in page
        assert page.count(f"of {counts['links']} rows; full data: links.csv") == 1


def test_a_missing_count_is_counted_as_before(odd_case: Path) -> None:
    with Store(odd_case) as store:
        ctx = _page_context(store, {}, "rules")
        links = store.conn.execute("SELECT COUNT(*) FROM links").fetchone()[0]
        assert f"all {links} rows; full data: links.csv" in html.evidence_section(ctx, set())


def _generic(conn: sqlite3.Connection, table: str) -> tuple[list[tuple[object, ...]], str]:
    export = Export(name=table, sql=generic_sql(conn, table))
    with export_sql(conn, export, KEYED) as sql:
        return conn.execute(sql).fetchall(), sql


def test_a_table_is_read_in_key_order_alone_when_its_key_holds_no_null() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b, c, PRIMARY KEY (b, a))")
    rows = [(i % 3, HOSTILE[i % len(HOSTILE)] or "x", -i) for i in range(40)]
    conn.executemany("INSERT OR IGNORE INTO t VALUES (?, ?, ?)", rows)
    plain = conn.execute(generic_sql(conn, "t")).fetchall()
    read, sql = _generic(conn, "t")
    assert read == plain and sql.endswith('ORDER BY "b", "a"')
    # A NULL in the key: keys may repeat, the other columns break the tie as before.
    conn.executemany("INSERT INTO t VALUES (?, NULL, ?)", [(1, 5), (1, 4), (0, 9)])
    read, sql = _generic(conn, "t")
    assert sql == generic_sql(conn, "t") and read == conn.execute(generic_sql(conn, "t")).fetchall()


def test_a_table_without_a_key_or_of_key_columns_only_keeps_its_query() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE k (a, b, PRIMARY KEY (a, b))")
    conn.execute("CREATE TABLE n (a, b)")
    for table in ("k", "n"):
        assert _generic(conn, table)[1] == generic_sql(conn, table)
