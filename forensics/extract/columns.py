"""Stage 5: what every column of extraction's exports means (also in docs/extraction.md).

``register`` adds these to the report's data dictionary (``data_dictionary.md`` of a
case), without replacing anything another stage documented.
"""

from __future__ import annotations

SHA = "SHA-256 (lower-case hex)"
_HEAD = {
    "finding_id": "the finding's id: first 16 hex digits of the message hash, `-`, kind (`r` resource, "
                  "`l` link, `h` header) and 5-digit position in the message; the same in every run",
    "message_sha256": f"{SHA} of the message's bytes: joins every file",
    "message_id": "Message-ID header as written",
    "source_path": "evidence file of the message's first occurrence",
    "source_sha256": f"{SHA} of that evidence file",
    "locator": "where the message sits in that file (see messages.csv)",
    "from_addr": "From addresses of the message",
    "subject": "Subject of the message",
}
_PROVIDER = {
    "provider": "tracker operator named by the provider rules (`forensics.providers`), empty when unknown",
    "provider_company": "company behind that provider",
    "provider_category": "provider's category (esp, sales, advertising, first-party...)",
    "provider_layer": "what decided: host rule, path shape, header fingerprint, first-party or unknown",
    "provider_rule": "id of the rule that matched",
    "provider_confidence": "the rule's confidence in [0, 1]",
    "provider_reason": "the rule's reason, in words",
}
_URL = {
    "url": "the reference as written in the HTML (character references decoded)",
    "resolved": "the absolute URL a client requests: resolved against `<base href>`; protocol-relative "
                "`//host` takes the base's scheme, else https",
    "unwrapped": "the URL after taking off wrappers (security gateways, webmail image proxies; for links also "
                 "click redirectors with the destination written in the URL)",
    "wrappers": "wrappers taken off, outermost first, `>`-separated (safelinks, proofpoint-v1/v2/v3, mimecast, "
                "barracuda, google-image-proxy, redirect-param, redirect-query, redirect-path, base64-param...)",
    "host": "host of `resolved` (the server that receives the request)",
    "registered_domain": "registered domain of `host` (public-suffix list bundled with tldextract, used offline)",
    "party": "`first` when `registered_domain` is the From address's registered domain, `third` when it is not, "
             "`unknown` without a From domain (a sender's own CNAME to an ESP counts as first)",
    "identifiers": "identifier-bearing parts of the URL (JSON list of `where=value (shape)`; shapes: uuid, hex, "
                   "base64, number, token, email, known-param)",
    "tracking_params": "known tracking parameters present (JSON list of names: utm_*, mc_eid, _hsenc, mkt_tok...)",
}
_RESOURCE = {
    "": "every remote resource a mail client would load on display, with the signals weighed to call it a beacon",
    **_HEAD,
    "part": "index of the HTML body in the message (0-based)",
    "location": "where in the HTML: `element@attribute` (img@src, img@srcset, td@background, input@src, "
                "video@poster, link@href...), `css@style` (inline style url()), `css@style-block`, "
                "`css@import`, `vml@src` (Outlook VML), `meta@refresh`",
    "element": "the element's tag (img, td, v:fill, style...)",
    "resource_kind": "image, stylesheet, font, icon, preload, connect, frame, media, object, script, refresh",
    "conditional": "the Outlook conditional comment it sits in (`if mso`, `if gte mso 9`), else empty",
    **_URL,
    "declared_width": "width in px the markup declares (inline CSS over attribute, capped by max-width); "
                      "empty when undeclared",
    "declared_height": "height in px, likewise",
    "hidden": "why it is not displayed (`display:none`, `ancestor div max-height:0`, `.class display:none`...)",
    "last_in_body": "1 when it is the body's last image and nothing visible follows it",
    "repeats_in_message": "how many times this URL is referenced in the message",
    "same_shape_in_message": "distinct URLs in the message with this URL's shape (identifiers masked)",
    "url_messages": "messages in the case that reference this URL (case-wide, recomputed at every scan)",
    "template_messages": "messages in the case with a URL of the same shape",
    "host_messages": "messages in the case with a resource from the same host",
    "signals": "every signal that applies (JSON list): positive (`size:tiny`, `size:undeclared`, `hidden:`, "
               "`hidden-by-ancestor`, `position:last-in-body`, `url:open-endpoint:`, `url:impression-endpoint:`, "
               "`url:identifier:`, `url:cache-buster:`, `url:tracking-word:`, `url:ad-server-host:`, "
               "`url:embedded-url`, `provider:RULE:ROLE`, `case:per-message-identifier`, `case:unique-url`) "
               "and negative (`not:spacer-name`, `not:repeated-in-message`, `not:same-shape-in-message`, "
               "`not:content-size`, `not:provider-asset`, `not:case-static-asset`)",
    "confidence": "beacon confidence in [0, 1]: positive weights combined as 1 - prod(1 - w), damped by the "
                  "negative ones unless a known open/impression endpoint matched (docs/extraction.md)",
    "is_beacon": "1 when confidence >= 0.5",
    **_PROVIDER,
}
_LINK = {
    "": "every link (a/area href, a ping, form action, link href not loaded, URLs in text/plain bodies), "
        "unwrapped and classified",
    **_HEAD,
    "part": "index of the HTML (or, for text@plain, the text) body (0-based)",
    "location": "`a@href`, `area@href`, `a@ping`, `form@action`, `link@href`, or `text@plain`",
    "element": "the element's tag (`text` for plain text)",
    "conditional": "the Outlook conditional comment it sits in, else empty",
    "link_text": "the link's text (first 200 characters; alt text for area)",
    "classification": "`direct`, `tracked-redirect` (a click redirector: destination embedded or known click "
                      "path), `tracked-redirect-identifier` (the redirector's own part carries an identifier), "
                      "`tracked-ping` (a@ping)",
    **_URL,
    "unwrap_chain": "every hop as a JSON list of URLs, outermost first, ending with the destination "
                    "(`[]` when nothing was unwrapped)",
    "tracker_host": "host that receives the click (the first redirector after security wrappers, else the link's)",
    "final_host": "host of the destination",
    "final_registered_domain": "registered domain of the destination",
    "final_party": "`first`/`third`/`unknown` for the destination",
    "signals": "why it was classified so (JSON list): wrapper:NAME(kind,via), click-path:, tracker-host-label:, "
               "provider:RULE:ROLE, destination:not-in-url, identifier:, tracking-param:, note:",
    **_PROVIDER,
}
_HEADER = {
    "": "tracking requested in the header: read-receipt requests and List-Unsubscribe entries",
    **_HEAD,
    "header": "header name as written",
    "kind": "`read-receipt` (Disposition-Notification-To, Return-Receipt-To, X-Confirm-Reading-To, "
            "Read-Receipt-To), `delivery-report` (Generate-Delivery-Report), `list-unsubscribe`",
    "value": "the header value, or the one List-Unsubscribe entry",
    "url": "the List-Unsubscribe URL or mailto: (empty for receipts)",
    "host": "its host (for mailto:, the address's domain)",
    "registered_domain": "registered domain of `host`",
    "party": "`first`/`third`/`unknown` relative to the From domain",
    "identifiers": "tokens found in the URL or mailto local part (JSON list)",
    "signals": "JSON list: read-receipt-requested, delivery-report-requested, list-unsubscribe, token:..., "
               "one-click-post",
    **_PROVIDER,
}
_EXTRACTION = {
    "": "per message: what extraction walked, kept and only counted, and any limit it hit",
    "message_sha256": f"{SHA} of the message's bytes",
    "html_parts": "HTML bodies", "html_chars": "characters of HTML read",
    "elements_walked": "HTML elements walked (all bodies and conditional comments)",
    "remote_resources": "remote resources kept (rows in resources)",
    "beacons_local": "of those, beacons before the case-wide signals",
    "cid_references": "references to parts of the message (cid:, mid:), not remote",
    "data_references": "inline data: references, not remote",
    "relative_references": "relative URLs without a base: nothing a client could fetch",
    "other_references": "other references to loadable places (javascript:, fragments, unknown schemes)",
    "links": "links kept (rows in links)", "tracked_links": "links not classified direct",
    "text_links": "links found in text/plain bodies", "header_findings": "rows in header_findings",
    "limits": "limits hit on hostile or huge HTML (JSON list; also a warning in problems)",
}

COLUMNS: dict[str, dict[str, str]] = {
    "resources": _RESOURCE,
    "beacons": {**_RESOURCE, "": "the remote resources judged beacons (is_beacon = 1), same columns as resources"},
    "links": _LINK,
    "header_findings": _HEADER,
    "extraction": _EXTRACTION,
}


def register() -> None:
    """Add these descriptions to the report's data dictionary (never overriding one)."""
    from forensics.report import dictionary

    for name, columns in COLUMNS.items():
        dictionary.FILES.setdefault(name, dict(columns))
