"""Secondary indexes: a scan of an empty case builds them once after the shards.

Dropping them while the shards are stored (and building them after) must leave the case
as the schema declares it, keep ignoring rows already present, and survive a scan killed
in between: the resumed scan finds the mark in ``meta`` and builds them at its end.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from forensics.pipeline import ScanOptions, scan
from forensics.records import Findings, MessageRow, ShardRow
from forensics.store import INDEXES_DEFERRED, ROW_TYPES, Store, index_columns, index_name

MAIL = b"From: Bob <bob@example.net>\nTo: alice@example.org\nSubject: hello\n\nsee https://t.example/o?u=a1b2c3d4e5\n"
BOX = b"From bob@example.net Mon Jan  1 10:00:00 2024\n" + MAIL + b"\n"


def declared_indexes() -> set[str]:
    import forensics.stages  # noqa: F401 - registers every stage's row types

    return {index_name(t, cols) for t in ROW_TYPES for cols in index_columns(t)}


def indexes(case: Path) -> set[str]:
    with sqlite3.connect(case / "case.sqlite") as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        return {r[0] for r in rows}


def meta_keys(case: Path) -> set[str]:
    with sqlite3.connect(case / "case.sqlite") as conn:
        return {r[0] for r in conn.execute("SELECT key FROM meta")}


def dump(case: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(case / "case.sqlite") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in sorted(tables)}


def message(sha: str) -> MessageRow:
    fields: dict[str, object] = {f.name: "" for f in dataclasses.fields(MessageRow)}
    fields.update(message_sha256=sha, received_count=0, headers_synthetic=0, html_parts=0, text_parts=0,
                  attachment_count=0, defect_count=0)
    return MessageRow(**fields)  # type: ignore[arg-type]


def shard(shard_id: str) -> ShardRow:
    return ShardRow(shard_id=shard_id, source_sha256="s", description="d", messages=1, problems=0)


def test_a_new_case_has_every_declared_index(tmp_path: Path) -> None:
    with Store(tmp_path):
        pass
    assert indexes(tmp_path) == declared_indexes() != set()


def test_deferred_on_an_empty_case_then_built(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.defer_indexes() is True
        assert indexes(tmp_path) == set()
        store.commit_shard(Findings(rows={"messages": [message("a" * 64)]}), shard("one"))
        store.commit_shard(Findings(rows={"messages": [message("a" * 64)]}), shard("two"))  # same key: ignored
        store.create_indexes()
        assert store.conn.execute("SELECT COUNT(*) FROM messages").fetchone() == (1,)
    assert indexes(tmp_path) == declared_indexes()
    assert INDEXES_DEFERRED not in meta_keys(tmp_path)


def test_a_case_holding_evidence_keeps_its_indexes(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.commit_shard(Findings(rows={"messages": [message("b" * 64)]}), shard("one"))
        assert store.defer_indexes() is False
    assert indexes(tmp_path) == declared_indexes()


def test_a_killed_scan_leaves_the_mark_and_the_next_one_builds_them(tmp_path: Path) -> None:
    with Store(tmp_path) as store:  # killed after one shard: nothing after the commit ran
        store.defer_indexes()
        store.commit_shard(Findings(rows={"messages": [message("c" * 64)]}), shard("one"))
    with Store(tmp_path) as store:  # opening does not build them: the resumed scan stays fast
        assert indexes(tmp_path) == set()
        assert store.defer_indexes() is True
        store.create_indexes()
    assert indexes(tmp_path) == declared_indexes()
    assert INDEXES_DEFERRED not in meta_keys(tmp_path)


def test_a_scan_ends_with_the_declared_indexes_whatever_the_case(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "box.mbox").write_bytes(BOX)
    case = tmp_path / "case"
    scan([evidence], ScanOptions(out=case, workers=1))  # empty case: deferred
    assert indexes(case) == declared_indexes()
    (evidence / "more.eml").write_bytes(MAIL.replace(b"hello", b"again"))
    scan([evidence], ScanOptions(out=case, workers=1))  # adding to a case: kept
    assert indexes(case) == declared_indexes()
    assert INDEXES_DEFERRED not in meta_keys(case)


def test_deferred_indexes_give_the_same_case_as_maintained_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for n in range(5):
        (evidence / f"m{n}.eml").write_bytes(MAIL.replace(b"hello", b"hello %d" % n).replace(b"a1b2", b"%04d" % n))
    scan([evidence], ScanOptions(out=tmp_path / "deferred", workers=1))
    monkeypatch.setattr(Store, "defer_indexes", lambda self: False)
    scan([evidence], ScanOptions(out=tmp_path / "maintained", workers=1))
    assert dump(tmp_path / "deferred") == dump(tmp_path / "maintained")

