"""What every column of the token and leak exports means, for the report's data dictionary."""

from __future__ import annotations

_MSG = "SHA-256 of the message's bytes (joins messages.csv)"
_FINDING = "the URL's finding id (joins resources, links and header_findings)"
_LOCATION = ("where in the URL: `path[i]`, `query[name]` (`query[#i]` for a bare item), `fragment`, "
             "`fragment[name]`; `>` nests into a URL inside a parameter, `json[key]`, `jwt[i]`, `qs[key]`; "
             "`unwrapped>` for the unwrapped destination; `>text` for a substring of a longer value")

COLUMNS: dict[str, dict[str, str]] = {
    "leaks": {
        "": "the recipient's address found in a URL, plain, encoded or hashed (one row per place and identity)",
        "message_sha256": _MSG, "from_addr": "From address of the message", "subject": "Subject of the message",
        "finding_id": _FINDING, "kind": "`resource` (loaded on open), `link` (followed on click), `header`",
        "is_beacon": "1 when extraction judged the resource a beacon",
        "identity": "the recipient address, as first written in the message (or as given with --identity)",
        "identity_sources": "where the message names it: identity (--identity), delivered-to, to, cc",
        "variant": "which spelling matched: as-written, trimmed, lower, no-plus, local, local-no-plus",
        "chain": "steps from the identity to the text in the URL (`sha256 > raw > base64url-nopad`: URL-safe "
                 "unpadded base64 of the SHA-256 digest bytes; `plain`: written as is; `case-changed`: "
                 "written in other letter case)",
        "layers": "number of steps in the chain", "location": _LOCATION,
        "written": "the value at that place as written in the URL", "matched": "the text that equals the form",
        "host": "host of the URL as written", "registered_domain": "its registered domain",
        "receivers": "every host the value travels to, outermost first (` > `-separated)",
        "provider": "tracking provider of the URL, when the knowledge base names one",
        "party": "`first-party` (every receiver under the sender's domain, no provider named), "
                 "`third-party`, or `unknown` (no sender domain)",
        "url": "the URL as written", "unwrapped": "its final destination after unwrapping",
    },
    "tokens": {
        "": "identifier-like URL values and what each identifies across the case",
        "value": "the value, after its decoding chain", "role": "recipient-identifier, message-identifier, "
        "campaign-identifier, repeated or undetermined (rules: forensics/tokens/roles.py)",
        "evidence": "why, in words", "messages": "messages carrying it", "recipients": "distinct recipients",
        "senders": "distinct senders (From address)",
        "pair_messages": "messages with URLs its senders sent its recipients",
        "copies_compared": "comparisons with copies of the same newsletter sent to another recipient",
        "copies_differing": "of which the copy had a different value at the same place",
        "length": "characters", "charclass": "digits, hex, alpha, alnum, base64url, base64 or text",
        "entropy": "Shannon entropy, bits per character", "sender_list": "senders, `; `-separated",
        "provider_list": "providers of the URLs", "host_list": "hosts of the URLs",
        "locations": "places in the URLs", "chains": "decoding chains (`as written` when none)",
    },
    "url_tokens": {
        "": "every identifier-like value in every web URL of every message, at each decoding layer",
        "message_sha256": _MSG, "finding_id": _FINDING,
        "slot": "position of the URL among the message's URLs (aligns copies of one newsletter)",
        "kind": "resource, link or header", "is_beacon": "1 for a beacon", "location": _LOCATION,
        "chain": "decoding steps from the text written in the URL (url, base64, base64url-nopad, base32, hex, "
                 "upper, raw), ` > `-separated; empty when as written",
        "raw": "the text at that place before its decoding", "value": "the value after the chain",
        "length": "characters", "charclass": "digits, hex, alpha, alnum, base64url, base64 or text",
        "entropy": "Shannon entropy, bits per character", "host": "host of the URL",
        "registered_domain": "its registered domain", "provider": "tracking provider, when named",
        "sender": "From address, lower-case", "recipient": "the mailbox's address for this message",
    },
    "message_recipients": {
        "": "who sent each message with web URLs to whom (the basis of token roles)",
        "message_sha256": _MSG, "sender": "From address, lower-case",
        "recipient": "the mailbox's address: an --identity named in the headers, else Delivered-To, To, Cc",
        "identities": "every identity looked for in the message, `; `-separated",
        "body_shape": "SHA-256 of subject and bodies without URLs, recipient addresses and names "
                      "(equal for copies of one newsletter)",
    },
}


def register() -> None:
    """Add these descriptions to the report's data dictionary (never overriding one)."""
    from forensics.report import dictionary

    for name, columns in COLUMNS.items():
        known = dictionary.FILES.setdefault(name, {})
        for column, meaning in columns.items():
            known.setdefault(column, meaning)
