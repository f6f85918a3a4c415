"""The chain-of-custody manifest: what was read, with which tool, when, and what was written."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from forensics import __version__
from forensics.store import Store

LIBRARIES = (
    "mail-parser", "extract-msg", "libpff-python", "selectolax", "tldextract", "typer",
    "pandas", "networkx", "matplotlib",
)


def library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def input_summaries(store: Store) -> list[dict[str, Any]]:
    sql = """
        SELECT i.path, i.size, i.sha256, i.mtime_ns, i.format, i.status, i.reason,
          (SELECT COUNT(*) FROM occurrences o WHERE o.source_sha256 = i.sha256 AND o.source_path = i.path) AS messages,
          (SELECT COUNT(*) FROM occurrences o JOIN messages m USING (message_sha256)
             WHERE o.source_sha256 = i.sha256 AND o.source_path = i.path AND m.status = 'defective') AS defective,
          (SELECT COUNT(*) FROM problems p WHERE p.source_sha256 = i.sha256 AND p.source_path = i.path) AS problems
        FROM inputs i ORDER BY i.path
    """
    return [dict(row) for row in store.query(sql)]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(
    store: Store, out: Path, *, argv: list[str], started: str, finished: str, outputs: list[Path]
) -> Path:
    manifest = {
        "tool": {"name": "forensics", "version": __version__},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(),
        "command_line": argv,
        "started_utc": started,
        "finished_utc": finished,
        "inputs": input_summaries(store),
        "outputs": {p.name: sha256_of(p) for p in sorted(outputs)},
    }
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return path
