"""Stage 3b: who operates a tracker. Rules are data (``rules/*.toml``); this is the matcher's API.

The extraction stage calls ``attribute_url`` for every remote resource and link; the
result records which layer decided (host rule, path shape, header fingerprint,
first-party, unknown), the rule id and a confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from forensics.domains import registered_domain
from forensics.records import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribution:
    provider: str  # canonical provider name, "" when unknown
    company: str
    category: str
    layer: str  # "host" | "path" | "header" | "first-party" | "unknown"
    rule_id: str
    confidence: float
    reason: str


UNKNOWN = Attribution(provider="", company="", category="", layer="unknown", rule_id="",
                      confidence=0.0, reason="no rule matched")


def sender_domain(message: Message | None) -> str:
    """The registered domain of the message's From address ('' when there is none)."""
    if message is None or not message.from_:
        return ""
    address = message.from_[0].address
    return registered_domain(address.rpartition("@")[2]) if "@" in address else ""


def attribute_url(url: str, host: str, message: Message | None = None) -> Attribution:
    """Attribute one URL. Placeholder until the knowledge base lands: first-party or unknown."""
    domain = registered_domain(host)
    if domain and domain == sender_domain(message):
        return Attribution(provider="", company="", category="first-party", layer="first-party",
                           rule_id="", confidence=0.5, reason=f"host is under the sender's domain {domain}")
    return UNKNOWN
