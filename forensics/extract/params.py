"""Stage 3 (extraction): what a URL carries — tracking parameters and identifier-bearing parts.

Two separate kinds of evidence:
- the tracking-parameter inventory: parameter names that analytics and e-mail service
  providers publish or that filter lists strip (ClearURLs global rules, vendor docs); each
  is listed with whose it is and what it is for;
- identifier shapes: path segments, ``;name=value`` matrix parameters and query values that
  look like per-recipient or per-message identifiers (UUIDs, long hex, base64, long
  numbers, random-looking tokens, e-mail addresses).
Neither fetches nor decodes anything beyond percent-encoding.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

# name -> (owner, purpose). Purpose "recipient" means the value identifies the reader (or
# the reader's subscription), "click" a click or ad id, "session" an analytics visitor or
# session id, "campaign" a label shared by every recipient of a mailing.
TRACKING_PARAMS: dict[str, tuple[str, str]] = {
    "mc_eid": ("Mailchimp", "recipient"),
    "mc_cid": ("Mailchimp", "campaign"),
    "_hsenc": ("HubSpot", "recipient"),
    "_hsmi": ("HubSpot", "campaign"),
    "__hstc": ("HubSpot", "session"),
    "__hssc": ("HubSpot", "session"),
    "__hsfp": ("HubSpot", "session"),
    "hsctatracking": ("HubSpot", "click"),
    "mkt_tok": ("Marketo", "recipient"),
    "ml_subscriber": ("MailerLite", "recipient"),
    "ml_subscriber_hash": ("MailerLite", "recipient"),
    "ck_subscriber_id": ("ConvertKit", "recipient"),
    "vero_id": ("Vero", "recipient"),
    "vero_conv": ("Vero", "campaign"),
    "_ke": ("Klaviyo", "recipient"),
    "_kx": ("Klaviyo", "recipient"),
    "__s": ("Drip", "recipient"),
    "oly_enc_id": ("Omeda", "recipient"),
    "oly_anon_id": ("Omeda", "session"),
    "elqtrackid": ("Oracle Eloqua", "click"),
    "elqtrack": ("Oracle Eloqua", "click"),
    "elqaid": ("Oracle Eloqua", "campaign"),
    "elqat": ("Oracle Eloqua", "campaign"),
    "elqcampaignid": ("Oracle Eloqua", "campaign"),
    "et_rid": ("Salesforce Marketing Cloud", "recipient"),
    "et_cid": ("Salesforce Marketing Cloud", "campaign"),
    "sfmc_sub": ("Salesforce Marketing Cloud", "recipient"),
    "sfmc_id": ("Salesforce Marketing Cloud", "recipient"),
    "s_cid": ("Adobe Analytics", "campaign"),
    "wickedid": ("Wicked Reports", "click"),
    "rb_clickid": ("Rakuten", "click"),
    "ranmid": ("Rakuten Advertising", "campaign"),
    "ransiteid": ("Rakuten Advertising", "recipient"),
    "cjevent": ("CJ Affiliate", "click"),
    "irclickid": ("impact.com", "click"),
    "gclid": ("Google Ads", "click"),
    "dclid": ("Google Display", "click"),
    "gbraid": ("Google Ads", "click"),
    "wbraid": ("Google Ads", "click"),
    "_ga": ("Google Analytics", "session"),
    "_gl": ("Google Analytics", "session"),
    "fbclid": ("Meta", "click"),
    "msclkid": ("Microsoft Advertising", "click"),
    "yclid": ("Yandex", "click"),
    "ttclid": ("TikTok", "click"),
    "twclid": ("X (Twitter)", "click"),
    "li_fat_id": ("LinkedIn", "click"),
    "igshid": ("Instagram", "session"),
    "mkwid": ("Marin Software", "click"),
    "ncid": ("generic", "campaign"),
    "cmpid": ("generic", "campaign"),
    "trk": ("generic", "campaign"),
    "sc_cid": ("generic", "campaign"),
}
# prefix -> (owner, purpose); checked after the exact names
TRACKING_PREFIXES: tuple[tuple[str, tuple[str, str]], ...] = (
    ("utm_", ("Google Analytics (UTM)", "campaign")),
    ("__hs", ("HubSpot", "session")),
    ("ml_subscriber", ("MailerLite", "recipient")),
    ("pk_", ("Matomo", "campaign")),
    ("mtm_", ("Matomo", "campaign")),
    ("piwik_", ("Matomo", "campaign")),
    ("hsa_", ("HubSpot Ads", "campaign")),
    ("elq", ("Oracle Eloqua", "campaign")),
    ("ss_", ("generic", "campaign")),
)
# Values of these are there to defeat caches: every load reaches the server (an ad impression
# or open is counted), but the value itself identifies nobody.
CACHE_BUSTERS = frozenset({"ord", "rand", "random", "rnd", "cb", "cachebuster", "cache_buster",
                           "nocache", "timestamp", "ts", "_"})
# Parameters that describe the image, not the reader.
NEUTRAL_PARAMS = frozenset({"w", "h", "width", "height", "sz", "size", "fmt", "format", "quality",
                            "q_auto", "dpr", "fit", "crop", "lang", "locale", "hl", "v", "ver",
                            "version", "type", "alt", "theme", "color", "bg", "text"})
# Names under which a value of a few digits is an identifier nonetheless.
ID_NAMES = frozenset({"id", "uid", "rid", "mid", "eid", "emid", "sid", "cid", "sub", "subid",
                      "subscriber", "subscriberid", "user", "userid", "recipient", "rcpt", "member",
                      "memberid", "contact", "contactid", "lid", "jobid", "mailing", "m", "u", "e",
                      "r", "s", "x", "xid", "nlid", "msgid", "messageid"})

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_HEX = re.compile(r"[0-9a-fA-F]{16,}")
_DIGITS = re.compile(r"\d+")
_B64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_TOKEN = re.compile(r"[A-Za-z0-9._~+-]{12,}")
_EMAIL = re.compile(r"[^@\s/?&=]+@[^@\s/?&=]+\.[A-Za-z]{2,}")
_DATE8 = re.compile(r"(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")
_YEAR_MONTH = re.compile(r"(?:19|20)\d\d(?:0[1-9]|1[0-2])")
_EXTENSION = re.compile(r"\.(?:gif|png|jpe?g|webp|bmp|svg|ico|css|js|html?|php|aspx?|jsp|cfm|cgi|pl)$", re.I)
_STATIC_FILE = re.compile(r"\.(?:gif|png|jpe?g|webp|bmp|svg|ico|css|js|swf|woff2?|ttf)$", re.I)
# Akamai resource locators (/7/772/51/<fingerprint>/origin/path): the first four segments
# address the CDN's cache, the same for every reader.
_CDN_HOSTS = ("akamai.net", "akamaihd.net", "akamaitech.net")
_CDN_PREFIX_SEGMENTS = 4
_DIGIT = re.compile(r"\d")
_ALPHA = re.compile(r"[A-Za-z]")
_LOWER_UPPER = re.compile(r"[a-z](?=[A-Z])")
# a class change inside an id: digit<->letter, or lower->upper case
_CHANGE = re.compile(r"\d(?=[A-Za-z])|[A-Za-z](?=\d)|[a-z](?=[A-Z])")
MIN_RANDOM_ENTROPY = 3.0  # bits per character: typical of ids, rare in words and file names


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier:
    """An identifier-bearing part of a URL: where it is, its value and why it looks like one."""

    where: str  # "query[name]", "path[2]", "matrix[name]", "fragment"
    value: str
    shape: str  # uuid | hex | base64 | number | token | email | known-param

    def label(self) -> str:
        return f"{self.where}={self.value[:80]} ({self.shape})"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingParam:
    name: str
    owner: str
    purpose: str
    value: str

    def label(self) -> str:
        return f"{self.name} ({self.owner}, {self.purpose})"


@lru_cache(maxsize=4096)  # parameter names repeat across URLs
def tracking_param(name: str) -> tuple[str, str] | None:
    """(owner, purpose) for a known tracking parameter name, case-insensitively."""
    lname = name.lower()
    known = TRACKING_PARAMS.get(lname)
    if known is not None:
        return known
    for prefix, info in TRACKING_PREFIXES:
        if lname.startswith(prefix):
            return info
    return None


def query_pairs(query: str) -> list[tuple[str, str]]:
    """``name=value`` pairs of a query string, percent-decoded, blanks and order kept."""
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote(name.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    total = len(text)
    # The counts in first-occurrence order, as Counter(text).values() gives them (so the sum
    # adds the same terms in the same order): str.count is cheaper than a Counter on short ids
    # (quadratic on long text, which keeps the Counter).
    counts = [text.count(c) for c in dict.fromkeys(text)] if total <= 64 else Counter(text).values()
    log2 = math.log2
    return -sum([n / total * log2(n / total) for n in counts])


@lru_cache(maxsize=16384)  # a recipient's token recurs in every link of every message to them
def value_shape(value: str, *, named_id: bool = False) -> str:
    """The identifier shape of one value, or '' when it looks like an ordinary word or name."""
    if len(value) < 4 or "://" in value or value.startswith("www."):
        return ""
    if _UUID.fullmatch(value):
        return "uuid"
    if _EMAIL.fullmatch(value):
        return "email"
    if value.isdigit():
        return _number_shape(value, named_id)
    if _HEX.fullmatch(value) and not value.isalpha():
        return "hex"
    random = None  # _mixed and entropy, computed once for both shapes
    if _B64.fullmatch(value):
        random = _mixed(value) and entropy(value) >= MIN_RANDOM_ENTROPY
        if random:
            return "base64"
    if _TOKEN.fullmatch(value):
        if random is None:
            random = _mixed(value) and entropy(value) >= MIN_RANDOM_ENTROPY
        if random:
            return "token"
    if named_id and len(value) >= 6 and value.isalnum() and _case_mixed(value):
        return "token"  # id=vdKWfulJxTQ: short, but named as an id and not a word
    if named_id and sum(c.isdigit() for c in value) >= 4:
        return "token"  # emailid=7848_8_20_2002
    return _embedded_number(value)


def _number_shape(value: str, named_id: bool) -> str:
    if _DATE8.fullmatch(value):
        return ""
    if len(value) >= 7 or (named_id and len(value) >= 4):
        return "number"
    if len(value) == 6 and not _YEAR_MONTH.fullmatch(value) and not _six_digit_date(value):
        return "number"
    return ""


def _six_digit_date(value: str) -> bool:
    """MMDDYY, DDMMYY or YYMMDD (a dated folder, not an id)."""
    a, b, c = int(value[:2]), int(value[2:4]), int(value[4:])
    return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31) or (1 <= b <= 12 and 1 <= c <= 31)


def _embedded_number(value: str) -> str:
    """A long digit run inside a bigger token (``E178767,5114587XX...``), dates excepted."""
    for run in _DIGITS.findall(value):
        if len(run) >= 7 and not _DATE8.fullmatch(run):
            return "number"
    return ""


def _case_mixed(value: str) -> bool:
    """Upper case after lower case inside a word more than once (``vdKWfulJxTQ``, not ``News``)."""
    return len(_LOWER_UPPER.findall(value)) >= 2


def _mixed(value: str) -> bool:
    """Letters and digits interleaved, as in generated ids (not ``newsletter-july``)."""
    digits = len(_DIGIT.findall(value))
    if digits < 2 or len(_ALPHA.findall(value)) < 2:
        return False
    return len(_CHANGE.findall(value)) * 4 >= len(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlEvidence:
    """What one URL carries."""

    identifiers: tuple[Identifier, ...]
    tracking: tuple[TrackingParam, ...]
    cache_busters: tuple[str, ...]

    @property
    def has_identifier(self) -> bool:
        return bool(self.identifiers)


@lru_cache(maxsize=8192)
def inspect(url: str) -> UrlEvidence:
    """Identifier-bearing parts, tracking parameters and cache busters of one URL.

    Cached: a link is inspected as a hop, as a destination and as a redirector's residue,
    and the same tracking URLs recur across a mailbox.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return UrlEvidence(identifiers=(), tracking=(), cache_busters=())
    identifiers: list[Identifier] = []
    tracking: list[TrackingParam] = []
    busters: list[str] = []
    # The host is only read for the CDN prefix rule: every CDN host names "akamai", so
    # other URLs skip parsing it.
    host = (parts.hostname or "").lower() if "akamai" in url.lower() else ""
    _path_evidence(parts.path, host, identifiers, busters)
    _query_evidence(query_pairs(parts.query), "query", identifiers, tracking, busters)
    return UrlEvidence(identifiers=tuple(identifiers), tracking=tuple(tracking), cache_busters=tuple(busters))


