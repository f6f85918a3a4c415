"""Stage 3b data: the provider knowledge base, read from ``rules/*.toml`` into frozen records.

One TOML file per category (``esp.toml``, ``sales.toml``...), one ``[[provider]]`` table per
provider; ``_meta.toml`` holds the version, the cited sources, the hosts known to serve
ordinary content and the generic vocabulary (tracking sub-domain labels, campaign
parameters). The files are the reviewable artefact; this module only validates and freezes
them. Every rule gets a stable, readable id (``sendgrid/shape/0``) that findings cite.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

ROLES = ("open", "click", "beacon", "redirect", "asset", "operator", "tracker")
HEADER_FIELDS = ("names", "values", "x_mailer", "dkim", "return_path", "received", "message_id")
# How strongly one kind of header evidence ties a message to a service (noisy-or combined).
# A provider-specific header name is near proof; a Received host can be claimed by anyone.
HEADER_WEIGHTS = {"names": 0.9, "values": 0.9, "x_mailer": 0.8, "dkim": 0.8,
                  "return_path": 0.85, "message_id": 0.7, "received": 0.6}
# How an entry (or its company name) was established; see _meta.toml for the meaning of each.
# A source id "<list>-<commit>" in _meta.toml is that list read at that commit; the bare list id
# (``mtb``, ``trocker``...) only says where to look, so it never makes a basis.
LIST_PREFIXES = {"mtb-": "list:MailTrackerBlocker", "easyprivacy-": "list:EasyPrivacy",
                 "trocker-": "list:Trocker", "ugly-email-": "list:UglyEmail",
                 "adguard-cname-": "list:AdGuard-cname", "ghostery-": "list:Ghostery-TrackerDB",
                 "email-intelligence-": "list:Email-Intelligence",
                 "ddg-tracker-radar-": "list:DuckDuckGo-TrackerRadar"}
BASES = (*LIST_PREFIXES.values(), "documentation", "corpus", "recalled-unverified")
CORPUS_SOURCES = ("corpus-phishing-pot", "corpus-spamassassin")
DOC_PREFIX = "docs-"  # _meta.toml ids of provider documentation pages read for an entry
_HOST_RE = re.compile(r"^(?:[a-z0-9#_-]+\.)+[a-z0-9-]+$")


def list_basis(source: str) -> str:
    """The basis a pinned list source gives ("" for anything else)."""
    return next((basis for prefix, basis in LIST_PREFIXES.items() if source.startswith(prefix)), "")


class KnowledgeBaseError(ValueError):
    """A rules file is malformed or contradicts another (two providers claiming one pattern)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    ref: str  # an id from _meta.toml [sources] or a URL
    url: str
    title: str
    licence: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlRule:
    """One URL rule. ``host`` empty means a path shape matched on any host (layer 2)."""

    rule_id: str
    provider_id: str
    kind: str  # "host" (whole host), "url" (host + path), "shape" (path only), "param"
    role: str
    host: str = ""
    path: str = ""  # regex source, matched at the start of path?query
    dest: str = ""  # query parameter holding the destination of a click redirect
    confidence: float = 0.9
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderRule:
    rule_id: str
    provider_id: str
    field: str  # one of HEADER_FIELDS
    name: str = ""  # header name (lower case) for names/values/x_mailer
    pattern: str = ""  # regex (values, x_mailer) or domain suffix (dkim, return_path...)
    weight: float = 0.8


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Where one rule of a provider was read: a public list's pattern (with an example URL built
    from it, which the tests attribute) or a real message of the shared test corpus."""

    source: str  # an id in _meta.toml [sources]
    pattern: str = ""  # the list's own pattern, verbatim (regex, ABP filter or substring)
    example: str = ""  # a URL built from the pattern; must match it and be attributed here
    file: str = ""  # corpus evidence: the message file, relative to the corpus root
    rule: str = ""  # corpus evidence: the rule (id without the provider prefix) it fired


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    id: str
    name: str
    company: str
    category: str
    file: str
    hosts: tuple[UrlRule, ...] = ()
    urls: tuple[UrlRule, ...] = ()
    shapes: tuple[UrlRule, ...] = ()
    params: tuple[UrlRule, ...] = ()
    headers: tuple[HeaderRule, ...] = ()
    sources: tuple[Source, ...] = ()
    basis: tuple[str, ...] = ()
    company_basis: str = "recalled-unverified"
    evidence: tuple[Evidence, ...] = ()
    unverified: tuple[str, ...] = ()  # rule ids (without the provider prefix) no source backs
    notes: str = ""
    examples: tuple[str, ...] = ()
    header_examples: tuple[tuple[tuple[str, str], ...], ...] = ()

    @property
    def url_rules(self) -> tuple[UrlRule, ...]:
        return self.hosts + self.urls + self.shapes + self.params

    @property
    def rule_count(self) -> int:
        return len(self.url_rules) + len(self.headers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Meta:
    version: str
    sources: dict[str, Source]
    neutral_hosts: tuple[str, ...]
    tracking_labels: tuple[str, ...]
    generic_params: tuple[str, ...]
    generic_param_prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class KnowledgeBase:
    meta: Meta
    providers: tuple[Provider, ...]
    files: tuple[tuple[str, str], ...]  # (file name, SHA-256) of every rules file read
    # False once the rules no evidence backs were left out (what scans use, see verified_only)
    include_unverified: bool = True

    @property
    def version(self) -> str:
        """The declared version plus a digest of the files, so an edited file shows; a base
        that still holds unverified rules says so, so a manifest cannot pass one for the other."""
        digest = hashlib.sha256("".join(f"{n}:{h}\n" for n, h in self.files).encode()).hexdigest()
        return f"{self.meta.version}+{digest[:12]}" + ("+unverified" if self.include_unverified else "")

    def by_id(self) -> dict[str, Provider]:
        return {p.id: p for p in self.providers}


def _rules_dir() -> Any:
    return resources.files("forensics.providers") / "rules"


@lru_cache(maxsize=2)
def load(include_unverified: bool = False) -> KnowledgeBase:
    """The bundled knowledge base, read once per process: by default only the rules that a
    cited list, documentation page or corpus message backs (``include_unverified`` keeps the
    recalled ones too, for review and ``explain --include-unverified``)."""
    texts = {entry.name: entry.read_bytes() for entry in _rules_dir().iterdir()
             if entry.name.endswith(".toml")}
    kb = parse_files(texts)
    return kb if include_unverified else verified_only(kb)


def verified_only(kb: KnowledgeBase) -> KnowledgeBase:
    """The base without the rules listed as unverified; a provider left with no rule goes too.
    Rule ids are kept (``hubspot/shape/2`` stays ``shape/2``), so findings cite the file."""
    kept = tuple(p for p in map(_backed_rules_only, kb.providers) if p.rule_count)
    return replace(kb, providers=kept, include_unverified=False)


UNVERIFIED_COMPANY = " [company not verified]"


def _backed_rules_only(provider: Provider) -> Provider:
    if provider.company_basis == "recalled-unverified":
        # the rules may be sourced while the company (often a parent added from memory) is not:
        # say so wherever a finding names it (CSV, graph, report), instead of dropping the name
        provider = replace(provider, company=provider.company + UNVERIFIED_COMPANY)
    if not provider.unverified:
        return provider
    drop = {f"{provider.id}/{rule}" for rule in provider.unverified}

    def keep(rules: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(r for r in rules if r.rule_id not in drop)

    return replace(provider, hosts=keep(provider.hosts), urls=keep(provider.urls),
                   shapes=keep(provider.shapes), params=keep(provider.params),
                   headers=keep(provider.headers), unverified=(),
                   basis=tuple(b for b in provider.basis if b != "recalled-unverified"))


def parse_files(texts: dict[str, bytes]) -> KnowledgeBase:
    """Build a knowledge base from file name -> TOML bytes (tests pass small inline sets)."""
    if "_meta.toml" not in texts:
        raise KnowledgeBaseError("rules: _meta.toml is missing")
    meta = _meta(_toml("_meta.toml", texts["_meta.toml"]))
    providers: list[Provider] = []
    for name in sorted(n for n in texts if n != "_meta.toml"):
        data = _toml(name, texts[name])
        category = str(data.get("category") or name.removesuffix(".toml"))
        for entry in data.get("provider", []):
            providers.append(_provider(entry, category, name, meta))
    _check_unique_ids(providers)
    files = tuple(sorted((n, hashlib.sha256(b).hexdigest()) for n, b in texts.items()))
    return KnowledgeBase(meta=meta, providers=tuple(providers), files=files)


def _toml(name: str, data: bytes) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise KnowledgeBaseError(f"rules/{name}: {e}") from e


def _meta(data: dict[str, Any]) -> Meta:
    sources = {ref: Source(ref=ref, url=str(s["url"]), title=str(s.get("title", "")),
                           licence=str(s.get("licence", "")))
               for ref, s in data.get("sources", {}).items()}
    generic = data.get("generic", {})
    return Meta(
        version=str(data["version"]),
        sources=sources,
        neutral_hosts=tuple(_host(h, "_meta") for h in data.get("neutral", {}).get("hosts", [])),
        tracking_labels=tuple(str(x) for x in generic.get("tracking_labels", [])),
        generic_params=tuple(str(x).lower() for x in generic.get("params", [])),
        generic_param_prefixes=tuple(str(x).lower() for x in generic.get("param_prefixes", [])),
    )


def _provider(entry: dict[str, Any], category: str, file: str, meta: Meta) -> Provider:
    pid = str(entry.get("id", ""))
    where = f"rules/{file} provider {pid or '?'}"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", pid):
        raise KnowledgeBaseError(f"{where}: id must be lower-case letters, digits and dashes")
    for key in ("name", "company", "sources", "basis"):
        if not entry.get(key):
            raise KnowledgeBaseError(f"{where}: '{key}' is required")
    basis = tuple(str(b) for b in entry["basis"])
    company_basis = str(entry.get("company_basis", "recalled-unverified"))
    if any(b not in BASES for b in (*basis, company_basis)):
        raise KnowledgeBaseError(f"{where}: basis must be among {BASES}")
    provider = Provider(
        id=pid, name=str(entry["name"]), company=str(entry["company"]),
        category=str(entry.get("category", category)), file=file,
        hosts=tuple(_host_rule(pid, h, where) for h in entry.get("hosts", [])),
        urls=tuple(_url_rule(pid, i, u, where) for i, u in enumerate(entry.get("urls", []))),
        shapes=tuple(_shape_rule(pid, i, s, where) for i, s in enumerate(entry.get("shapes", []))),
        params=tuple(UrlRule(rule_id=f"{pid}/param/{p.lower()}", provider_id=pid, kind="param",
                             role="tracker", path=p.lower(), confidence=0.7)
                     for p in entry.get("params", [])),
        headers=_header_rules(pid, entry.get("headers", {}), where),
        sources=tuple(_source(s, meta, where) for s in entry["sources"]),
        basis=basis, company_basis=company_basis, notes=str(entry.get("notes", "")),
        evidence=tuple(_evidence(e, meta, where) for e in entry.get("evidence", [])),
        unverified=tuple(str(u) for u in entry.get("unverified", [])),
        examples=tuple(str(x) for x in entry.get("examples", [])),
        header_examples=tuple(tuple((str(k), str(v)) for k, v in ex.items())
                              for ex in entry.get("header_examples", [])),
    )
    _check_unverified(provider, where)
    return provider


def _evidence(item: dict[str, Any], meta: Meta, where: str) -> Evidence:
    source = str(item.get("source", ""))
    if source not in meta.sources:
        raise KnowledgeBaseError(f"{where}: evidence source '{source}' is not an id in _meta.toml")
    return Evidence(source=source, pattern=str(item.get("pattern", "")), example=str(item.get("example", "")),
                    file=str(item.get("file", "")), rule=str(item.get("rule", "")))


def _check_unverified(provider: Provider, where: str) -> None:
    """Unverified entries must name real rules, so the list stays true when rules change."""
    ids = [r.rule_id for r in provider.url_rules] + [r.rule_id for r in provider.headers]
    known = {rule_id.removeprefix(f"{provider.id}/") for rule_id in ids}
    stale = sorted(set(provider.unverified) - known)
    if stale:
        raise KnowledgeBaseError(f"{where}: 'unverified' names rules that do not exist: {stale}")


def _host(value: str, where: str) -> str:
    host = value.strip().lower()
    if not _HOST_RE.match(host):
        raise KnowledgeBaseError(f"{where}: '{value}' is not a host name ('#' = digits)")
    return host


def _role(value: Any, default: str, where: str) -> str:
    role = str(value or default)
    if role not in ROLES:
        raise KnowledgeBaseError(f"{where}: role '{role}' is not one of {ROLES}")
    return role


def _regex(source: str, where: str) -> str:
    try:
        re.compile(source)
    except re.error as e:
        raise KnowledgeBaseError(f"{where}: bad pattern {source!r}: {e}") from e
    return source


def _host_rule(pid: str, value: Any, where: str) -> UrlRule:
    spec = value if isinstance(value, dict) else {"host": value}
    host = _host(str(spec["host"]), where)
    return UrlRule(rule_id=f"{pid}/host/{host}", provider_id=pid, kind="host", host=host,
                   role=_role(spec.get("role"), "tracker", where), note=str(spec.get("note", "")),
                   confidence=float(spec.get("confidence", 0.9)))


def _url_rule(pid: str, index: int, spec: dict[str, Any], where: str) -> UrlRule:
    return UrlRule(rule_id=f"{pid}/url/{index}", provider_id=pid, kind="url",
                   host=_host(str(spec["host"]), where), path=_regex(str(spec["path"]), where),
                   role=_role(spec.get("role"), "tracker", where), dest=str(spec.get("dest", "")),
                   note=str(spec.get("note", "")), confidence=float(spec.get("confidence", 0.95)))


def _shape_rule(pid: str, index: int, spec: dict[str, Any], where: str) -> UrlRule:
    path = _regex(str(spec["path"]), where)
    if not path.startswith("^/"):
        raise KnowledgeBaseError(f"{where}: shape {path!r} must start with '^/'")
    return UrlRule(rule_id=f"{pid}/shape/{index}", provider_id=pid, kind="shape", path=path,
                   role=_role(spec.get("role"), "tracker", where), dest=str(spec.get("dest", "")),
                   note=str(spec.get("note", "")), confidence=float(spec.get("confidence", 0.85)))


def _header_rules(pid: str, spec: dict[str, Any], where: str) -> tuple[HeaderRule, ...]:
    rules: list[HeaderRule] = []
    for field, items in spec.items():
        if field not in HEADER_FIELDS:
            raise KnowledgeBaseError(f"{where}: unknown header field '{field}'")
        for i, item in enumerate(items):
            rules.append(_header_rule(pid, field, i, item, where))
    return tuple(rules)


def _header_rule(pid: str, field: str, index: int, item: Any, where: str) -> HeaderRule:
    rule_id = f"{pid}/header/{field}/{index}"
    weight = HEADER_WEIGHTS[field]
    if field == "names":
        return HeaderRule(rule_id=rule_id, provider_id=pid, field=field, name=str(item).lower(),
                          weight=weight)
    if field == "values":
        return HeaderRule(rule_id=rule_id, provider_id=pid, field=field,
                          name=str(item["name"]).lower(),
                          pattern=_regex(str(item["pattern"]), where), weight=weight)
    if field == "x_mailer":
        return HeaderRule(rule_id=rule_id, provider_id=pid, field=field, name="x-mailer",
                          pattern=_regex(str(item), where), weight=weight)
    return HeaderRule(rule_id=rule_id, provider_id=pid, field=field,
                      pattern=_host(str(item), where), weight=weight)


def _source(value: str, meta: Meta, where: str) -> Source:
    ref = str(value)
    if ref in meta.sources:
        return meta.sources[ref]
    if ref.startswith("https://") or ref.startswith("http://"):
        return Source(ref=ref, url=ref, title="")
    raise KnowledgeBaseError(f"{where}: source '{ref}' is neither a URL nor an id in _meta.toml")


def _check_unique_ids(providers: list[Provider]) -> None:
    seen: set[str] = set()
    for p in providers:
        if p.id in seen:
            raise KnowledgeBaseError(f"rules/{p.file}: provider id '{p.id}' is defined twice")
        seen.add(p.id)
