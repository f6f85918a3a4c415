"""Stage 5: the chain-of-custody manifest: what was read, with which tool and rules, when,
and the SHA-256 of everything written (``manifest.json`` itself aside)."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from forensics import __version__
from forensics.store import Store

MANIFEST = "manifest.json"
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


def rules_version() -> str:
    """The provider rule set's version, when the knowledge base provides one."""
    try:
        from forensics import providers

        getter = getattr(providers, "rules_version", None)
        return str(getter()) if callable(getter) else "unavailable"
    except Exception as e:  # noqa: BLE001 - a broken rule set must not stop the custody record
        return f"unavailable ({type(e).__name__}: {e})"


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
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def output_records(outputs: list[Path], known: Mapping[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Each output's SHA-256 and size; ``known``: those its writer took as it wrote it (by path)."""
    known = known or {}
    return {p.name: known.get(str(p)) or {"sha256": sha256_of(p), "size": p.stat().st_size} for p in sorted(outputs)}


def earlier_outputs(out: Path) -> dict[str, dict[str, Any]]:
    """The outputs (file name -> SHA-256 and size) the manifest already in ``out`` lists;
    none when there is none, or it cannot be read as a manifest (nothing is then known to
    be the tool's)."""
    try:
        outputs = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("outputs")
    except (OSError, ValueError, AttributeError):
        return {}
    if not isinstance(outputs, dict):
        return {}
    return {str(k): v for k, v in outputs.items() if isinstance(v, dict)}


def write_manifest(
    store: Store, out: Path, *, argv: list[str], started: str, finished: str, outputs: list[Path],
    report_started: str = "", report_finished: str = "", rules: str | None = None,
    sealed: Mapping[str, dict[str, Any]] | None = None, formats: Mapping[str, list[str]] | None = None,
) -> Path:
    """Write ``manifest.json``; ``outputs`` are hashed as they are now (write them first),
    except those in ``sealed`` (path -> SHA-256 and size, taken by their writer).

    ``rules``: the rule set's version when the caller has read it already (``rules_version``
    reads and checks the whole knowledge base). ``formats``: the files chosen per data set
    (``tables``) and per graph (``graphs``), recorded as chosen, not only in the command
    line (a report written by the library has none)."""
    manifest = {
        "tool": {"name": "forensics", "version": __version__},
        "rules": {"version": rules_version() if rules is None else rules},
        "report_started_utc": report_started,
        "report_finished_utc": report_finished,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(),
        "command_line": argv,
        "started_utc": started,
        "finished_utc": finished,
        "inputs": input_summaries(store),
        "outputs": output_records([p for p in outputs if p.name != MANIFEST], sealed),
    }
    if formats is not None:
        manifest["formats"] = dict(formats)
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return path
