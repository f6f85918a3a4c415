"""Stage 3 (extraction): is a remote resource a beacon? Every signal that applies, and a confidence.

Declared sizes lie (Hu et al., IEEE S&P 2019) and small changes defeat any single rule
(IEEE Access 2025), so no signal decides alone. Each signal has a weight in [0, 1]:

- positive signals combine as independent evidence (noisy-OR):
  ``evidence = 1 - prod(1 - w)``;
- negative signals (spacer file name, repeated in the message, content-sized) damp it:
  ``confidence = evidence * prod(1 - w_neg)``, except when a *strong* signal is present —
  a known open-tracking or ad/affiliate impression endpoint is a beacon whatever its
  size, name or repetition (every load of it is counted by its operator);
- the case-wide signals (the same URL once in the case while its template recurs;
  a static URL repeated across many messages) are added by ``stage.finalize`` in SQL,
  from the stored ``miss``/``damp`` factors, so that adding mail to a case recomputes them.

A resource is reported as a beacon when its confidence is at least ``THRESHOLD``. Spacers
and content images stay in the resources table with the reasons they were not flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from forensics.extract.html import Ref
from forensics.extract.params import UrlEvidence

THRESHOLD = 0.5
TINY_PX = 2.0  # declared width and height at most this: a pixel, not a picture
CONTENT_PX = 16.0  # declared this large (and not hidden): meant to be seen
REPEATED_IN_MESSAGE = 3  # the same URL this often in one message: layout (spacer) use
REPEATED_IN_CASE = 3  # the same static URL in this many messages: a shared asset

W_OPEN_ENDPOINT = 0.9
W_IMPRESSION = 0.8
W_TINY = 0.45
W_HIDDEN = 0.4  # alone, not enough: newsletters hide whole mobile/desktop variants
W_UNDECLARED = 0.1
W_LAST = 0.2
W_IDENTIFIER = 0.35
W_EMAIL = 0.4  # a recipient address written in an image URL
W_CACHE_BUSTER = 0.3
W_EMBEDDED_URL = 0.2
W_TRACKING_WORD = 0.3
W_AD_HOST = 0.5
W_PROVIDER_ROLE = 0.8
N_SPACER_NAME = 0.6
N_REPEATED = 0.7
N_CONTENT_SIZE = 0.6
N_PROVIDER_ASSET = 0.5
# case-wide (used by the finalizer's SQL)
W_CASE_UNIQUE_TEMPLATE = 0.35
W_CASE_UNIQUE = 0.2
N_CASE_STATIC = 0.7

# Open-tracking pixel paths, host-independent (EasyPrivacy e-mail tracker shapes and
# vendor documentation collected in tracking-anchors.md §4).
_OPEN_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
        ("track/open", r"/track/open"),
        ("wf/open", r"/wf/open"),
        ("e2t/o", r"/e2t/o/"),
        ("open-script", r"/open(?:rate|track|ed|ing)?\.(?:php|aspx?|asp|jsp|cfm|cgi|gif|png)"),
        ("e/o", r"/e/o/"),
        ("ss/o", r"/(?:mp)?ss/o/"),
        ("q-tilde", r"/q/[^/]+~~/"),
        ("ses-I0", r"^/I0/"),
        ("mailjet-oo", r"^/oo/"),
        ("tr/op", r"/(?:tr|mk|xx)/op/"),
        ("trk-t", r"/trk\?t="),
        ("on.jsp", r"/on\.jsp"),
        ("p1x1", r"p1x1\.gif"),
        ("pixel", r"/pixel(?:\.(?:gif|png)\?|/|\?)"),
        ("beacon", r"/beacon"),
        ("open", r"/opens?(?:/|\?|$)"),
        ("opened", r"/(?:api/mailings/)?opened"),
        ("mctx/opens", r"/mctx/opens"),
        ("eos", r"/eos/"),
        ("s/eo", r"/s/eo/"),
        ("emimp", r"/emimp/"),
        ("trace/mail", r"/trace/mail/"),
        ("tracker-image", r"/[\w-]*track(?:er|ing)?[\w-]*\.(?:gif|png|jpe?g)"),
        ("mailgun-o", r"^/o/eJ"),
    )
)
# One search says whether any of them matches (most URLs match none); which one is then
# found in list order, as before.
_ANY_OPEN_PATH = re.compile("|".join(f"(?:{rx.pattern})" for _, rx in _OPEN_PATHS), re.IGNORECASE)
# Ad-server and affiliate impression endpoints: the image may be a banner, but each
# load is an impression logged with the reader's address and cookie.
_IMPRESSIONS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("doubleclick-ad", ("doubleclick.net",), re.compile(r"^/(?:ad|adi|adj|adl|adx|ddm/ad|ddm/trackimp|activity)[/;]", re.IGNORECASE)),
    ("linkshare-impression", ("linksynergy.com",), re.compile(r"^/fs-bin/show", re.IGNORECASE)),
    ("cj-impression", ("qksrv.net", "cj.com", "dpbolvw.net", "tqlkg.com", "awltovhc.com", "lduhtrp.net",
                       "jdoqocy.com", "kqzyfj.com", "anrdoezrs.net", "tkqlhce.com", "ftjcfx.com"),
     re.compile(r"^/image-\d+-\d+")),
    ("hitbox-counter", ("hitbox.com",), re.compile(r"^/ai")),
    ("msn-counter", ("c.msn.com",), re.compile(r"^/c\.gif")),
)
# Weaker: words that tracking endpoints use (Trocker's "suspicious path" words), and ad
# servers named as such; evidence, not proof.
_TRACKING_WORD = re.compile(r"(?:^|[/._=-])(?:open|track\w*|trace|trk|beacon|count(?:er)?|impression|imp)(?:$|[/._?=&-])", re.IGNORECASE)
_AD_HOST_LABELS = frozenset({"ad", "ads", "adserver", "adserv", "adsrv", "adimg", "adimage"})
_SPACER_NAME = re.compile(
    r"^(?:(?:spacer|space|spc|clear|clr|blank|trans|transparent|shim|empty|1x1|pixel|null|nothing|speck|"
    r"filler)[\w-]*|(?:s|b|x|sp|px|pix|dot|line|gap)\d*)\.(?:gif|png)$", re.IGNORECASE)
_IMAGE_KINDS = frozenset({"image"})
_OPEN_ROLES = frozenset({"open", "beacon", "pixel", "impression"})
_ASSET_ROLES = frozenset({"asset", "static"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Local (one-message) judgement of a resource, and the factors the finalizer builds on."""

    signals: tuple[str, ...]
    miss: float  # prod(1 - w) over positive signals
    damp: float  # prod(1 - w) over negative signals (1.0 when a strong signal is present)
    strong: bool
    confidence: float

    @property
    def is_beacon(self) -> bool:
        return self.confidence >= THRESHOLD


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlShape:
    open_endpoint: str  # name of the matched open-tracking path ('' if none)
    impression: str  # name of the matched ad/affiliate impression endpoint
    spacer_name: str  # the file name when it is a spacer's
    tracking_word: str  # a tracking word in the path ('' if none, or when a named shape matched)
    ad_host: str  # the host's first label when it names an ad server


