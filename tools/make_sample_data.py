"""Generate ``sample_data/``: a small, synthetic, realistic set of mailboxes in every RFC 5322 format.

Deterministic (no clock, no randomness: tokens are derived from fixed seeds), and
written from templates so every byte is under control: newsletters carry open
pixels and tracked links in the shapes real ESPs use (Mailchimp, SendGrid, Amazon
SES, HubSpot, Mailgun), one leaks the recipient's address as MD5 and SHA-256 hashes,
one personal mail has no tracking, one message is malformed, one carries a nested
message/rfc822. No third-party mail is used. Run from the repository root:

    python tools/make_sample_data.py            # rewrite sample_data/
    python tools/make_sample_data.py OUTDIR     # write elsewhere (the tests do this)
"""

from __future__ import annotations

import base64
import hashlib
import quopri
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

OWNER = "alice@example.org"
ZIP_TIME = (2024, 3, 1, 12, 0, 0)


def token(seed: str, length: int = 24) -> str:
    """A deterministic URL-safe token standing in for an ESP's opaque identifier."""
    raw = hashlib.sha256(seed.encode()).digest() * 4
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")[:length]


def hexid(seed: str, length: int = 10) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


MD5_OWNER = hashlib.md5(OWNER.encode()).hexdigest()
SHA256_OWNER = hashlib.sha256(OWNER.encode()).hexdigest()

# ---------------------------------------------------------------- tracked URLs, by ESP
MC = "https://gardenclub.us5.list-manage.com"
SG = "https://u4815162.ct.sendgrid.net"
SES = "https://k9x2m4p7.r.us-east-1.awstrack.me"
HS = "https://t.hubspotemail.net"
MG = "https://email.travel.example.net"


def urls(key: str) -> dict[str, str]:
    """Tracking URLs in each ESP's shape; tokens differ per message (``key``), as real
    ESPs make them unique per recipient and campaign."""
    mc_q = f"u={hexid('mc-u', 25)}&id={hexid(key + 'mc-id')}&e={hexid(key + 'mc-e')}"
    ses_id = f"0100018d{hexid(key + 'ses-id', 8)}-{hexid(key + 'ses-a', 8)}-{hexid(key + 'ses-b', 4)}-000000"
    return {
        "mailchimp_open": f"{MC}/track/open.php?{mc_q}",
        "mailchimp_click": f"{MC}/track/click?{mc_q}",
        "mailchimp_unsubscribe": f"{MC}/unsubscribe?{mc_q}",
        "sendgrid_open": f"{SG}/wf/open?upn={token(key + 'sg-open', 120)}",
        "sendgrid_click": f"{SG}/ls/click?upn={token(key + 'sg-click', 140)}",
        "ses_return_path": f"{ses_id}@amazonses.com",
        "ses_open": f"{SES}/I0/{ses_id}/{token(key + 'ses-open', 43)}=345",
        "ses_click": f"{SES}/L0/https:%2F%2Fshop.example.com%2Forders%2F30417/1/{ses_id}/{token(key + 'ses-click', 43)}=345",
        "hubspot_open": f"{HS}/e2t/o/5/W{token(key + 'hs-o1', 20)}0/W{token(key + 'hs-o2', 20)}0",
        "hubspot_click": f"{HS}/e2t/c/*W{token(key + 'hs-c1', 22)}0/*W{token(key + 'hs-c2', 22)}0/5/f18dQhb0S{token(key + 'hs-c3', 30)}",
        "hubspot_direct": f"https://saas.example.com/webinar?utm_source=hs_email&_hsenc=p2ANqtz-{token(key + 'hsenc', 40)}&_hsmi=283145627",
        "mailgun_open": f"{MG}/o/eJ{token(key + 'mg-open', 150)}",
        "mailgun_click": f"{MG}/c/eJ{token(key + 'mg-click', 170)}",
        "leak_md5": f"https://pixel.adtrack.example.net/open.gif?cid=778&uid={MD5_OWNER}",
        "leak_sha256": f"https://sync.audience.example.com/match?p=retail&hid={SHA256_OWNER}",
        "leak_click": f"https://retail.example.com/deals?utm_medium=email&email={OWNER.replace('@', '%40')}",
        "unknown_open": "http://tracker.example.net/p.gif?id=malformed-1",
    }


