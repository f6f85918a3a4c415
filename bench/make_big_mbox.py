"""Generate a large, realistic mbox for benchmarks (and small ones for tests).

Messages are built from templates: newsletters from many senders through today's ESPs
(open pixels and click wrappers shaped like Mailchimp, SendGrid, Amazon SES, HubSpot,
Mailgun, SparkPost, Salesforce Marketing Cloud, Constant Contact, Braze), receipts,
personal mail without trackers, replies with quoted text, base64 and quoted-printable
bodies, a few attachments, 2-5 Received hops, recipients' addresses (plain, MD5 or
SHA-256) in some tracking URLs, and body lines starting "From " (mboxrd-quoted).
Output is deterministic for a given seed and size.

    python bench/make_big_mbox.py /tmp/big.mbox --size 1G --seed 1

Write it outside the repository (and outside any evidence folder); it is not evidence.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import quopri
import random
import sys
from collections.abc import Iterator
from pathlib import Path

DOMAINS = [
    "shop-north.example", "dailybrief.example", "travelplus.example", "bankly.example",
    "fitclub.example", "newsroom.example", "gadgethub.example", "bookworm.example",
    "cityevents.example", "saasly.example", "charity-now.example", "grocer.example",
]
FIRST = ["Ada", "Ben", "Chloé", "Dario", "Eve", "Farah", "Görkem", "Hana", "Ivan", "Jun", "Kofi", "Lena"]
LAST = ["Lovelace", "Okafor", "Martin", "Rossi", "Nakamura", "Schmidt", "Silva", "Dubois", "Novak"]
RECIPIENTS = ["alice@mail.example", "bob.smith@corp.example", "carol+news@mail.example"]
WORDS = (
    "offer week update account order shipped invoice event ticket summer sale new product "
    "your membership reminder report weekly digest story read more learn today free "
    "exclusive member team meeting notes project deadline draft review thanks"
).split()


_ALNUM = bytes.maketrans(b"+/=", b"xyz")


def _token(rng: random.Random, n: int = 24) -> str:
    """n random letters and digits (from random bytes: a per-character choice is 10x slower)."""
    return base64.b64encode(rng.randbytes(n)).translate(_ALNUM)[:n].decode("ascii")


def _hashed(recipient: str, rng: random.Random) -> str:
    algo = rng.choice([hashlib.md5, hashlib.sha256])
    return algo(recipient.encode()).hexdigest()


# Each ESP: (open pixel URL, click wrapper URL) shapes, filled per message.
def _esp_urls(esp: str, rng: random.Random, domain: str, recipient: str) -> tuple[str, str]:
    t, u = _token(rng), _token(rng, 10)
    enc = base64.urlsafe_b64encode(recipient.encode()).decode().rstrip("=")
    shapes = {
        "mailchimp": (f"https://{domain.split('.')[0]}.us{rng.randint(1, 21)}.list-manage.com/track/open.php?u={u}&id={t[:10]}&e={t[10:20]}",
                      f"https://{domain.split('.')[0]}.us{rng.randint(1, 21)}.list-manage.com/track/click?u={u}&id={t[:10]}&e={t[10:20]}"),
        "sendgrid": (f"https://u{rng.randint(1000, 9999999)}.ct.sendgrid.net/wf/open?upn={t}{t}",
                     f"https://u{rng.randint(1000, 9999999)}.ct.sendgrid.net/ls/click?upn={t}-2B{t}"),
        "ses": (f"https://{t[:8].lower()}.r.us-east-1.awstrack.me/I0/0100018{t[:12]}-{u}/{t}=331",
                f"https://{t[:8].lower()}.r.us-east-1.awstrack.me/L0/https:%2F%2Fwww.{domain}%2Fdeal/1/0100018{t[:12]}/{u}=331"),
        "hubspot": (f"https://track.hubspot.com/__ptq.gif?a={rng.randint(100000, 999999)}&k=14&r=https%3A%2F%2Fwww.{domain}&bu=https%253A%252F%252Fwww.{domain}&bvt=rss&e={enc}",
                    f"https://t.hubspotlinks.com/Ctc/{t[:2]}+113/{t}/{u}"),
        "mailgun": (f"https://email.mg.{domain}/o/{t}{t}",
                    f"https://email.mg.{domain}/c/{t}{u}"),
        "sparkpost": (f"https://spgo.io/q/{t}",
                      f"https://spgo.io/f/a/{t}~~/{u}~~/"),
        "sfmc": (f"https://cl.s7.exct.net/open.aspx?ffcb10-{t[:16]}-fe{u}",
                 f"https://click.e.{domain}/?qs={t}{t}"),
        "constantcontact": (f"https://r20.rs6.net/on.jsp?a={rng.randint(10**9, 10**10)}&r=3&c={t}&d={u}&ch=&ca={t[:8]}",
                            f"https://r20.rs6.net/tn.jsp?f=001{t}&c={u}&ch={t[:6]}"),
        "braze": (f"https://ablink.e.{domain}/wf/open?upn={t}",
                  f"https://ablink.e.{domain}/ls/click?upn={t}&e={_hashed(recipient, rng)}"),
    }
    return shapes[esp]


ESPS = ["mailchimp", "sendgrid", "ses", "hubspot", "mailgun", "sparkpost", "sfmc", "constantcontact", "braze"]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _date(rng: random.Random, index: int) -> tuple[str, str]:
    day = 1 + index % 28
    month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][index // 28 % 12]
    year = 2019 + index // 336 % 7
    hh, mm, ss = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    zone = rng.choice(["+0000", "-0500", "+0100", "+0900"])
    weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][index % 7]
    header = f"{weekday}, {day} {month} {year} {hh:02d}:{mm:02d}:{ss:02d} {zone}"
    envelope = f"{weekday} {month} {day:2d} {hh:02d}:{mm:02d}:{ss:02d} {year}"
    return header, envelope


def _received(rng: random.Random, domain: str, date: str) -> list[str]:
    hops = []
    for hop in range(rng.randint(2, 5)):
        ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        hops.append(
            f"Received: from mta{hop}.{domain} (mta{hop}.{domain} [{ip}])\n"
            f"\tby mx{rng.randint(1, 9)}.mail.example with ESMTPS id {_token(rng, 12)}\n"
            f"\tfor <{rng.choice(RECIPIENTS)}>; {date}"
        )
    return hops


def _newsletter_html(rng: random.Random, domain: str, esp: str, recipient: str) -> str:
    pixel, click = _esp_urls(esp, rng, domain, recipient)
    blocks = []
    for _ in range(rng.randint(3, 12)):
        blocks.append(
            f'<tr><td style="padding:12px;font-family:Arial"><h2>{_sentence(rng, 4)}</h2>'
            f"<p>{_sentence(rng, rng.randint(15, 60))}</p>"
            f'<a href="{click}&amp;n={rng.randint(1, 99)}">Read more</a>'
            f'<img src="https://cdn.{domain}/img/{_token(rng, 8)}.jpg" width="560" alt=""></td></tr>'
        )
    hidden = rng.choice([
        f'<img src="{pixel}" width="1" height="1" alt="" style="display:none">',
        f'<img src="{pixel}" width="1" height="1" border="0">',
        f'<img src="{pixel}" style="height:1px!important;width:1px!important;border:0">',
    ])
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{_sentence(rng, 3)}</title></head>'
        f'<body><table width="600" align="center">{"".join(blocks)}</table>'
        f'<p style="font-size:10px"><a href="https://www.{domain}/unsubscribe?e={recipient}">Unsubscribe</a></p>'
        f"{hidden}</body></html>"
    )


def _personal_text(rng: random.Random) -> str:
    lines = [_sentence(rng, rng.randint(5, 20)) for _ in range(rng.randint(2, 12))]
    if rng.random() < 0.3:
        lines.insert(1, "From the notes of last week: " + _sentence(rng, 6))  # mboxrd-quoted below
    if rng.random() < 0.4:
        lines += ["", "On an earlier day someone wrote:"] + ["> " + _sentence(rng, 10) for _ in range(rng.randint(2, 20))]
    return "\n".join(lines)


def message(rng: random.Random, index: int) -> tuple[str, bytes]:
    """One message: its envelope sender and its RFC 5322 bytes (LF line endings)."""
    domain = rng.choice(DOMAINS)
    recipient = rng.choice(RECIPIENTS)
    date, envelope_date = _date(rng, index)
    kind = rng.choices(["newsletter", "personal", "receipt"], weights=[6, 3, 1])[0]
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    local = name.split()[0].lower().encode("ascii", "ignore").decode()  # the display name keeps é, ö
    sender = f"news@{domain}" if kind != "personal" else f"{local}@{domain}"
    boundary = f"=_b{_token(rng, 16)}"
    headers = _received(rng, domain, date) + [
        f"Date: {date}",
        f'From: "{name if kind == "personal" else domain.split(".")[0].title()}" <{sender}>',
        f"To: {recipient}",
        f"Subject: {_sentence(rng, rng.randint(3, 9))}",
        f"Message-ID: <{_token(rng, 20)}.{index}@{domain}>",
        "MIME-Version: 1.0",
    ]
    if kind == "personal":
        body_text = _personal_text(rng)
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
        body = body_text
    else:
        esp = rng.choice(ESPS)
        headers.append(f"List-Unsubscribe: <https://www.{domain}/u?id={_token(rng, 12)}>, <mailto:unsub@{domain}>")
        headers.append(f"DKIM-Signature: v=1; a=rsa-sha256; d={domain}; s=k1; bh={_token(rng, 43)}=; b={_token(rng, 120)}")
        html = _newsletter_html(rng, domain, esp, recipient)
        if rng.random() < 0.5:
            html_part = "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(html.encode()).decode()
        else:
            html_part = "Content-Transfer-Encoding: quoted-printable\n\n" + quopri.encodestring(html.encode()).decode()
        parts = [
            f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{_sentence(rng, 30)}\n",
            f"--{boundary}\nContent-Type: text/html; charset=utf-8\n{html_part}",
        ]
        if kind == "receipt" and rng.random() < 0.5:
            pdf = base64.encodebytes(rng.randbytes(rng.randint(2000, 40000))).decode()
            parts.append(f'--{boundary}\nContent-Type: application/pdf; name="invoice.pdf"\n'
                         f'Content-Disposition: attachment; filename="invoice.pdf"\n'
                         f"Content-Transfer-Encoding: base64\n\n{pdf}")
        headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        body = "\n".join(parts) + f"\n--{boundary}--\n"
    text = "\n".join(headers) + "\n\n" + body
    return f"{sender} {envelope_date}", text.encode("utf-8")


def mbox_entry(envelope: str, data: bytes) -> bytes:
    """mboxrd: quote every ">*From " line of the body, end with a blank line."""
    lines = data.split(b"\n")
    quoted = [b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in lines]
    return b"From " + envelope.encode() + b"\n" + b"\n".join(quoted).rstrip(b"\n") + b"\n\n"


def generate(size: int, seed: int = 1) -> Iterator[bytes]:
    """mbox entries until at least ``size`` bytes were produced."""
    for envelope, data in messages(size, seed):
        yield mbox_entry(envelope, data)


def messages(size: int, seed: int = 1) -> Iterator[tuple[str, bytes]]:
    """The messages of ``generate`` (envelope sender, RFC 5322 bytes), for other layouts
    (maildir, .eml files: ``bench_formats.py``); ``size`` counts their mbox entries' bytes."""
    rng = random.Random(seed)
    written = index = 0
    while written < size:
        envelope, data = message(rng, index)
        written += len(mbox_entry(envelope, data))
        index += 1
        yield envelope, data


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    suffix = text[-1:].upper()
    return int(float(text[:-1]) * units[suffix]) if suffix in units else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="mbox to write (outside the repository)")
    parser.add_argument("--size", default="1G", help="approximate size: 250M, 1G, 1073741824")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    count = 0
    with open(args.path, "wb") as handle:
        for entry in generate(parse_size(args.size), args.seed):
            handle.write(entry)
            count += 1
    print(f"{args.path}: {count} messages, {args.path.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
