"""Stage 3 (extraction): what happens when a link is clicked — direct, or through a tracker.

Three classes, from what the URL as written shows (nothing is followed):
- ``direct``: no redirector recognised; the link goes where it says (tracking parameters
  such as ``utm_*`` may still be present and are listed);
- ``tracked-redirect``: a click redirector — a destination embedded in the URL (in a
  parameter, the query, the path, base64) or a known click-tracking path shape;
- ``tracked-redirect-identifier``: the same, and the redirector's own part of the URL
  carries an identifier (a per-recipient or per-message token), so the click is tied
  to a person.
``a ping`` URLs are reported as ``tracked-ping`` (the browser reports the click to them).
Security gateway wrappers (Safe Links, Proofpoint...) are the recipient's, not the
sender's tracking: they are taken off and recorded, and do not make a link tracked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from forensics.extract import params, wrappers
from forensics.extract.urls import host_of
from forensics.providers import Attribution

DIRECT, TRACKED, TRACKED_ID, PING = "direct", "tracked-redirect", "tracked-redirect-identifier", "tracked-ping"

_CLICK_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
        ("click", r"/click|/clk[;/?]|clickthru|/click\.\w+"),
        ("e2t-click", r"/e2t/(?:c|to|tc)/"),
        ("ss/c", r"/(?:mp)?ss/c/"),
        ("ses-CL0", r"^/CL0/"),
        ("ctt", r"/ctt\?"),
        ("tn.jsp", r"/tn\.jsp"),
        ("redirect", r"/redir(?:ect)?(?:/|\?|\.|$)"),
        ("mailgun-c", r"^/c/eJ"),
        ("q-tilde", r"/q/[^/]+~~/"),
        ("go-to", r"/go/to\?"),
        ("token-path", r"^/(?:l|r|c|t|u|ls|lt|tr|link|links|go|out|wf/click|track)/[A-Za-z0-9_=-]{12,}"),
        ("script-redirect", r"/(?:go|jump|out|link|r|t|track)\.(?:php|aspx?|cgi|jsp|cfm|pl)\?"),
    )
)
_ANY_CLICK_PATH = re.compile("|".join(f"(?:{rx.pattern})" for _, rx in _CLICK_PATHS), re.IGNORECASE)
_TRACKER_LABELS = frozenset({"click", "clicks", "clk", "links", "link", "lnk", "trk", "track",
                             "tracking", "t", "r", "e", "email", "em", "go", "l", "url", "elink",
                             "ablink", "clickthru", "redirect", "tr", "mailer", "newsletter"})
_CLICK_ROLES = frozenset({"click", "redirect"})
# URLs in text/plain bodies: scheme to the first character that cannot be in a URL as
# mail writes it; trailing punctuation of the sentence is taken off afterwards.
TEXT_URL = re.compile(r"""(?:https?|ftp)://[^\s<>"'{}|\\^`\[\]]+""", re.IGNORECASE)
# The same matches, written without IGNORECASE so that the pattern starts with a character
# class: the regex engine then skips to the next h/f in C instead of trying the alternation
# at every position (3x on SpamAssassin's bodies). Under IGNORECASE these letters match only
# their two cases, and "s" also the long s (U+017F), spelt out here.
_TEXT_URL_FAST = re.compile(r"[hHfF](?:(?<=[hH])[tT][tT][pP][sS\u017f]?|(?<=[fF])[tT][pP])://"
                            + TEXT_URL.pattern.split("://", 1)[1])
_TRAILING = ".,;:!?'\")]>"

Attribute = Callable[[str, str], Attribution]


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkVerdict:
    classification: str
    unwrapped: wrappers.Unwrapped
    final: str  # where the click ends up, as far as the URLs say
    tracker_url: str  # the URL that receives the click (after security wrappers)
    signals: tuple[str, ...]
    identifiers: tuple[params.Identifier, ...]
    tracking: tuple[params.TrackingParam, ...]
    attribution: Attribution


def text_urls(text: str, limit: int) -> list[str]:
    """http(s)/ftp URLs written in a text/plain body, in order (at most ``limit``)."""
    out: list[str] = []
    if "://" not in text:  # every match has one
        return out
    for match in _TEXT_URL_FAST.finditer(text):
        url = match.group()
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if url:
            out.append(url)
            if len(out) >= limit:
                break
    return out


def _path_query(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def click_shape(url: str) -> str:
    """Name of the click-tracking path shape the URL has ('' if none)."""
    path_query = _path_query(url)
    if not _ANY_CLICK_PATH.search(path_query):  # one search for the common case: none matches
        return ""
    return next((name for name, rx in _CLICK_PATHS if rx.search(path_query)), "")


def classify(url: str, attribute: Attribute, *, ping: bool = False) -> LinkVerdict:
    """Unwrap a link and classify it (see module docstring)."""
    unwrapped = wrappers.unwrap(url)
    signals = [f"wrapper:{h.wrapper}({h.kind},{h.via})" for h in unwrapped.hops]
    signals.extend(f"note:{n}" for n in unwrapped.notes)
    if unwrapped.truncated:
        signals.append(f"note:unwrapping-stopped-after-{wrappers.MAX_HOPS}-hops")
    redirects = [h for h in unwrapped.hops if h.kind == wrappers.REDIRECT]
    tracker = redirects[0].url if redirects else unwrapped.final
    attribution = attribute(tracker, host_of(tracker))
    evidence_urls = [h.residue for h in redirects]
    tracked = bool(redirects)
    final = unwrapped.final
    if not redirects:
        tracked, final = _opaque(unwrapped.final, attribution, signals, evidence_urls)
    identifiers = tuple(i for u in evidence_urls for i in params.inspect(u).identifiers)
    tracking = tuple(t for u in (*(h.url for h in unwrapped.hops), final) for t in params.inspect(u).tracking)
    signals.extend(f"identifier:{i.label()}" for i in identifiers)
    signals.extend(f"tracking-param:{t.label()}" for t in tracking)
    classification = PING if ping else (TRACKED_ID if tracked and identifiers else TRACKED if tracked else DIRECT)
    return LinkVerdict(classification=classification, unwrapped=unwrapped, final=final, tracker_url=tracker,
                       signals=tuple(dict.fromkeys(signals)), identifiers=identifiers, tracking=tracking,
                       attribution=attribution)


def _opaque(url: str, attribution: Attribution, signals: list[str], evidence_urls: list[str]) -> tuple[bool, str]:
    """A redirector whose destination is not written in the URL: by path shape, host or rule."""
    final = url
    shape = click_shape(url)
    role = getattr(attribution, "role", "")
    if shape:
        signals.append(f"click-path:{shape}")
    elif role in _CLICK_ROLES:
        signals.append(f"provider:{attribution.rule_id}:{role}")
    else:
        label = host_of(url).split(".", 1)[0]
        if label not in _TRACKER_LABELS or not params.inspect(url).identifiers:
            return False, final
        signals.append(f"tracker-host-label:{label}")
    evidence_urls.append(url)
    destination = getattr(attribution, "destination", "")
    if destination:
        signals.append(f"destination-from-rule:{attribution.rule_id}")
        final = destination
    else:
        signals.append("destination:not-in-url")
    return True, final
