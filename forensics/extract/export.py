"""Stage 5 queries for extraction's exports (``resources``, ``beacons``, ``links``,
``header_findings``), registered in ``forensics.report.csvout.QUERIES``.

Each row carries the message's first location (evidence file, its SHA-256, locator) so
a finding can be traced without a join, and rows are ordered by that location, then
the message hash and the finding's position: the same case gives the same files.
Columns: docs/extraction.md.
"""

from __future__ import annotations

from forensics.extract import columns

# The first location of every message, computed once (a correlated subquery per finding
# would rescan the occurrences for each of them).
_FIRST = """
    WITH first AS (
        SELECT message_sha256, source_path, source_sha256, locator, member, folder, node_id, offset, part,
               ROW_NUMBER() OVER (PARTITION BY message_sha256
                                  ORDER BY source_path, member, folder, node_id, offset, part, locator) AS rn
        FROM occurrences)
"""
_HEAD = """x.finding_id, x.message_sha256, m.message_id, o.source_path, o.source_sha256, o.locator,
           m.from_addr, m.subject"""
_JOIN = """LEFT JOIN messages m ON m.message_sha256 = x.message_sha256
        LEFT JOIN first o ON o.message_sha256 = x.message_sha256 AND o.rn = 1"""
_ORDER = """ORDER BY o.source_path, o.member, o.folder, o.node_id, o.offset, o.part, x.message_sha256, x.seq"""
_PROVIDER = """x.provider, x.provider_company, x.provider_category, x.provider_layer, x.provider_rule,
           x.provider_confidence, x.provider_reason"""
_RESOURCE_COLUMNS = f"""{_HEAD}, x.part, x.location, x.element, x.resource_kind, x.conditional,
           x.url, x.resolved, x.unwrapped, x.wrappers, x.host, x.registered_domain, x.party,
           x.declared_width, x.declared_height, x.hidden, x.last_in_body, x.repeats_in_message,
           x.same_shape_in_message, x.url_messages, x.template_messages, x.host_messages,
           x.identifiers, x.tracking_params, x.signals, x.confidence, x.is_beacon, {_PROVIDER}"""

RESOURCES = f"""{_FIRST}
    SELECT {_RESOURCE_COLUMNS}
    FROM resources x {_JOIN}
    {_ORDER}
"""
BEACONS = f"""{_FIRST}
    SELECT {_RESOURCE_COLUMNS}
    FROM resources x {_JOIN}
    WHERE x.is_beacon = 1
    {_ORDER}
"""
LINKS = f"""{_FIRST}
    SELECT {_HEAD}, x.part, x.location, x.element, x.conditional, x.link_text, x.url, x.resolved,
           x.classification, x.unwrapped, x.wrappers, x.unwrap_chain, x.host, x.registered_domain,
           x.party, x.tracker_host, x.final_host, x.final_registered_domain, x.final_party,
           x.identifiers, x.tracking_params, x.signals, {_PROVIDER}
    FROM links x {_JOIN}
    {_ORDER}
"""
HEADER_FINDINGS = f"""{_FIRST}
    SELECT {_HEAD}, x.header, x.kind, x.value, x.url, x.host, x.registered_domain, x.party,
           x.identifiers, x.signals, {_PROVIDER}
    FROM header_findings x {_JOIN}
    {_ORDER}
"""

QUERIES: dict[str, str] = {
    "resources": RESOURCES,
    "beacons": BEACONS,
    "links": LINKS,
    "header_findings": HEADER_FINDINGS,
}

columns.register()  # the report's data dictionary documents these exports' columns