# ---------------------------------------------------------------- message templates


@dataclass(frozen=True)
class Mail:
    """One synthetic message; ``render`` gives its RFC 5322 bytes with LF line endings."""

    key: str
    headers: tuple[tuple[str, str], ...]
    body: str  # everything after the header block (MIME parts included)

    def render(self, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
        lines = [f"{k}: {v}" for k, v in extra + self.headers]
        return ("\n".join(lines) + "\n\n" + self.body).encode("utf-8")


def _html(title: str, paragraphs: list[str], links: list[tuple[str, str]], pixels: list[str]) -> str:
    parts = [f"<html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>"]
    parts += [f"<p>{p}</p>" for p in paragraphs]
    parts += [f"<p><a href=\"{href.replace('&', '&amp;')}\">{text}</a></p>" for text, href in links]
    parts += [f"<img src=\"{src.replace('&', '&amp;')}\" width=\"1\" height=\"1\" alt=\"\" "
              f"style=\"display:block;border:0\">" for src in pixels]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _alternative(boundary: str, text: str, html: str, html_cte: str = "quoted-printable") -> str:
    if html_cte == "quoted-printable":
        encoded = quopri.encodestring(html.encode("utf-8")).decode("ascii")
    elif html_cte == "base64":
        raw = base64.encodebytes(html.encode("utf-8")).decode("ascii")
        encoded = raw
    else:
        encoded = html
    return (
        f"This is a multi-part message in MIME format.\n\n--{boundary}\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        f"{text}\n--{boundary}\n"
        f"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: {html_cte}\n\n"
        f"{encoded.rstrip(chr(10))}\n--{boundary}--\n"
    )


def _common(key: str, sender: str, subject: str, date: str, to: str = OWNER) -> list[tuple[str, str]]:
    return [
        ("Date", date),
        ("From", sender),
        ("To", to),
        ("Subject", subject),
        ("Message-ID", f"<{hexid(key, 16)}@{sender.split('@')[1].rstrip('>')}>"),
        ("MIME-Version", "1.0"),
    ]


def mailchimp(key: str = "mailchimp", subject: str = "Weekly Gardening Digest: seeds for spring") -> Mail:
    u = urls(key)
    headers = [
        ("Return-Path", "<bounce-mc.us5_1187.4521-alice=example.org@mail5.mcsv.net>"),
        ("Delivered-To", OWNER),
        ("Received", "from mail5.mcsv.net (mail5.mcsv.net [198.51.100.25]) by mx.example.org "
                     "with ESMTPS id 4TQ2; Mon, 15 Jan 2024 09:00:03 +0000"),
        ("DKIM-Signature", "v=1; a=rsa-sha256; d=garden.example.com; s=k1; h=from:to:subject; bh=AAAA; b=BBBB"),
        *_common(key, "Garden Club <news@garden.example.com>", subject, "Mon, 15 Jan 2024 09:00:00 +0000"),
        ("List-Id", "Garden Club Members <4f3e2d1c.list-id.mcsv.net>"),
        ("List-Unsubscribe", f"<{u['mailchimp_unsubscribe']}>, <mailto:unsubscribe-mc@example.com>"),
        ("X-Mailer", "MailChimp Mailer - **CID8a7b6c5d4e**"),
        ("Content-Type", "multipart/alternative; boundary=\"_----mc-boundary-1\""),
    ]
    text = ("Spring is coming.\nFrom the editor's desk: order seeds early.\n"
            ">From a previous issue: tomatoes love sun.\n")
    html = _html(subject, ["Spring is coming.", "Order seeds early."],
                 [("Shop seeds", u["mailchimp_click"])], [u["mailchimp_open"]])
    return Mail(key, tuple(headers), _alternative("_----mc-boundary-1", text, html))


def sendgrid(key: str = "sendgrid", subject: str = "Your March statement is ready") -> Mail:
    u = urls(key)
    headers = [
        ("Return-Path", "<bounces+4815162-ab12-alice=example.org@em1234.bank.example.net>"),
        ("Delivered-To", OWNER),
        ("DKIM-Signature", "v=1; a=rsa-sha256; d=sendgrid.net; s=smtpapi; h=from:subject; bh=CCCC; b=DDDD"),
        *_common(key, "Example Bank <statements@bank.example.net>", subject, "Tue, 05 Mar 2024 07:30:00 +0000"),
        ("X-SG-EID", token(key + "-eid", 40)),
        ("Content-Type", "multipart/alternative; boundary=\"sg-alt-42\""),
    ]
    html = _html("Statement", ["Your statement is available in online banking."],
                 [("View statement", u["sendgrid_click"])], [u["sendgrid_open"]])
    return Mail(key, tuple(headers), _alternative("sg-alt-42", "Your statement is available.\n", html))


def amazon_ses() -> Mail:
    key = "ses"
    u = urls(key)
    headers = [
        ("Return-Path", f"<{u['ses_return_path']}>"),
        ("Delivered-To", OWNER),
        ("DKIM-Signature", "v=1; a=rsa-sha256; d=shop.example.com; s=ses1; h=from:subject; bh=EEEE; b=FFFF"),
        ("DKIM-Signature", "v=1; a=rsa-sha256; d=amazonses.com; s=ug7nbt; h=from:subject; bh=EEEE; b=GGGG"),
        *_common(key, "Example Shop <orders@shop.example.com>", "Your order #30417 has shipped",
                 "Wed, 17 Jan 2024 14:12:00 +0000"),
        ("Feedback-ID", "1.us-east-1.abcdefghijklmnop=:AmazonSES"),
        ("X-SES-Outgoing", "2024.01.17-54.240.8.1"),
        ("Content-Type", "multipart/alternative; boundary=\"ses-b-7\""),
    ]
    html = _html("Order shipped", ["Your parcel is on its way."],
                 [("Track your order", u["ses_click"])], [u["ses_open"]])
    return Mail(key, tuple(headers), _alternative("ses-b-7", "Your parcel is on its way.\n", html, "base64"))


def hubspot(key: str = "hubspot", subject: str = "Webinar: tracking-free analytics") -> Mail:
    u = urls(key)
    headers = [
        ("Return-Path", "<1axbtmbz2f-bounce@bounce.saas.example.com>"),
        ("Delivered-To", OWNER),
        ("X-Original-To", "alice+news@example.org"),
        ("DKIM-Signature", "v=1; a=rsa-sha256; d=saas.example.com; s=hs1; h=from:subject; bh=HHHH; b=IIII"),
        *_common(key, "SaaS Example <marketing@saas.example.com>", subject, "Thu, 18 Jan 2024 16:00:00 +0000"),
        ("List-Unsubscribe", "<https://saas.example.com/hs/manage-preferences/unsubscribe?d=x>"),
        ("Content-Type", "multipart/alternative; boundary=\"hs-alt\""),
    ]
    html = _html("Webinar", ["Join our webinar next week."],
                 [("Register", u["hubspot_click"]), ("Agenda", u["hubspot_direct"])],
                 [u["hubspot_open"]])
    return Mail(key, tuple(headers), _alternative("hs-alt", "Join our webinar next week.\n", html, "7bit"))


def mailgun() -> Mail:
    key = "mailgun"
    u = urls(key)
    headers = [
        ("Return-Path", "<bounce+d3f1.8a2-alice=example.org@email.travel.example.net>"),
        ("Delivered-To", OWNER),
        ("DKIM-Signature", "v=1; a=rsa-sha256; d=travel.example.net; s=mg; h=from:subject; bh=JJJJ; b=KKKK"),
        *_common(key, "Travel Example <hello@travel.example.net>", "Last-minute fares to Lisbon",
                 "Fri, 19 Jan 2024 11:45:00 +0000"),
        ("X-Mailgun-Sid", token("mg-sid", 36)),
        ("Content-Type", "multipart/alternative; boundary=\"mg-77\""),
    ]
    html = _html("Fares", ["Fares from 49 EUR.", "From Lisbon with love."],
                 [("See fares", u["mailgun_click"])], [u["mailgun_open"]])
    text = "Fares from 49 EUR.\nFrom Lisbon with love: the team.\n"
    return Mail(key, tuple(headers), _alternative("mg-77", text, html, "7bit"))


def hashed_leak() -> Mail:
    key = "leak"
    u = urls(key)
    headers = [
        ("Return-Path", "<deals-bounce@retail.example.com>"),
        ("Delivered-To", OWNER),
        *_common(key, "Retail Example <deals@retail.example.com>", "48 hours only: 30% off",
                 "Sat, 20 Jan 2024 08:00:00 +0100"),
        ("List-Unsubscribe", f"<mailto:unsub@retail.example.com?subject={MD5_OWNER}>"),
        ("Content-Type", "multipart/alternative; boundary=\"leak-b\""),
    ]
    html = _html("Deals", ["Everything 30% off for 48 hours."],
                 [("Shop now", u["leak_click"])], [u["leak_md5"], u["leak_sha256"]])
    return Mail(key, tuple(headers), _alternative("leak-b", "Everything 30% off.\n", html, "7bit"))


def personal() -> Mail:
    key = "personal"
    headers = [
        ("Return-Path", "<bob@example.net>"),
        ("Delivered-To", OWNER),
        ("Received", "from smtp.example.net (smtp.example.net [203.0.113.7]) by mx.example.org "
                     "with ESMTPS id 9QZ1; Sun, 21 Jan 2024 18:02:10 +0000"),
        *_common(key, "Bob Example <bob@example.net>", "Dinner on Friday?", "Sun, 21 Jan 2024 19:02:00 +0100"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    body = ("Hi Alice,\n\nare we still on for dinner on Friday? Café at 8?\n\n"
            "From my side anything works.\n\nBob\n")
    return Mail(key, tuple(headers), body)


def personal_reply() -> Mail:
    key = "personal-reply"
    headers = [
        *_common(key, "Alice Example <alice@example.org>", "Re: Dinner on Friday?",
                 "Sun, 21 Jan 2024 20:15:00 +0100", to="Bob Example <bob@example.net>"),
        ("In-Reply-To", f"<{hexid('personal', 16)}@example.net>"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ]
    return Mail(key, tuple(headers), "Yes, 8 is perfect. See you there!\n\nAlice\n")


def malformed() -> bytes:
    """Broken on purpose: 8-bit Latin-1 subject, impossible date, a header line without a
    colon, no Message-ID, and a multipart whose closing boundary never comes."""
    return (
        b"From: \"Promo\" <promo@offers.example.net>\n"
        b"To: alice@example.org\n"
        b"Subject: Gro\xdfe Rabatte \xe0 saisir\n"
        b"Date: Thursday, 32 Foo 2024 25:61:00 +0000\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/alternative; boundary=\"never-closed\"\n"
        b"this line is not a header\n"
        b"\n"
        b"--never-closed\n"
        b"Content-Type: text/html\n"
        b"\n"
        b"<html><body><p>Offers!</p>"
        b"<img src=\"" + urls("malformed")["unknown_open"].encode() + b"\" width=1 height=1></body></html>\n"
        b"--never-clo"
    )


def forwarded_with_nested() -> Mail:
    """Carol forwards a newsletter as an attachment: the nested message is analysed on its own."""
    inner = sendgrid("nested-sendgrid", "Flash sale: 24 hours").render()
    headers = [
        ("Delivered-To", OWNER),
        *_common("forward", "Carol Example <carol@example.net>", "Fwd: Flash sale: 24 hours",
                 "Mon, 22 Jan 2024 10:00:00 +0000"),
        ("Content-Type", "multipart/mixed; boundary=\"fwd-outer\""),
    ]
    body = (
        "--fwd-outer\nContent-Type: text/plain; charset=utf-8\n\n"
        "Alice, look at the tracking in this one (attached).\n\nCarol\n"
        "--fwd-outer\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
        + inner.decode("utf-8") + "\n--fwd-outer--\n"
    )
    return Mail("forward", tuple(headers), body)


# ---------------------------------------------------------------- container formats


def quote_mboxrd(data: bytes) -> bytes:
    """mboxrd: one more '>' before every line matching ^>*From ."""
    out = []
    for line in data.split(b"\n"):
        stripped = line.lstrip(b">")
        out.append(b">" + line if stripped.startswith(b"From ") else line)
    return b"\n".join(out)


def mbox(messages: list[tuple[str, bytes]], quote: bool = True) -> bytes:
    chunks = []
    for envelope, data in messages:
        body = quote_mboxrd(data) if quote else data
        chunks.append(f"From {envelope}\n".encode() + body.rstrip(b"\n") + b"\n\n")
    return b"".join(chunks)


def mboxcl2(messages: list[tuple[str, bytes]]) -> bytes:
    """mboxcl2: a Content-Length header gives the body size; body lines are not quoted."""
    chunks = []
    for envelope, data in messages:
        head, body = data.split(b"\n\n", 1)
        head += f"\nContent-Length: {len(body)}".encode()
        chunks.append(f"From {envelope}\n".encode() + head + b"\n\n" + body + b"\n")
    return b"".join(chunks)


def thunderbird(data: bytes, status: str) -> bytes:
    return f"X-Mozilla-Status: {status}\nX-Mozilla-Status2: 00000000\nX-Mozilla-Keys:                                                                                 \n".encode() + data


MORK = (b"// <!-- <mdb:mork:z v=\"1.4\"/> -->\n< <(a=c)> // (f=iso-8859-1)\n"
        b"  (B8=Custom1)(B9=Custom2)(BA=flags)(BB=subject)(BC=sender)>\n"
        b"<(80=0)(81=1)>\n{1:^80 {(k^BD:c)(s=9)} }\n")


def emlx(data: bytes, flags: int) -> bytes:
    plist = (
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
        "<plist version=\"1.0\">\n<dict>\n"
        "\t<key>date-received</key>\n\t<integer>1705309200</integer>\n"
        f"\t<key>flags</key>\n\t<integer>{flags}</integer>\n"
        "\t<key>remote-id</key>\n\t<string>4521</string>\n"
        "</dict>\n</plist>\n"
    )
    return f"{len(data)}\n".encode() + data + plist.encode()


def takeout_zip(path: Path, mbox_bytes: bytes) -> None:
    html = b"<html><body><h1>Archive browser</h1><p>Your Google data.</p></body></html>\n"
    members = [("Takeout/archive_browser.html", html),
               ("Takeout/Mail/All mail Including Spam and Trash.mbox", mbox_bytes)]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data, compresslevel=9)


def gmail(data: bytes, msgid: int, labels: str, date: str) -> tuple[str, bytes]:
    extra = f"X-GM-THRID: {msgid}\nX-Gmail-Labels: {labels}\n".encode()
    return f"{msgid}@xxx {date}", extra + data


# ---------------------------------------------------------------- the set, with its README

README_HEAD = """# sample_data

Synthetic mailboxes (no real person's mail) covering every RFC 5322 format the tool
reads. Generated by `python tools/make_sample_data.py` (deterministic; a test checks
that these files are exactly what the generator writes: edit the generator, never the
files). The mailbox owner is `alice@example.org`; its MD5 is `{md5}` and its SHA-256
is `{sha256}`.

Run: `forensics scan sample_data --out reports/sample`. A correct analysis reads
{messages} message copies ({unique} unique messages; the personal mail from Bob is
stored twice and appears once with two occurrences; the forwarded mail's attachment is
a nested message linked to its parent), records one malformed message with its
defects, flags one Thunderbird message as expunged but still present, and skips the
two `.msf` indexes and this README with a reason (the Takeout zip's HTML page is noted
on the zip's input row as a member that is not mail).

| file | format | what it shows | what a correct analysis finds |
| --- | --- | --- | --- |
"""


@dataclass(frozen=True)
class Entry:
    path: str
    fmt: str
    shows: str
    finds: str


def build(dest: Path) -> list[Entry]:
    """Write every sample file under ``dest``; returns the README rows."""
    mc, sg, ses, hs, mg = mailchimp().render(), sendgrid().render(), amazon_ses().render(), hubspot().render(), mailgun().render()
    leak, bob, reply, fwd = hashed_leak().render(), personal().render(), personal_reply().render(), forwarded_with_nested().render()
    files: dict[str, bytes] = {}
    entries: list[Entry] = []

    def add(path: str, data: bytes, fmt: str, shows: str, finds: str) -> None:
        files[path] = data
        entries.append(Entry(path, fmt, shows, finds))

    add("newsletters.mboxrd", mbox([
        ("news@garden.example.com Mon Jan 15 09:00:01 2024", mc),
        ("bob@example.net Sun Jan 21 18:02:11 2024", bob),
    ]), "mboxrd", "Mailchimp newsletter whose body lines `From the editor's desk` and `>From a previous issue` are quoted one level; the personal mail from Bob",
        f"2 messages; body unquoted exactly one level; Mailchimp open pixel `list-manage.com/track/open.php?u=..&id=..&e=..` (quoted-printable HTML) and click link `list-manage.com/track/click`; Bob's mail has no tracking")
    add("promotions.mboxcl2", mboxcl2([
        ("orders@shop.example.com Wed Jan 17 14:12:01 2024", ses),
        ("hello@travel.example.net Fri Jan 19 11:45:01 2024", mg),
    ]), "mboxcl2", "Content-Length delimited messages with unquoted body lines starting `From ` (Mailgun's `From Lisbon with love`)",
        "2 messages, not split at the `From Lisbon` line; Amazon SES pixel `r.us-east-1.awstrack.me/I0/...` and click `/L0/` (base64 HTML); Mailgun pixel `email.travel.example.net/o/eJ...` and click `/c/eJ...`; DKIM d=shop.example.com and amazonses.com")
    add("windows-export.mbox", mbox([
        ("deals@retail.example.com Sat Jan 20 07:00:01 2024", leak),
    ]).replace(b"\n", b"\r\n"), "mbox, CRLF line endings", "a retail newsletter leaking the recipient address",
        f"1 message; two pixels carrying the owner's address hashed: MD5 `{MD5_OWNER}` (`pixel.adtrack.example.net`) and SHA-256 (`sync.audience.example.com`); a click link with the address in plain text (`email=alice%40example.org`); the MD5 again in List-Unsubscribe")
    tb = "thunderbird-profile/Mail/Local Folders"
    add(f"{tb}/Inbox", mbox([
        ("- Tue Mar 05 07:30:05 2024", thunderbird(sg, "0001")),
        ("- Thu Jan 18 16:00:05 2024", thunderbird(hubspot("hubspot-deleted", "Last chance: webinar seats").render(), "0009")),
    ]), "Thunderbird mbox (no extension, `From -` lines)", "SendGrid statement mail (read) and a HubSpot mail the user deleted but Thunderbird has not compacted away (X-Mozilla-Status 0009)",
        "2 messages; X-Mozilla-Status kept in flags; the second is reported expunged-but-present; SendGrid pixel `ct.sendgrid.net/wf/open?upn=..` and click `/ls/click?upn=..`; HubSpot pixel `/e2t/o/` and clicks `/e2t/c/` and `_hsenc=`")
    add(f"{tb}/Inbox.msf", MORK, "Mork index", "Thunderbird's summary file", "skipped: Thunderbird summary index (.msf), not mail")
    add(f"{tb}/Archives.sbd/2024", mbox([
        ("- Mon Jan 22 10:00:05 2024", thunderbird(fwd, "0001")),
    ]), "Thunderbird sub-folder mbox inside `.sbd`", "Carol forwards a newsletter as a message/rfc822 attachment",
        "2 messages: the forward (no tracking of its own) and the nested SendGrid newsletter, linked to it by parent hash, with its own pixel and click link")
    add(f"{tb}/Archives.msf", MORK, "Mork index", "Thunderbird's summary file", "skipped: Thunderbird summary index (.msf), not mail")
    md = "maildir/alice"
    add(f"{md}/cur/1705939200.M1P4242.mail.example.org;2,S", hs, "maildir (cur, seen)", "HubSpot webinar invitation, flag S",
        "1 message; flags `maildir=cur;flags=S`; HubSpot pixel `t.hubspotemail.net/e2t/o/...`, click `/e2t/c/...`, direct link with `_hsenc` and `_hsmi`; X-Original-To `alice+news@example.org`")
    add(f"{md}/cur/1705939300.M2P4242.mail.example.org;2,RS", reply, "maildir (cur, replied+seen)", "Alice's reply to Bob", "1 message, no tracking; flags `RS`")
    add(f"{md}/new/1705939400.M3P4242.mail.example.org", bob, "maildir (new)", "the same personal mail from Bob as in newsletters.mboxrd",
        "no new message: a second occurrence of Bob's mail (same SHA-256)")
    add("apple-mail/INBOX.mbox/Messages/4521.emlx", emlx(mailchimp("emlx-mc", "Garden Club: last call for bulbs").render(), 0x11),
        "Apple Mail .emlx", "Mailchimp newsletter with the byte-count line and plist trailer (flags read + flagged)",
        "1 message; flags `read;flagged`; Mailchimp open pixel and click link")
    add("single/malformed.eml", malformed(), "RFC 822 file", "a damaged message: 8-bit subject, impossible date, a non-header line in the header block, a boundary never closed",
        "1 message recorded with its defects (InvalidDateHeader, MissingHeaderBodySeparatorDefect, CloseBoundaryNotFoundDefect), subject decoded as `Große Rabatte à saisir`; an unattributed 1x1 pixel `tracker.example.net/p.gif`")
    add("single/Quarterly newsletter.msg", sendgrid("msg-named", "Quarterly newsletter").render(), "RFC 822 text named `.msg`",
        "recognised by content, not extension", "1 message read as e-mail (not Outlook); SendGrid pixel and click link")
    takeout_mbox = mbox([
        gmail(ses, 1788000000000000001, "Inbox,Category Updates,Opened", "Wed Jan 17 14:12:02 +0000 2024"),
        gmail(reply, 1788000000000000002, "Sent", "Sun Jan 21 19:15:00 +0000 2024"),
    ])
    entries.append(Entry("takeout/takeout-20240301T120000Z-001.zip", "Gmail Takeout zip",
                         "`Takeout/Mail/All mail Including Spam and Trash.mbox` read inside the zip, without extraction; an HTML page beside it",
                         "2 messages with X-Gmail-Labels kept (`Inbox,Category Updates,Opened`; `Sent`); the HTML member noted as not mail; SES pixel and click again (different bytes from promotions.mboxcl2: Gmail headers added)"))
    for rel, data in files.items():
        target = Path(dest) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (Path(dest) / "takeout").mkdir(parents=True, exist_ok=True)
    takeout_zip(Path(dest) / "takeout/takeout-20240301T120000Z-001.zip", takeout_mbox)
    return entries


def readme(entries: list[Entry]) -> str:
    rows = [f"| `{e.path}` | {e.fmt} | {e.shows} | {e.finds} |" for e in entries]
    return README_HEAD.format(md5=MD5_OWNER, sha256=SHA256_OWNER, messages=17, unique=16) + "\n".join(rows) + "\n"


OTHERS_MARKER = "<!-- rows below come from other generators; this script keeps them -->"


def write_readme(dest: Path, entries: list[Entry]) -> None:
    """Rewrite this generator's part of the README, keeping what other generators added
    below the marker (e.g. the Outlook samples made by tools/make_msg.py)."""
    path = dest / "README.md"
    others = ""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if OTHERS_MARKER in old:
            others = old.split(OTHERS_MARKER, 1)[1].lstrip("\n")
    path.write_text(readme(entries) + "\n" + OTHERS_MARKER + "\n" + others, encoding="utf-8")


def main(argv: list[str]) -> int:
    dest = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "sample_data"
    dest.mkdir(parents=True, exist_ok=True)
    entries = build(dest)
    write_readme(dest, entries)
    print(f"wrote {len(entries)} files and README.md to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
