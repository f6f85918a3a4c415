"""Fuzzing in the normal run: readers, parser and analysis never crash, never hang, lose nothing.

Hypothesis generates, with modest example counts so the suite stays fast:

- bytes behind every reader's magic number, and mutated (flipped, cut, spliced) copies of
  valid files of every format, hashed, sniffed, planned and read as evidence are: no
  planner or reader crash, and every file a reader claims is accounted for (messages,
  problems, or a note on its input row);
- mailboxes of *k* generated messages in every container (mbox, emlx, .eml, maildir,
  zip, tar.gz): exactly *k* messages come back, in order;
- arbitrary bytes and generated MIME trees through the parser and every analysis stage;
- HTML full of URLs (wrapped, encoded, carrying the recipient's address) through
  extraction, tokens and leaks.

Each example runs under a timer (``deadline``), so a hang fails the test instead of
stalling the suite. ``python tools/fuzz_long.py`` is the long, coverage-guided run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import signal
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from forensics.analyse import Settings, analyse
from forensics.engines.shard import process_shard
from forensics.errors import ReadError
from forensics.ingest import plan_input
from forensics.ingest.msg import OLE_MAGIC
from forensics.parse import parse_rfc5322
from forensics.records import Address, Locator, Message, ProblemRow, RawMessage

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
CRASH_KINDS = {"plan-crash", "reader-crash", "parse-crash", "analysis-crash", "worker-crash"}
EXAMPLE_SECONDS = 60  # per example: a safety net against hangs, not a speed target
# Example counts are modest in the normal run; tools/fuzz_long.py multiplies them.
SCALE = float(os.environ.get("FORENSICS_FUZZ_SCALE", "1"))
TRIED = {"inputs": 0}  # inputs run, for tools/fuzz_long.py's report


def fuzz(examples: int) -> settings:
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


LOC = Locator(source_path="fuzz.eml", source_sha256="0" * 64, kind="file")


class Hang(BaseException):
    """An example ran past EXAMPLE_SECONDS (BaseException: no library may swallow it)."""


@contextmanager
def deadline(seconds: float = EXAMPLE_SECONDS) -> Iterator[None]:
    def on_alarm(signum: int, frame: object) -> None:
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- running evidence files


def read_evidence(data: bytes, name: str) -> tuple[str | None, int, list[ProblemRow], str]:
    """Hash, sniff, plan and read one file as the scan does: reader, messages, problems, note."""
    TRIED["inputs"] += 1
    with tempfile.TemporaryDirectory() as tmp, deadline():
        path = Path(tmp) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        try:
            planned = plan_input(path)
        except ReadError as e:  # the pipeline records this as an unreadable-file problem
            return None, 0, [ProblemRow(source_path=str(path), source_sha256="", locator="file",
                                        kind="unreadable-file", severity="error", reason=str(e))], ""
        messages, problems = 0, []
        for shard in planned.shards:
            findings, row = process_shard(shard, Settings())
            messages += row.messages
            problems += findings.rows.get(ProblemRow.TABLE, [])  # type: ignore[arg-type]
        return planned.reader, messages, problems, planned.reason


def check_accounted(data: bytes, name: str) -> tuple[str | None, int, list[ProblemRow]]:
    reader, messages, problems, note = read_evidence(data, name)
    crashes = [(p.kind, p.reason) for p in problems if p.kind in CRASH_KINDS]
    assert crashes == []
    if reader is not None:  # claimed as mail: something must show for it
        assert messages or problems or note, f"{name}: claimed by {reader}, nothing recorded"
    return reader, messages, problems


def tar_gz(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


MAGICS = {
    "store.pst": b"!BDN\x00\x00\x00\x00SM\x17\x00",
    "store.ost": b"!BDN\x00\x00\x00\x00SO\x24\x00",
    "item.msg": OLE_MAGIC + b"\x00" * 8 + "__substg1.0_0037001F".encode("utf-16-le"),
    "takeout.zip": b"PK\x03\x04",
    "empty.zip": b"PK\x05\x06",
    "box.tar": b"\x00" * 257 + b"ustar\x0000",
    "Inbox": b"From a@b.example Mon Jan  1 10:00:00 2024\nSubject: x\n",
    "1.emlx": b"120\nFrom: a@b.example\nSubject: x\n",
    "m.eml": b"From: a@b.example\nSubject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n",
}


@fuzz(40)
@given(st.sampled_from(sorted(MAGICS)), st.binary(max_size=3000))
def test_random_bytes_behind_a_valid_magic_number(name: str, tail: bytes) -> None:
    data = MAGICS[name] + tail if name != "box.tar" else tail[:100].ljust(100, b"x") + MAGICS[name][100:] + tail
    check_accounted(data, name)


def seeds() -> dict[str, bytes]:
    """One valid file per format: the sample data (mbox variants, maildir, emlx, zip, .msg)
    and a tar.gz made here."""
    chosen = {
        "newsletters.mboxrd": SAMPLE / "newsletters.mboxrd",
        "promotions.mboxcl2": SAMPLE / "promotions.mboxcl2",
        "takeout.zip": SAMPLE / "takeout" / "takeout-20240301T120000Z-001.zip",
        "tracking-pixel.msg": SAMPLE / "outlook" / "tracking-pixel.msg",
        "malformed.eml": SAMPLE / "single" / "malformed.eml",
    }
    out = {name: path.read_bytes()[:200_000] for name, path in chosen.items()}
    out["1.emlx"] = next(SAMPLE.rglob("*.emlx")).read_bytes()
    out["box.tgz"] = tar_gz([("Mail/Inbox.mbox", out["newsletters.mboxrd"][:20_000])])
    return out


SEEDS = seeds()


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(0, 8))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "zero", "splice", "delete"]))
        if action == "flip":
            data[position] ^= draw(st.integers(1, 255))
        elif action == "zero":
            data[position:position + 512] = bytes(len(data[position:position + 512]))
        elif action == "splice":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[position:position + draw(st.integers(1, 512))]
    cut = draw(st.none() | st.integers(1, max(len(data), 1)))
    return name, bytes(data[:cut])


@fuzz(60)
@given(mutated())
def test_mutated_copies_of_valid_files(case: tuple[str, bytes]) -> None:
    name, data = case
    assume(data)
    check_accounted(data, name)


# ---------------------------------------------------------------- k messages in, k out

HEADER_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=60)
BODY_LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=80) | \
    st.sampled_from(["From here on", ">From quoted", "From me@x.example Mon Jan  1 10:00:00 2024", "", ".", "--b"])


@st.composite
def mail(draw: st.DrawFn) -> bytes:
    """One RFC 5322 message with arbitrary (RFC 2047-encoded when needed) header text and body lines."""
    subject = draw(HEADER_TEXT)
    encoded = subject if subject.isascii() else f"=?utf-8?b?{base64.b64encode(subject.encode()).decode()}?="
    lines = draw(st.lists(BODY_LINE, max_size=12))
    header = f"From: Sender <s{draw(st.integers(0, 99))}@shop.example>\nTo: r@home.example\nSubject: {encoded}\n"
    if draw(st.booleans()):
        header += "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n"
    return (header + "\n" + "\n".join(lines) + "\n").encode("utf-8")


def mbox_of(messages: list[bytes]) -> bytes:
    """mboxrd: every body line that starts with From_ (after any '>') gets one more '>'."""
    out = []
    for index, message in enumerate(messages):
        quoted = [b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in message.split(b"\n")]
        out.append(b"From sender%d@shop.example Mon Jan  1 10:00:00 2024\n" % index + b"\n".join(quoted) + b"\n")
    return b"".join(out)


def container(kind: str, messages: list[bytes]) -> list[tuple[str, bytes]]:
    """The files (relative name, bytes) of ``messages`` stored as ``kind``."""
    if kind == "mbox":
        return [("Inbox", mbox_of(messages))]
    if kind == "eml":
        return [(f"{i:03d}.eml", m) for i, m in enumerate(messages)]
    if kind == "maildir":
        return [(f"box/cur/{i:03d}.host:2,S", m) for i, m in enumerate(messages)] + [("box/new/.keep", b"")]
    if kind == "emlx":
        return [(f"{i}.emlx", b"%d\n" % len(m) + m + b"<?xml version=\"1.0\"?><plist><dict/></plist>")
                for i, m in enumerate(messages)]
    if kind == "zip":
        return [("takeout.zip", zip_of([(f"Takeout/Mail/{i:03d}.eml", m) for i, m in enumerate(messages)]))]
    return [("mail.tgz", tar_gz([("Mail/All mail.mbox", mbox_of(messages))]))]


@fuzz(30)
@given(st.sampled_from(["mbox", "eml", "maildir", "emlx", "zip", "tgz"]), st.lists(mail(), min_size=1, max_size=6))
def test_every_generated_message_comes_back(kind: str, messages: list[bytes]) -> None:
    found = 0
    for name, data in container(kind, messages):
        if not data:
            continue
        _reader, count, problems = check_accounted(data, name)
        assert [p.kind for p in problems if p.severity == "error"] == []
        found += count
    assert found == len(messages)


# ---------------------------------------------------------------- parser and analysis


def analyse_all(data: bytes) -> list[Message]:
    TRIED["inputs"] += 1
    with deadline():
        messages = parse_rfc5322(RawMessage(data=data, locator=LOC, format="eml"))
        for message in messages:
            analyse(message, Settings(identities=("r@home.example",)))
    return messages


@fuzz(40)
@given(st.binary(max_size=4000))
def test_any_bytes_parse_to_a_record_with_their_hash(data: bytes) -> None:
    messages = analyse_all(data)
    assert messages[0].message_sha256 == hashlib.sha256(data).hexdigest()
    hashes = {m.message_sha256 for m in messages}
    assert all(m.parent_sha256 in hashes for m in messages[1:])


PAYLOAD = st.sampled_from([
    "<img src=http://t.example/o.gif?u=cjBob21lLmV4YW1wbGU>", "plain text", "=3D=\n=ZZ", "QUJD\n====\n", "\x00\xff",
    "<a href='https://safelinks.example/?url=http%3A%2F%2Fx.example%2F%3Fe%3Dr%40home.example'>x</a>",
]) | st.text(max_size=200)


@st.composite
def mime_tree(draw: st.DrawFn, depth: int = 0) -> str:
    """A MIME entity: a leaf with any type, charset and encoding, or a multipart (sometimes
    with a missing or wrong closing boundary) of further entities, or a message/rfc822."""
    kind = draw(st.sampled_from(["leaf", "leaf", "multipart", "rfc822"] if depth < 4 else ["leaf"]))
    if kind == "multipart":
        boundary = draw(st.sampled_from(["b", "=_x", "a b", "--", "", "\u00e9"])) + str(depth)
        parts = draw(st.lists(mime_tree(depth + 1), max_size=4))
        close = draw(st.sampled_from([f"--{boundary}--", "", f"--{boundary}", "--other--"]))
        body = "".join(f"--{boundary}\n{p}\n" for p in parts) + close
        return f'Content-Type: multipart/{draw(st.sampled_from(["mixed", "alternative", "related"]))}; boundary="{boundary}"\n\n{body}'
    if kind == "rfc822":
        return f"Content-Type: message/rfc822\n\nFrom: inner@x.example\nSubject: inner\n{draw(mime_tree(depth + 1))}"
    ctype = draw(st.sampled_from(["text/html", "text/plain", "application/octet-stream", "image/gif", "text/x-junk"]))
    charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "x-unknown", "utf-7", "", "cp1252\"; x="]))
    cte = draw(st.sampled_from(["", "base64", "quoted-printable", "8bit", "x-uuencode", "bogus"]))
    payload = draw(PAYLOAD)
    if cte == "base64" and draw(st.booleans()):
        payload = base64.encodebytes(payload.encode("utf-8", "surrogatepass")).decode()
    disposition = draw(st.sampled_from(["", "Content-Disposition: attachment; filename=\"=?utf-8?q?f=C3=A9.gif?=\"\n"]))
    return (f"Content-Type: {ctype}; charset={charset}\nContent-Transfer-Encoding: {cte}\n{disposition}\n{payload}")


@fuzz(60)
@given(mime_tree())
def test_generated_mime_trees_parse_and_analyse(entity: str) -> None:
    data = ("From: s@shop.example\nTo: r@home.example\nSubject: t\nMIME-Version: 1.0\n" + entity).encode(
        "utf-8", "surrogatepass")
    messages = analyse_all(data)
    assert messages[0].message_sha256 == hashlib.sha256(data).hexdigest()
    assert not [d for m in messages for d in m.defects if d.startswith("ParseFailed")]


URL_PART = st.sampled_from([
    "http://", "https://", "//", "t.example", "xn--bcher-kva.example", "127.0.0.1", "[::1]", ":8080", "/o.gif",
    "?u=", "&e=", "#", "%", "%25", "%40", "r@home.example", "r%40home.example", "cjBob21lLmV4YW1wbGU",
    "d4a5c6f1b3e2a7f8d9c0b1a2e3f4d5c6", "url=https%3A%2F%2F", "safelinks.protection.outlook.com/?url=",
    "urldefense.com/v3/__", "__;!!", "javascript:", "data:image/gif;base64,R0lGOD", "cid:x", " ", "\t", "\\",
])


@fuzz(60)
@given(st.lists(st.lists(URL_PART | st.text(max_size=8), max_size=12).map("".join), max_size=8))
def test_urls_through_extraction_tokens_and_leaks(urls: list[str]) -> None:
    html = "".join(f'<img src="{u}" width=1 height=1><a href="{u}">x</a><div style="background:url({u})">'
                   for u in urls)
    message = Message(message_sha256="e" * 64, hash_basis="raw-rfc5322", format="eml", locator=LOC,
                      from_=(Address(name="", address="s@shop.example"),),
                      to=(Address(name="", address="r@home.example"),), html=(html,), text=(" ".join(urls),),
                      list_unsubscribe=", ".join(f"<{u}>" for u in urls))
    TRIED["inputs"] += 1
    with deadline():
        rows = analyse(message, Settings(identities=("r@home.example",)))
    assert [r for r in rows if isinstance(r, ProblemRow) and r.kind in CRASH_KINDS] == []


def test_the_deadline_catches_a_hang() -> None:
    with pytest.raises(Hang), deadline(0.2):
        while True:
            pass
