"""Stage 3b, layer 3: header fingerprints that tie a whole message to its sending service.

Evidence kinds (provider-specific header names, header values such as ``Feedback-ID:
...:AmazonSES``, X-Mailer, DKIM ``d=``, Return-Path, Message-ID and Received hosts) are
compiled into dicts once. Each provider's evidence is combined noisy-or with the weights in
``kb.HEADER_WEIGHTS``; the strongest provider wins, ties broken by id so the answer is
deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from forensics.providers.kb import HeaderRule, KnowledgeBaseError, Provider
from forensics.providers.matcher import host_keys
from forensics.records import Message

_HOSTNAME = re.compile(r"\b((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})\b", re.IGNORECASE)
_DOMAIN_FIELDS = ("dkim", "return_path", "received", "message_id")
MAX_HEADER_CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    rule: HeaderRule
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderVerdict:
    provider_id: str
    score: float
    evidence: tuple[Evidence, ...]

    @property
    def reason(self) -> str:
        return "; ".join(e.detail for e in self.evidence)


class HeaderMatcher:
    """Header rules of a set of providers, compiled into lookups once."""

    def __init__(self, providers: Iterable[Provider]) -> None:
        self.names: dict[str, HeaderRule] = {}
        self.values: dict[str, list[tuple[re.Pattern[str], HeaderRule]]] = {}
        self.domains: dict[str, dict[str, HeaderRule]] = {f: {} for f in _DOMAIN_FIELDS}
        for provider in providers:
            for rule in provider.headers:
                self._add(rule)
        self.received_hint = _received_hint(self.domains["received"])

    def _add(self, rule: HeaderRule) -> None:
        if rule.field == "names":
            _claim(self.names, rule.name, rule)
        elif rule.field in ("values", "x_mailer"):
            self.values.setdefault(rule.name, []).append((re.compile(rule.pattern, re.IGNORECASE), rule))
        else:
            _claim(self.domains[rule.field], rule.pattern, rule)

    def evidence(self, message: Message) -> list[Evidence]:
        """Every header fact in the message that a rule recognises, in a stable order."""
        found: list[Evidence] = []
        for name, value in message.headers:
            found.extend(self._header_evidence(name.lower(), name, value))
        for field, domains in _message_domains(message, self.received_hint).items():
            for domain in domains:
                found.extend(self._domain_evidence(field, domain))
        return found

    def _header_evidence(self, lname: str, name: str, value: str) -> list[Evidence]:
        found: list[Evidence] = []
        rule = self.names.get(lname)
        if rule is not None:
            found.append(Evidence(rule=rule, detail=f"header {name} is present"))
        for regex, vrule in self.values.get(lname, ()):
            if regex.search(value):
                found.append(Evidence(rule=vrule, detail=f"{name}: {_short(value)} matches /{vrule.pattern}/"))
        return found

    def _domain_evidence(self, field: str, domain: str) -> list[Evidence]:
        table = self.domains[field]
        for key in host_keys(domain):
            rule = table.get(key)
            if rule is not None:
                return [Evidence(rule=rule, detail=f"{_FIELD_LABEL[field]} {domain} is under {key}")]
        return []

    def verdict(self, message: Message) -> HeaderVerdict | None:
        """The provider the headers point to most strongly, or None."""
        per_provider: dict[str, list[Evidence]] = {}
        for item in self.evidence(message):
            bucket = per_provider.setdefault(item.rule.provider_id, [])
            if all(e.rule.rule_id != item.rule.rule_id for e in bucket):
                bucket.append(item)
        if not per_provider:
            return None
        scored = sorted(((_noisy_or(ev), pid) for pid, ev in per_provider.items()),
                        key=lambda t: (-t[0], t[1]))
        score, pid = scored[0]
        return HeaderVerdict(provider_id=pid, score=min(score, MAX_HEADER_CONFIDENCE),
                             evidence=tuple(per_provider[pid]))


_FIELD_LABEL = {"dkim": "DKIM d=", "return_path": "Return-Path domain",
                "received": "Received host", "message_id": "Message-ID domain"}


def _claim(table: dict[str, HeaderRule], key: str, rule: HeaderRule) -> None:
    other = table.get(key)
    if other is not None and other.provider_id != rule.provider_id:
        raise KnowledgeBaseError(
            f"header fingerprint '{key}' is claimed by {other.provider_id} and {rule.provider_id}")
    table[key] = rule


def _noisy_or(evidence: list[Evidence]) -> float:
    miss = 1.0
    for item in evidence:
        miss *= 1.0 - item.rule.weight
    return round(1.0 - miss, 3)


def _short(value: str, limit: int = 120) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _domain_of(address: str | None) -> str:
    if not address or "@" not in address:
        return ""
    return address.rpartition("@")[2].strip(" <>\t\r\n").rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class _ReceivedHint:
    """What a Received line must contain for one of its hosts to fall under a Received rule: a
    rule matches a host suffix, literally or with '#' for a digit run (``matcher.host_keys``), so
    a line without any of these texts has no host worth extracting. The host regex is the costly
    part of header attribution (a quarter of extraction on SpamAssassin): this skips it."""

    literals: tuple[str, ...]
    digit_runs: re.Pattern[str] | None

    def found_in(self, line: str) -> bool:
        low = line.lower()
        return any(text in low for text in self.literals) or bool(self.digit_runs and self.digit_runs.search(low))


def _received_hint(patterns: Iterable[str]) -> _ReceivedHint:
    ordered = sorted(patterns)
    runs = ["[0-9]+".join(re.escape(piece) for piece in p.split("#")) for p in ordered if "#" in p]
    return _ReceivedHint(literals=tuple(p for p in ordered if "#" not in p),
                         digit_runs=re.compile("|".join(runs)) if runs else None)


def _message_domains(message: Message, received_hint: _ReceivedHint | None = None) -> dict[str, list[str]]:
    """Domains the message's own headers name, per evidence kind (Received hosts only on lines
    ``received_hint`` finds, when one is given)."""
    received: list[str] = []
    for line in message.received:
        if received_hint is not None and not received_hint.found_in(line):
            continue
        for host in _HOSTNAME.findall(line):
            if host.lower() not in received:
                received.append(host.lower())
    return {
        "dkim": [d.lower().rstrip(".") for d in message.dkim_domains],
        "return_path": [d for d in [_domain_of(message.return_path)] if d],
        "message_id": [d for d in [_domain_of(message.message_id)] if d],
        "received": received,
    }
