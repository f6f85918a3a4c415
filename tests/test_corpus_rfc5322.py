"""Real public mail from ../shared/corpus: counts that other tools get wrong, and no crash anywhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from forensics.ingest import mbox
from forensics.pipeline import ScanOptions, scan

pytestmark = pytest.mark.corpus


def scan_case(paths: list[Path], out: Path) -> sqlite3.Connection:
    scan(paths, ScanOptions(out=out, workers=1))
    return sqlite3.connect(out / "case.sqlite")


def subjects_by_file(conn: sqlite3.Connection) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    rows = conn.execute(
        "SELECT o.source_path, m.subject FROM occurrences o JOIN messages m USING (message_sha256) "
        "ORDER BY o.source_path, o.offset, o.part")
    for path, subject in rows:
        found.setdefault(Path(path).name, []).append(subject)
    return found


def test_sisimai_lf_cr_crlf_sets_read_identically(corpus: Path, tmp_path: Path) -> None:
    base = corpus / "sisimai-set-of-emails" / "maildir"
    common = sorted({p.name for p in (base / "dos").iterdir()} & {p.name for p in (base / "mac").iterdir()}
                    & {p.name for p in (base / "bsd").iterdir()})
    assert len(common) == 68  # the three sets overlap on 68 file names
    results = {}
    for ending in ("bsd", "dos", "mac"):
        conn = scan_case([base / ending / name for name in common], tmp_path / ending)
        results[ending] = subjects_by_file(conn)
    assert sum(len(v) for v in results["bsd"].values()) == 104
    assert results["bsd"] == results["dos"] == results["mac"]


def test_mimekit_content_length_mbox_has_29_messages(corpus: Path, tmp_path: Path) -> None:
    conn = scan_case([corpus / "mimekit-testdata" / "mbox" / "content-length.mbox.txt"], tmp_path / "c")
    assert conn.execute("SELECT COUNT(*) FROM occurrences WHERE part = ''").fetchone() == (29,)
    assert conn.execute("SELECT COUNT(*) FROM problems").fetchone() == (0,)


def test_spamassassin_assembled_mbox_has_6046_messages(corpus: Path) -> None:
    # Counted at the reader (plan + read: the whole 32.5 MB file, every shard): a full
    # scan adds the analysis stages and takes minutes on the shared 2-core machine.
    path = corpus / "spamassassin-public-corpus" / "spamassassin-public-corpus-all.mbox"
    shards = list(mbox.plan(path, "0" * 64, path.stat().st_size))
    assert shards[0].start == 0 and shards[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in zip(shards, shards[1:]))
    messages = [m for shard in shards for m in mbox.read(shard)]
    assert len(messages) == 6046
    assert [m.defects for m in messages if m.defects] == []


@pytest.mark.parametrize("folder", ["cpython-test_email", "stalwart-mail-parser", "mimekit-testdata"])
def test_every_file_is_accounted_for_and_nothing_crashes(corpus: Path, tmp_path: Path, folder: str) -> None:
    root = corpus / folder
    conn = scan_case([root], tmp_path / folder)
    files = {str(p) for p in root.rglob("*") if p.is_file()}
    read = {r[0] for r in conn.execute("SELECT DISTINCT source_path FROM occurrences")}
    skipped = {r[0] for r in conn.execute("SELECT source_path FROM problems WHERE reason != ''")}
    assert files == read | skipped, sorted(files - read - skipped)
    crashes = conn.execute("SELECT source_path, kind, reason FROM problems WHERE kind LIKE '%crash%'").fetchall()
    assert crashes == []
    for (path,) in conn.execute("SELECT source_path FROM problems WHERE kind = 'skipped-not-mail'"):
        assert Path(path).name == "COPYING" or Path(path).suffix == ".tnef" or path.endswith("msg_19.txt")
