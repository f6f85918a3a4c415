"""Generate small Outlook .msg files ([MS-OXMSG]) for the sample data and the tests.

No library writes .msg items from scratch. The compound-file container ([MS-CFB]) is
written by extract-msg's ``OleWriter`` (already a dependency, and a well-tested CFB
writer); this script only lays out the MAPI property streams and storages inside it:
``__properties_version1.0``, ``__substg1.0_<tag>`` streams, recipient and attachment
storages, and an embedded message storage (``__substg1.0_3701000D``).

Regenerate the sample files with::

    python tools/make_msg.py sample_data/outlook

The output is deterministic (no clock, fixed ids): same script, same bytes.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

PT_LONG, PT_BOOLEAN, PT_STRING8, PT_UNICODE, PT_SYSTIME, PT_BINARY, PT_OBJECT = (
    0x0003, 0x000B, 0x001E, 0x001F, 0x0040, 0x0102, 0x000D)
_FIXED = {PT_LONG, PT_BOOLEAN, PT_SYSTIME}
_READ_WRITE = 0x00000006
STORE_UNICODE_OK = 0x00040000  # PidTagStoreSupportMask bit: strings are PT_UNICODE


@dataclass(frozen=True, slots=True)
class Prop:
    """One MAPI property: id (e.g. 0x0037), type (PT_*) and value (int, bytes, str, datetime)."""

    pid: int
    ptype: int
    value: int | bytes | str | datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """A message: its properties, recipients (a list of properties each) and attachments."""

    props: tuple[Prop, ...]
    recipients: tuple[tuple[Prop, ...], ...] = ()
    attachments: tuple["Attach", ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attach:
    """A by-value attachment (``data``) or an embedded message (``item``)."""

    props: tuple[Prop, ...] = ()
    data: bytes | None = None
    item: Item | None = None


def filetime(moment: datetime) -> int:
    return int((moment - datetime(1601, 1, 1, tzinfo=timezone.utc)).total_seconds() * 10_000_000)


def _stream_bytes(prop: Prop, codepage: str) -> bytes:
    if prop.ptype == PT_UNICODE:
        return str(prop.value).encode("utf-16-le")
    if prop.ptype == PT_STRING8:
        return str(prop.value).encode(codepage)
    assert isinstance(prop.value, bytes)
    return prop.value


def _fixed_value(prop: Prop) -> bytes:
    value = prop.value
    if isinstance(value, datetime):
        value = filetime(value)
    assert isinstance(value, int)
    return struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF)


def _property_stream(props: tuple[Prop, ...], header: bytes, codepage: str) -> bytes:
    """The ``__properties_version1.0`` stream: header, then 16 bytes per property."""
    out = bytearray(header)
    for prop in props:
        tag = (prop.pid << 16) | prop.ptype
        if prop.ptype in _FIXED:
            value = _fixed_value(prop)
        else:
            size = len(_stream_bytes(prop, codepage)) if prop.ptype != PT_OBJECT else 0xFFFFFFFF
            size += {PT_UNICODE: 2, PT_STRING8: 1}.get(prop.ptype, 0)  # the terminator counts
            value = struct.pack("<II", size, 0)
        out += struct.pack("<II", tag, _READ_WRITE) + value
    return bytes(out)


def _add_props(writer: object, prefix: list[str], props: tuple[Prop, ...], header: bytes, codepage: str) -> None:
    add = writer.addEntry  # type: ignore[attr-defined]
    add(prefix + ["__properties_version1.0"], _property_stream(props, header, codepage))
    for prop in props:
        if prop.ptype not in _FIXED and prop.ptype != PT_OBJECT:
            add(prefix + [f"__substg1.0_{prop.pid:04X}{prop.ptype:04X}"], _stream_bytes(prop, codepage))


def _add_item(writer: object, prefix: list[str], item: Item, *, top: bool, codepage: str) -> None:
    counts = struct.pack("<IIII", len(item.recipients), len(item.attachments),
                         len(item.recipients), len(item.attachments))
    header = b"\0" * 8 + counts + (b"\0" * 8 if top else b"")
    _add_props(writer, prefix, item.props, header, codepage)
    for index, recipient in enumerate(item.recipients):
        storage = prefix + [f"__recip_version1.0_#{index:08X}"]
        writer.addEntry(storage, storage=True)  # type: ignore[attr-defined]
        _add_props(writer, storage, recipient, b"\0" * 8, codepage)
    for index, attach in enumerate(item.attachments):
        storage = prefix + [f"__attach_version1.0_#{index:08X}"]
        writer.addEntry(storage, storage=True)  # type: ignore[attr-defined]
        props = attach.props
        if attach.data is not None:
            props += (Prop(0x3701, PT_BINARY, attach.data),)
        if attach.item is not None:
            props += (Prop(0x3701, PT_OBJECT, b""),)
        _add_props(writer, storage, props, b"\0" * 8, codepage)
        if attach.item is not None:
            inner = storage + ["__substg1.0_3701000D"]
            writer.addEntry(inner, storage=True)  # type: ignore[attr-defined]
            _add_item(writer, inner, attach.item, top=False, codepage=codepage)


def build_msg(item: Item, *, codepage: str = "utf-8") -> bytes:
    """The bytes of a .msg holding ``item`` (8-bit strings encoded with ``codepage``)."""
    import io

    from extract_msg import OleWriter

    writer = OleWriter()
    for name in ("__substg1.0_00020102", "__substg1.0_00030102", "__substg1.0_00040102"):
        writer.addEntry(["__nameid_version1.0", name], b"")
    _add_item(writer, [], item, top=True, codepage=codepage)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# ------------------------------------------------------------------ the sample items

SENT = datetime(2024, 3, 5, 9, 30, 0, tzinfo=timezone.utc)
PIXEL_URL = "https://open.mailtrack.example/o/7f3a9c2e41/pixel.gif?r=alice%40example.org"
HTML_BODY = (
    '<html><head><meta charset="utf-8"></head><body>'
    "<p>Hello Alice, your March statement is ready.</p>"
    f'<img src="{PIXEL_URL}" width="1" height="1" alt="" style="display:none">'
    "</body></html>"
)
HEADERS = (
    "Received: from mta1.sender.example (mta1.sender.example [192.0.2.10])\r\n"
    "\tby mx.example.org with ESMTPS id 4TqZ1; Tue, 5 Mar 2024 09:30:02 +0000\r\n"
    "Received: from app.sender.example (app.sender.example [192.0.2.20])\r\n"
    "\tby mta1.sender.example with ESMTP id 77AB; Tue, 5 Mar 2024 09:30:01 +0000\r\n"
    "From: Billing <billing@sender.example>\r\n"
    "To: Alice <alice@example.org>\r\n"
    "Subject: Your March statement\r\n"
    "Date: Tue, 5 Mar 2024 09:30:00 +0000\r\n"
    "Message-ID: <statement-2024-03@sender.example>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b1"\r\n'
)
RTF_PIXEL_URL = "https://open.mailtrack.example/o/rtf51/pixel.gif"
ENCAPSULATED_RTF = (
    "{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}}\r\n"
    "{\\*\\htmltag19 <html>}{\\*\\htmltag50 <body>}\r\n"
    "{\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 Your parcel is on its way.\r\n"
    "{\\*\\htmltag72 </p>}\\htmlrtf }\\htmlrtf0 \r\n"
    f'{{\\*\\htmltag84 <img src="{RTF_PIXEL_URL}" width="1" height="1">}}\r\n'
    "{\\*\\htmltag58 </body>}{\\*\\htmltag27 </html>}}"
).encode("ascii")


def mail_props(subject: str, *, html: str | None = None, headers: str | None = None,
               plain: str | None = None, rtf: bytes | None = None) -> tuple[Prop, ...]:
    """The properties of a Unicode IPM.Note with the given bodies and headers."""
    import compressed_rtf

    props = [
        Prop(0x001A, PT_UNICODE, "IPM.Note"),
        Prop(0x0037, PT_UNICODE, subject),
        Prop(0x340D, PT_LONG, STORE_UNICODE_OK),
        Prop(0x3FDE, PT_LONG, 65001),
        Prop(0x0039, PT_SYSTIME, SENT),
        Prop(0x0E06, PT_SYSTIME, SENT),
        Prop(0x0C1A, PT_UNICODE, "Billing"),
        Prop(0x0C1F, PT_UNICODE, "billing@sender.example"),
        Prop(0x0C1E, PT_UNICODE, "SMTP"),
    ]
    if headers is not None:
        props.append(Prop(0x007D, PT_UNICODE, headers))
    if plain is not None:
        props.append(Prop(0x1000, PT_UNICODE, plain))
    if html is not None:
        props.append(Prop(0x1013, PT_BINARY, html.encode("utf-8")))
    if rtf is not None:
        props.append(Prop(0x1009, PT_BINARY, bytes(compressed_rtf.compress(rtf, compressed=True))))
    return tuple(props)


def recipient(name: str, address: str, kind: int = 1) -> tuple[Prop, ...]:
    return (Prop(0x0C15, PT_LONG, kind), Prop(0x3001, PT_UNICODE, name),
            Prop(0x3003, PT_UNICODE, address), Prop(0x3002, PT_UNICODE, "SMTP"),
            Prop(0x39FE, PT_UNICODE, address))


def tracking_pixel_msg() -> bytes:
    """A received newsletter-style mail: transport headers, HTML body with a 1x1 pixel."""
    return build_msg(Item(
        props=mail_props("Your March statement", html=HTML_BODY, headers=HEADERS,
                         plain="Hello Alice, your March statement is ready."),
        recipients=(recipient("Alice", "alice@example.org"),),
    ))


def rtf_pixel_msg() -> bytes:
    """A sent mail whose only body is RTF encapsulating HTML (with a pixel); no headers."""
    return build_msg(Item(
        props=mail_props("Your parcel", rtf=ENCAPSULATED_RTF),
        recipients=(recipient("Bob", "bob@example.org"),),
    ))


SAMPLES = {"tracking-pixel.msg": tracking_pixel_msg, "rtf-encapsulated-pixel.msg": rtf_pixel_msg}


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "sample_data/outlook")
    out.mkdir(parents=True, exist_ok=True)
    for filename, build in SAMPLES.items():
        (out / filename).write_bytes(build())
        print(out / filename)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
