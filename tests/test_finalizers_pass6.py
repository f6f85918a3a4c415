"""The metrics' evidence tables, written for speed (session 6), hold what the plain forms held.

``sources.prepare`` joins the findings to the messages once per source table (a join over
the union first copied every finding into a temporary table) and reads the token roles
asked for from a small table of their values (``cg_token_roles``) instead of joining
every occurrence to all of ``tokens``. The plain forms are written out here as the
specification: same rows, same order, same column declarations. The metrics make
``cg_shared_values`` (no roles needed) before they wait for the roles lane.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from forensics.analyse import Settings
from forensics.correlate import sources
from forensics.correlate.metrics import compute_metrics
from forensics.store import Store


@pytest.fixture
def case(generated_case: Path) -> Path:
    return generated_case  # conftest: shared, read only here (changes go to copies)


def _plain_findings(conn: sqlite3.Connection, sel: sources.Selection, *, contacts: bool) -> None:
    """The union of the sources, then joined to the messages (the form before session 6)."""
    source = sources.findings_sql(conn, contacts=contacts)
    if contacts:
        conn.execute(f"""CREATE TEMP TABLE plain_contacts AS SELECT DISTINCT x.m, x.rd FROM ({source}) x
                         JOIN cg_messages c ON c.m = x.m WHERE x.rd != '' AND x.rd != c.sender_domain""")
        return
    clause, params = sources._provider_clause(sel, "x.provider")
    conn.execute(f"""CREATE TEMP TABLE plain_findings AS
                     SELECT x.kind, x.f, x.m, x.host, x.rd, x.provider, c.sender, c.sender_domain, c.d
                     FROM ({source}) x JOIN cg_messages c ON c.m = x.m WHERE 1{clause}""", params)


def _plain_tokens(conn: sqlite3.Connection, roles: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{r}'" for r in roles)
    conn.execute(f"""
        CREATE TEMP TABLE plain_tokens AS
        SELECT DISTINCT t.finding_id AS f, t.message_sha256 AS m, lower(t.host) AS host,
               COALESCE(NULLIF(t.registered_domain, ''), cg_registered_domain(t.host)) AS rd,
               COALESCE(t.provider, '') AS provider, t.value, r.role,
               COALESCE(NULLIF(lower(t.recipient), ''), c.recipient) AS recipient,
               c.sender, c.sender_domain, c.d
        FROM url_tokens t JOIN tokens r ON r.value = t.value JOIN cg_messages c ON c.m = t.message_sha256
        WHERE r.role IN ({listed})""")


def _table(conn: sqlite3.Connection, name: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Column declarations (name, type) and rows in rowid order."""
    declared = [(r[1], r[2]) for r in conn.execute(f"PRAGMA temp.table_info({name})")]
    return declared, conn.execute(f"SELECT * FROM temp.{name} ORDER BY rowid").fetchall()


def _provider(case: Path) -> str:
    with sqlite3.connect(case / "case.sqlite") as conn:
        found = conn.execute("SELECT provider FROM resources WHERE provider != '' AND is_beacon = 1 "
                             "GROUP BY provider ORDER BY COUNT(*) DESC, provider LIMIT 1").fetchone()
    assert found is not None, "the generated mail has attributed beacons"
    return str(found[0])


@pytest.mark.parametrize("provider", ["", "the case's busiest", "nobody"])
def test_findings_and_contacts_joined_per_source_are_the_union_joined_once(case: Path, provider: str) -> None:
    name = _provider(case) if provider == "the case's busiest" else provider.replace("nobody", "No Such Provider")
    sel = sources.Selection(provider=name)
    with sqlite3.connect(case / "case.sqlite") as conn:
        sources.prepare(conn, sel, contacts=True)
        # the plain forms read cg_messages before prepare trims it to the provider's messages
        conn.execute("DROP TABLE cg_messages")
        sources._create_messages(conn, sel)
        _plain_findings(conn, sel, contacts=False)
        _plain_findings(conn, sel, contacts=True)
        findings, plain = _table(conn, "cg_findings"), _table(conn, "plain_findings")
        contacts, plain_contacts = _table(conn, "cg_contacts"), _table(conn, "plain_contacts")
    assert findings == plain
    assert contacts == plain_contacts
    assert (len(findings[1]) == 0) == (name == "No Such Provider")
    assert len(contacts[1]) > 0  # every third party a message contacts, whatever the provider


@pytest.mark.parametrize("roles", [(sources.RECIPIENT_ROLE,), sources.GRAPH_TOKEN_ROLES])
def test_tokens_of_the_roles_asked_for_are_the_join_on_every_role(case: Path, roles: tuple[str, ...]) -> None:
    with sqlite3.connect(case / "case.sqlite") as conn:
        sources.prepare(conn, token_roles=roles)
        _plain_tokens(conn, roles)
        tokens, plain = _table(conn, "cg_tokens"), _table(conn, "plain_tokens")
        sources.release(conn)
        left = conn.execute("SELECT name FROM temp.sqlite_master WHERE name LIKE 'cg_%'").fetchall()
    assert tokens == plain
    assert len(tokens[1]) > 0
    assert left == []  # cg_token_roles and its index are released with the rest


def test_shared_values_are_made_before_the_metrics_wait_with_no_transaction_open(
        case: Path, tmp_path: Path) -> None:
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "case.sqlite").write_bytes((case / "case.sqlite").read_bytes())
    with sqlite3.connect(case / "case.sqlite") as conn:
        before = conn.execute("SELECT * FROM metrics_sharing ORDER BY rowid").fetchall()
        expected_shared = conn.execute(
            "SELECT COUNT(*) FROM (SELECT t.value FROM url_tokens t JOIN messages m USING (message_sha256) "
            "GROUP BY t.value HAVING COUNT(DISTINCT m.from_addr) > 1)").fetchone()[0]
    seen: list[tuple[str, bool, int]] = []
    with Store(tmp_path / "copy") as store:
        def wait(*names: str) -> None:
            conn = store.conn
            shared = conn.execute("SELECT name FROM temp.sqlite_master WHERE name = 'cg_shared_values'").fetchall()
            count = conn.execute("SELECT COUNT(*) FROM temp.cg_shared_values").fetchone()[0] if shared else -1
            seen.append((",".join(names), conn.in_transaction, count))
        store.await_finalizers = wait
        compute_metrics(store, Settings())
        after = store.conn.execute("SELECT * FROM metrics_sharing ORDER BY rowid").fetchall()
        left = store.conn.execute("SELECT name FROM temp.sqlite_master").fetchall()
    # The beacons' verdicts are awaited before the shared values exist, the roles after.
    assert seen == [("finalize_beacons", False, -1), ("assign_roles", False, expected_shared)]
    assert expected_shared > 0
    assert after == before  # the scan's metrics, recomputed: the same rows in the same order
    assert left == []
