"""Stage 3b records: what attribution returns (re-exported by ``forensics.providers``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribution:
    provider: str  # canonical provider name, "" when unknown
    company: str
    category: str
    layer: str  # "host" | "path" | "header" | "first-party" | "unknown"
    rule_id: str
    confidence: float
    reason: str
    provider_id: str = ""  # stable id in the knowledge base ("amazon-ses")
    role: str = ""  # what the rule says the URL does: open, click, beacon, redirect, asset...
    destination: str = ""  # for click redirects: where the reader is sent, when the URL says
    tracking_params: tuple[str, ...] = ()  # known tracking parameters present in the URL


UNKNOWN = Attribution(provider="", company="", category="", layer="unknown", rule_id="",
                      confidence=0.0, reason="no rule matched")


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One layer tried while explaining a URL, and what it found."""

    layer: str
    matched: bool
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    url: str
    host: str
    steps: tuple[Step, ...]
    attribution: Attribution
    header_attribution: Attribution | None
    rules_version: str
