"""Stage 1: find the evidence, recognise each file by its content, and cut it into shards.

``READERS`` is the registry: every reader is a module with ``name``, ``sniff``, ``plan``
and ``read``. Sniffers are tried in order, most specific magic first; extensions are
never trusted (they only make a skip reason more precise). A container reader (archive)
may plan shards with ``variant="skipped"`` for members that are not mail: they are not
run, and become a note on the input row instead. A reader may also plan notes
(``variant=NOTE_VARIANT``: an empty or password-protected store): they are not run
either, and become ``PlannedInput.problems`` (with their own kind and severity) and a
note on the input row. Optional module attributes tell batching about a format:
``RANGE_UNIT = "items"`` (a shard's start/end count items, not bytes) and
``SHARDS_PER_TASK`` (items that cost seconds whatever their bytes). A reader whose mbox
streams are one shard (``compressed``, ``archive``) has ``spool_shard(shard, target)``: the
pipeline spools a large one into the case folder and runs its ranges (``spool.py``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from forensics.errors import ReadError
from forensics.ingest import archive, compressed, eml, emlx, mbox, msg, pst
from forensics.ingest.base import NOTE_VARIANT, SNIFF_BYTES, Shard
from forensics.records import Evidence, ProblemRow

READERS: dict[str, ModuleType] = {
    msg.name: msg,
    pst.name: pst,
    archive.name: archive,
    compressed.name: compressed,
    mbox.name: mbox,
    emlx.name: emlx,
    eml.name: eml,
}
# Most specific first: Outlook .msg (OLE signature and property streams) and PST/OST
# (NDB signature) by magic, archives by magic (compressed tars included), then a single
# compressed file by its magic and decompressed content, mbox by its From_ line, emlx by
# its byte-count line (before eml, whose lenient sniffer would otherwise claim it), then
# bare RFC 5322.
SNIFF_ORDER: tuple[str, ...] = ("msg", "pst", "archive", "compressed", "mbox", "emlx", "eml")

_NOT_MAIL_HINTS: dict[str, str] = {
    ".msf": "Thunderbird summary index (.msf, Mork), not mail; its mbox is read instead",
    ".dat": "data file without mail structure",
}
# Magic numbers of files commonly found beside mail, to say precisely why they are skipped.
_NOT_MAIL_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x78\x9f\x3e\x22", "TNEF stream (winmail.dat attachment), not a mailbox"),
    (b"// <!-- <mdb:mork", "Mork database (Thunderbird .msf index), not mail"),
    (b"SQLite format 3\x00", "SQLite database, not a mailbox"),
    (b"%PDF", "PDF document, not mail"),
    (b"\x89PNG", "PNG image, not mail"),
    (b"\xff\xd8\xff", "JPEG image, not mail"),
    # Compression and archive formats the standard library cannot open (gzip, bzip2, xz, zip
    # and tar are read): said precisely, so the examiner knows to unpack a copy.
    (b"\x28\xb5\x2f\xfd", "zstd-compressed file (not read: no zstd decompressor here; unpack a copy and scan it)"),
    (b"\x1f\x9d", "Unix compress (.Z) file (not read; unpack a copy and scan it)"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive (not read; unpack a copy and scan it)"),
    (b"Rar!\x1a\x07", "RAR archive (not read; unpack a copy and scan it)"),
)
SKIPPED_VARIANT = "skipped"  # a container member that is not mail: noted on its input


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedInput:
    """One evidence file: its hashes, the reader that claimed it, or why none did."""

    evidence: Evidence
    reader: str | None
    reason: str = ""
    shards: tuple[Shard, ...] = field(default=())
    problems: tuple[ProblemRow, ...] = field(default=())  # findings about the whole input


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def walk(paths: Iterable[Path]) -> Iterator[Path]:
    """Every regular file under the given paths, sorted, symlinks not followed into loops."""
    for root in paths:
        if root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames.sort()
                for filename in sorted(filenames):
                    yield Path(dirpath) / filename
        else:
            yield root


def identify(path: Path) -> tuple[str | None, str]:
    """The reader whose sniffer claims this file, or None and the reason."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        return None, "empty file (0 bytes)"
    for reader_name in SNIFF_ORDER:
        if READERS[reader_name].sniff(head, path):
            return reader_name, ""
    return None, not_mail_reason(head, path)


