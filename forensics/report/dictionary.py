"""Stage 5: the data dictionary: what every exported file and column means.

``FILES`` documents the data sets; ``write_dictionary`` writes ``data_dictionary.md`` for
the files a run actually produced, from their real headers, so the dictionary never lists
a column that is not there and flags any column nobody documented yet.
"""

from __future__ import annotations

from pathlib import Path

SHA = "SHA-256 (lower-case hex)"
_LOCATION = {
    "source_path": "path of the evidence file as given on the command line",
    "source_sha256": f"{SHA} of the evidence file, taken before and verified after the run",
    "locator": "where the message sits in that file: `offset=START+LENGTH` (mbox byte range), `file`, "
               "`member=...` (archive; `member=NAME (gzip stream);offset=...` or `member=(gzip stream);offset=...` "
               "for a compressed member or file, offsets counted in decompressed bytes; likewise bzip2, xz), "
               "`folder=...;node=...` (PST), `part=...` (attached message)",
}
_MESSAGE_REF = {"message_sha256": f"{SHA} of the message's bytes: the key that joins every file"}

FILES: dict[str, dict[str, str]] = {
    "messages": {
        "": "one row per unique message (deduplicated by the SHA-256 of its bytes), at its first location",
        **_MESSAGE_REF,
        "hash_basis": "what was hashed: `rfc5322` (the message bytes) or a documented canonical form for "
                      "stores without RFC 5322 bytes",
        "parent_sha256": "for a message attached to another message, the parent's hash; else empty",
        **_LOCATION,
        "format": "reader that found the message (mbox, eml, emlx, msg, pst...)",
        "message_id": "Message-ID header as written", "date_raw": "Date header as written",
        "date_utc": "Date header in UTC, ISO 8601 (`Z`); empty when absent or unreadable",
        "from_addr": "From addresses, `; `-separated", "from_name": "From display names, `; `-separated",
        "sender": "Sender header addresses", "reply_to": "Reply-To addresses",
        "to_addrs": "To addresses", "cc_addrs": "Cc addresses",
        "delivered_to": "Delivered-To / X-Original-To / envelope recipients",
        "subject": "Subject, decoded (RFC 2047)", "return_path": "Return-Path address",
        "list_id": "List-Id header", "list_unsubscribe": "List-Unsubscribe header (URLs as text)",
        "dkim_domains": "d= domains of DKIM-Signature headers",
        "received_count": "number of Received headers",
        "received_json": "Received hops as parsed (JSON list; hop 1 is the earliest)",
        "headers_synthetic": "1 when the headers were rebuilt from a store's properties (Outlook)",
        "html_source": "where the HTML body came from (MIME part, HTML stream, RTF, ...)",
        "html_parts": "number of HTML bodies", "html_sha256": f"{SHA} of the HTML bodies joined by NUL",
        "text_parts": "number of plain-text bodies", "attachment_count": "number of attachments",
        "message_class": "Outlook message class when known",
        "flags": "mailbox flags (mbox Status/X-Mozilla-Status, Maildir flags...)",
        "labels": "labels or keywords (Gmail X-Gmail-Labels, ...)",
        "expunged": "1 when the mailbox marked the message deleted but it was still in the file",
        "status": "`analysed` or `defective` (analysed, with defects listed)",
        "defect_count": "number of defects", "defects": "defects found while parsing (JSON list of names)",
        "copies": "number of places the message was found (see occurrences)",
    },
    "occurrences": {
        "": "every place a copy of a message was found",
        **_MESSAGE_REF, **_LOCATION,
        "locator_kind": "addressing scheme of the locator (offset, file, member, pst, part)",
        "offset": "byte offset in the file (mbox)", "length": "byte length",
        "member": "archive member path", "folder": "mail-store folder path", "node_id": "PST node id",
        "part": "MIME part path of an attached message", "format": "reader that found it",
        "envelope": "mbox From_ line (sender and date)", "flags": "mailbox flags",
        "labels": "labels or keywords", "expunged": "1 when marked deleted",
    },
    "attachments": {
        "": "attachments per message (never extracted, only described)",
        **_MESSAGE_REF, "idx": "position of the attachment in the message (0-based)",
        "filename": "declared file name", "content_type": "declared MIME type",
        "size": "decoded size in bytes", "sha256": f"{SHA} of the decoded attachment",
    },
    "problems": {
        "": "every file skipped and every message or file not (fully) analysed, with the reason",
        **_LOCATION, "kind": "what happened (skipped-not-mail, read-error, parse-crash, analysis-crash...)",
        "severity": "`skipped`, `warning` or `error`", "reason": "the reason, in words",
        "message_sha256": "the message concerned, when known",
    },
    "inputs": {
        "": "every input file, as found before the run",
        "path": "path as given", "size": "size in bytes", "sha256": SHA,
        "mtime_ns": "modification time (ns since the epoch, as found)",
        "format": "reader chosen by content sniffing (empty when skipped)",
        "status": "`read` or `skipped`", "reason": "why a file was skipped",
    },
    "timeline": {
        "": "one row per clock a message carries, for Timesketch (CSV import) and spreadsheets",
        "message": "one-line description of the event", "datetime": "the time, ISO 8601 in UTC",
        "timestamp": "the time in microseconds since 1970-01-01 UTC",
        "timestamp_desc": "which clock: Date header, a Received hop, or the mbox From_ line",
        **_MESSAGE_REF, "subject": "Subject", "from_addr": "From addresses", "to_addrs": "To addresses",
        "message_id": "Message-ID", **_LOCATION, "clock_raw": "the clock as written in the message",
    },
}