def _path_evidence(path: str, host: str, identifiers: list[Identifier], busters: list[str]) -> None:
    segments = path.split("/")[1:]
    # A static file named or filed by number (/ps/120/8582671_120_1.gif, /231/90105231.gif)
    # is a catalogue or asset id: the same for every reader.
    static = bool(segments) and _STATIC_FILE.search(segments[-1].split(";", 1)[0]) is not None
    skip = _CDN_PREFIX_SEGMENTS if host.endswith(_CDN_HOSTS) else 0
    for index, segment in enumerate(segments):
        head, matrix, params = segment.partition(";")
        value = unquote(head)
        if "." in value:  # every extension starts with one
            value = _EXTENSION.sub("", value)
        for piece in value.split(",") if index >= skip else ():
            shape = value_shape(piece)
            if shape and not (static and shape == "number"):
                identifiers.append(Identifier(where=f"path[{index}]", value=piece, shape=shape))
        if matrix:
            pairs = [(n, v) for n, _, v in (m.partition("=") for m in params.split(";"))]
            _query_evidence(pairs, "matrix", identifiers, [], busters)


def _query_evidence(
    pairs: list[tuple[str, str]], where: str, identifiers: list[Identifier],
    tracking: list[TrackingParam], busters: list[str],
) -> None:
    for name, value in pairs:
        lname = name.lower()
        known = tracking_param(name)
        if known is not None:
            tracking.append(TrackingParam(name=name, owner=known[0], purpose=known[1], value=value))
            if known[1] != "campaign" and len(value) >= 4:
                identifiers.append(Identifier(where=f"{where}[{name}]", value=value, shape="known-param"))
            continue
        if lname in CACHE_BUSTERS:
            busters.append(name)
            continue
        if lname in NEUTRAL_PARAMS:
            continue
        named = lname in ID_NAMES or lname.endswith(("id", "_id", "uid", "key", "token"))
        shape = value_shape(value, named_id=named)
        if shape:
            identifiers.append(Identifier(where=f"{where}[{name}]", value=value, shape=shape))


def template(url: str, evidence: UrlEvidence) -> str:
    """The URL with its identifier values replaced by ``{id}``: the same for every copy of a
    mailing whose pixel differs only by recipient or message id."""
    out = url
    for ident in sorted(evidence.identifiers, key=lambda i: len(i.value), reverse=True):
        if ident.value:
            out = out.replace(ident.value, "{id}")
    return out