def not_mail_reason(head: bytes, path: Path) -> str:
    """Why a file is not read, as precisely as its first bytes and name allow."""
    codec = compressed.codec_of(head)
    if codec is not None:
        return _compressed_reason(codec, path)
    for magic, reason in _NOT_MAIL_MAGIC:
        if head.startswith(magic):
            return reason
    hint = _NOT_MAIL_HINTS.get(path.suffix.lower())
    if hint:
        return hint
    if len(head) < 16:
        return f"too small to be mail ({len(head)} bytes: {head!r})"
    return f"not a recognised mail format (starts with {head[:8]!r})"


def _compressed_reason(codec: str, path: Path) -> str:
    """Why a gzip/bzip2/xz file that is neither a tar nor mail is not read: what it holds."""
    inner, damage = compressed.peek_file(path, codec)
    if damage and not inner:
        return f"{codec}-compressed file that does not decompress ({damage})"
    if not inner:
        return f"{codec}-compressed file that decompresses to nothing (0 bytes)"
    if inner.startswith((msg.OLE_MAGIC, b"!BDN")):  # .msg (OLE) or PST/OST (NDB)
        return (f"{codec}-compressed Outlook file (.msg/PST/OST), not read compressed: it needs random "
                f"access; decompress a copy and scan the copy")
    if compressed.codec_of(inner):
        return f"{codec}-compressed file holding another compressed stream (not read)"
    inner_reason = not_mail_reason(inner, Path(compressed.inner_name(path)))
    return f"{codec}-compressed file that is not a tar archive nor mail: {inner_reason}"


def _special_file_reason(mode: int) -> str | None:
    """Pipes, sockets and devices are never opened: reading one could block forever."""
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))
    kind = next((label for test, label in kinds if test(mode)), "special file")
    return f"{kind}, not a regular file (not opened)"


def _notes(skipped: list[Shard]) -> str:
    """A container's members that are not mail, summarised on its input row."""
    if not skipped:
        return ""
    shown = [f"{s.member} ({s.items[-1]})" for s in skipped[:20]]
    more = f"; and {len(skipped) - 20} more" if len(skipped) > 20 else ""
    return f"{len(skipped)} members not mail, not read: " + "; ".join(shown) + more


def plan_input(path: Path) -> PlannedInput:
    """Hash one file, identify it and cut it into shards.

    Raises:
        ReadError: the file cannot be read at all, or is a pipe, socket or device.
    """
    try:
        info = path.stat()
        special = _special_file_reason(info.st_mode)
        if special:
            raise ReadError(f"{path}: {special}")
        sha256, size = sha256_file(path)
        evidence = Evidence(path=str(path), size=size, sha256=sha256, mtime_ns=info.st_mtime_ns)
        reader, reason = identify(path)
        if reader is None:
            return PlannedInput(evidence=evidence, reader=None, reason=reason)
        planned = list(READERS[reader].plan(path, sha256, size))
    except OSError as e:
        raise ReadError(f"{path}: cannot read: {e.strerror or e}") from e
    skipped = [s for s in planned if s.variant == SKIPPED_VARIANT]
    problems = tuple(_note_problem(s) for s in planned if s.variant == NOTE_VARIANT)
    shards = tuple(s for s in planned if s.variant not in (SKIPPED_VARIANT, NOTE_VARIANT))
    reason = "; ".join(filter(None, [_notes(skipped), *(p.reason for p in problems)]))
    return PlannedInput(evidence=evidence, reader=reader, reason=reason, shards=shards, problems=problems)


def _note_problem(note: Shard) -> ProblemRow:
    kind, severity, reason = note.items
    return ProblemRow(source_path=note.path, source_sha256=note.source_sha256, locator="file",
                      kind=kind, severity=severity, reason=reason)