# What a data set is, for stages whose own column docs do not say it (the stage's "" wins).
ABOUT: dict[str, str] = {
    "resources": "every remote resource a mail client would load (also docs/extraction.md)",
    "beacons": "the resources flagged as beacons (`resources` with is_beacon = 1; also docs/extraction.md)",
    "links": "every link and where it leads (also docs/extraction.md)",
    "header_findings": "read-receipt requests and List-Unsubscribe entries (also docs/extraction.md)",
    "leaks": "a recipient identity found in a URL, and how it was encoded",
    "tokens": "URL tokens across the case, with their role (recipient, message, campaign identifier)",
    "url_tokens": "every token of every URL, with its decoding chain",
}


def stage_docs() -> list[dict[str, dict[str, str]]]:
    """Column docs the analysis stages keep beside their code (same format as ``FILES``).

    Imported here, when the dictionary is written, rather than registered by the stages
    at import time: what is documented must not depend on which module was imported first.
    """
    from forensics.correlate.metrics import DOCS as metrics_docs
    from forensics.extract.columns import COLUMNS as extraction_docs
    from forensics.tokens.columns import COLUMNS as token_docs

    return [extraction_docs, token_docs, metrics_docs]


def documentation() -> dict[str, dict[str, str]]:
    """Every documented data set and column: ``FILES``, then each stage's docs, column by column.

    The foundation's wording wins for a column both describe; a stage's description of a
    data set wins over the short ``ABOUT`` line.
    """
    merged = {name: dict(columns) for name, columns in FILES.items()}
    for docs in stage_docs():
        for name, columns in docs.items():
            known = merged.setdefault(name, {})
            for column, meaning in columns.items():
                if meaning:
                    known.setdefault(column, meaning)
    for name, about in ABOUT.items():
        merged.setdefault(name, {}).setdefault("", about)
    return merged


NOTES = """\
All files are UTF-8. CSV files use a header row, CRLF line ends and RFC 4180 quoting; a
cell that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
carriage return) is prefixed with `'`. JSON Lines files hold the same rows, one JSON
object per line, values exactly as stored (no prefix). Rows are in a stable order:
the same evidence gives byte-identical files.
"""


# Said only when JSON Lines files were written (``tables.Formats``).
JSONL_NOTE = "JSON Lines files hold the same rows, one JSON\nobject per line, values exactly as stored (no prefix). "

UNDOCUMENTED = "(not documented yet)"


def notes(files: dict[str, list[str]]) -> str:
    """``NOTES`` for the files written (``timeline.csv`` is always CSV)."""
    jsonl = any(f.endswith(".jsonl") for names in files.values() for f in names)
    return NOTES if jsonl else NOTES.replace(JSONL_NOTE, "")


def describe(name: str, column: str) -> str:
    return documentation().get(name, {}).get(column, "")


def render_dictionary(headers: dict[str, list[str]], files: dict[str, list[str]]) -> str:
    """Markdown for the given data sets (name -> columns as written; name -> file names)."""
    docs = documentation()
    lines = ["# Data dictionary", "", notes(files)]
    for name in sorted(headers):
        about = docs.get(name, {}).get("", "data set written by a later stage")
        names = ", ".join(f"`{f}`" for f in files.get(name, []))
        lines += [f"## {name} ({names})", "", about, "",
                  "| column | meaning |", "| --- | --- |"]
        for column in headers[name]:
            text = docs.get(name, {}).get(column) or UNDOCUMENTED
            lines.append(f"| `{column}` | {text.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def write_dictionary(headers: dict[str, list[str]], files: dict[str, list[str]], path: Path) -> Path:
    path.write_text(render_dictionary(headers, files), encoding="utf-8", newline="\n")
    return path