def url_shape(host: str, path_query: str, path: str) -> UrlShape:
    open_name = ""
    if _ANY_OPEN_PATH.search(path_query):
        open_name = next((name for name, rx in _OPEN_PATHS if rx.search(path_query)), "")
    impression = next((name for name, rx in _impressions_at(host) if rx.search(path_query)), "")
    file_name = path.rsplit("/", 1)[-1]
    spacer = file_name if _SPACER_NAME.match(file_name) else ""
    word = ""
    if not open_name and not impression:
        match = _TRACKING_WORD.search(path_query)
        word = match.group().strip("/._=-?&").lower() if match else ""
    label = host.split(".", 1)[0]
    return UrlShape(open_endpoint=open_name, impression=impression, spacer_name=spacer, tracking_word=word,
                    ad_host=label if label in _AD_HOST_LABELS and not impression else "")


@lru_cache(maxsize=4096)  # a mailbox has few hosts
def _impressions_at(host: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The impression endpoints whose ad-server domains ``host`` is, or is under, in order."""
    return tuple((name, rx) for name, suffixes, rx in _IMPRESSIONS
                 if any(host == s or host.endswith("." + s) for s in suffixes))


def combine(positives: list[float], negatives: list[float], strong: bool) -> tuple[float, float, float]:
    """(miss, damp, confidence) from signal weights, rounded so stored values are stable."""
    miss = 1.0
    for weight in positives:
        miss *= 1.0 - weight
    damp = 1.0
    if not strong:
        for weight in negatives:
            damp *= 1.0 - weight
    return round(miss, 6), round(damp, 6), round((1.0 - miss) * damp, 3)


def _fmt(px: float | None) -> str:
    return "?" if px is None else f"{px:g}"


@dataclass(slots=True)
class _Signals:
    """Signals in the order found, with their weights."""

    names: list[str] = field(default_factory=list)
    positives: list[float] = field(default_factory=list)
    negatives: list[float] = field(default_factory=list)
    strong: bool = False

    def plus(self, signal: str, weight: float, *, strong: bool = False) -> None:
        self.names.append(signal)
        self.positives.append(weight)
        self.strong = self.strong or strong

    def minus(self, signal: str, weight: float) -> None:
        self.names.append(signal)
        self.negatives.append(weight)


def judge(ref: Ref, shape: UrlShape, evidence: UrlEvidence, repeats: int, same_shape: int,
          embedded_url: bool, role: str = "", provider_rule: str = "") -> Verdict:
    """Every signal that applies to one remote resource, and the local confidence."""
    found = _Signals()
    _endpoint_signals(found, shape, role, provider_rule)
    if ref.resource_kind in _IMAGE_KINDS:
        _size_signals(ref, found)
    if ref.hidden:
        found.plus(f"hidden:{ref.hidden}" if not ref.hidden_by_ancestor else f"hidden-by-{ref.hidden}", W_HIDDEN)
    if ref.last_in_body:
        found.plus("position:last-in-body", W_LAST)
    if evidence.identifiers:
        found.plus("url:identifier:" + ",".join(i.label() for i in evidence.identifiers[:4]), W_IDENTIFIER)
    if any(i.shape == "email" for i in evidence.identifiers):
        found.plus("url:email-address", W_EMAIL)
    if evidence.cache_busters:
        found.plus("url:cache-buster:" + ",".join(evidence.cache_busters), W_CACHE_BUSTER)
    if embedded_url:
        found.plus("url:embedded-url", W_EMBEDDED_URL)
    _layout_signals(found, shape, evidence, repeats, same_shape)
    if role in _ASSET_ROLES:
        found.minus(f"not:provider-asset:{provider_rule}", N_PROVIDER_ASSET)
    miss, damp, confidence = combine(found.positives, found.negatives, found.strong)
    return Verdict(signals=tuple(found.names), miss=miss, damp=damp, strong=found.strong, confidence=confidence)


def _endpoint_signals(found: _Signals, shape: UrlShape, role: str, provider_rule: str) -> None:
    if shape.open_endpoint:
        found.plus(f"url:open-endpoint:{shape.open_endpoint}", W_OPEN_ENDPOINT, strong=True)
    if shape.impression:
        found.plus(f"url:impression-endpoint:{shape.impression}", W_IMPRESSION, strong=True)
    if shape.tracking_word:
        found.plus(f"url:tracking-word:{shape.tracking_word}", W_TRACKING_WORD)
    if shape.ad_host:
        found.plus(f"url:ad-server-host:{shape.ad_host}", W_AD_HOST)
    if role in _OPEN_ROLES:
        found.plus(f"provider:{provider_rule or 'rule'}:{role}", W_PROVIDER_ROLE, strong=True)


def _size_signals(ref: Ref, found: _Signals) -> None:
    width, height = ref.width, ref.height
    declared = [v for v in (width, height) if v is not None]
    if not declared:
        found.plus("size:undeclared", W_UNDECLARED)
    elif all(v <= TINY_PX for v in declared):
        found.plus(f"size:tiny:{_fmt(width)}x{_fmt(height)}", W_TINY)
    elif not ref.hidden and all(v >= CONTENT_PX for v in declared):
        found.minus(f"not:content-size:{_fmt(width)}x{_fmt(height)}", N_CONTENT_SIZE)


def _layout_signals(found: _Signals, shape: UrlShape, evidence: UrlEvidence, repeats: int, same_shape: int) -> None:
    """Spacers and layout: a static URL named like a spacer or repeated, or many URLs of one shape."""
    if not evidence.identifiers:
        if shape.spacer_name:
            found.minus(f"not:spacer-name:{shape.spacer_name}", N_SPACER_NAME)
        if repeats >= REPEATED_IN_MESSAGE:
            found.minus(f"not:repeated-in-message:{repeats}", N_REPEATED)
    elif same_shape >= REPEATED_IN_MESSAGE:
        found.minus(f"not:same-shape-in-message:{same_shape}", N_REPEATED)
