"""Stage 5 queries for extraction's exports (``resources``, ``beacons``, ``links``,
``header_findings``), registered in ``forensics.report.csvout.QUERIES``.

Each row carries the message's first location (evidence file, its SHA-256, locator) so
a finding can be traced without a join, and rows are ordered by that location, then
the message hash, the finding's position and its id: the same case gives the same files.
Columns: docs/extraction.md.

``KEYED`` gives each query a second form with the same rows in the same order, which the
report runs instead: the messages are ranked by their first location once (a small
temporary table), and each message's findings are read through the table's index on the
message hash, so only one message's findings are ever sorted together (the plain form
sorts every wide row of the table; the keyed form costs about half as much on a large
case, and a ``LIMIT`` stops early). ``tests/test_report_keyed.py`` compares both forms.
"""

from __future__ import annotations

from forensics.extract import columns
from forensics.report.tables import Keyed

# The first location of every message, computed once (a correlated subquery per finding
# would rescan the occurrences for each of them).
_FIRST = """
    WITH first AS (
        SELECT message_sha256, source_path, source_sha256, locator, member, folder, node_id, offset, part,
               ROW_NUMBER() OVER (PARTITION BY message_sha256
                                  ORDER BY source_path, member, folder, node_id, offset, part, locator,
                                           source_sha256) AS rn
        FROM occurrences)
"""
_HEAD = """x.finding_id, x.message_sha256, m.message_id, o.source_path, o.source_sha256, o.locator,
           m.from_addr, m.subject"""
_JOIN = """LEFT JOIN messages m ON m.message_sha256 = x.message_sha256
        LEFT JOIN first o ON o.message_sha256 = x.message_sha256 AND o.rn = 1"""
# finding_id last: the finding's position is unique in a message, its id in the table, so the
# order is total and a LIMIT gives the first rows of the full export.
_ORDER = """ORDER BY o.source_path, o.member, o.folder, o.node_id, o.offset, o.part, x.message_sha256, x.seq,
             x.finding_id"""
_PROVIDER = """x.provider, x.provider_company, x.provider_category, x.provider_layer, x.provider_rule,
           x.provider_confidence, x.provider_reason"""
_RESOURCE_COLUMNS = f"""{_HEAD}, x.part, x.location, x.element, x.resource_kind, x.conditional,
           x.url, x.resolved, x.unwrapped, x.wrappers, x.host, x.registered_domain, x.party,
           x.declared_width, x.declared_height, x.hidden, x.last_in_body, x.repeats_in_message,
           x.same_shape_in_message, x.url_messages, x.template_messages, x.host_messages,
           x.identifiers, x.tracking_params, x.signals, x.confidence, x.is_beacon, {_PROVIDER}"""

_LINK_COLUMNS = f"""{_HEAD}, x.part, x.location, x.element, x.conditional, x.link_text, x.url, x.resolved,
           x.classification, x.unwrapped, x.wrappers, x.unwrap_chain, x.host, x.registered_domain,
           x.party, x.tracker_host, x.final_host, x.final_registered_domain, x.final_party,
           x.identifiers, x.tracking_params, x.signals, {_PROVIDER}"""
_HEADER_COLUMNS = f"""{_HEAD}, x.header, x.kind, x.value, x.url, x.host, x.registered_domain, x.party,
           x.identifiers, x.signals, {_PROVIDER}"""

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
    SELECT {_LINK_COLUMNS}
    FROM links x {_JOIN}
    {_ORDER}
"""
HEADER_FINDINGS = f"""{_FIRST}
    SELECT {_HEADER_COLUMNS}
    FROM header_findings x {_JOIN}
    {_ORDER}
"""

QUERIES: dict[str, str] = {
    "resources": RESOURCES,
    "beacons": BEACONS,
    "links": LINKS,
    "header_findings": HEADER_FINDINGS,
}


def _keyed(name: str, query: str, table: str, columns_sql: str, where: str = "", *, whole: bool = True) -> Keyed:
    """The keyed form of a query on ``table``: temporary table ``keys`` holds one row per message
    hash of its rows (NULL included, as one), its first location (NULL when it has none) and
    ``k``, its rank in the plain query's order; the rows are read from ``keys`` in rank order
    and each message's rows of ``table`` through its index, by ``IS`` (NULL matches NULL, as
    the plain query's NULL locations sort together)."""
    keys = f"report_keys_{name}"
    create = (f"CREATE TEMP TABLE {keys} (k INTEGER PRIMARY KEY, message_sha256, source_path, source_sha256, "
              "locator, member, folder, node_id, offset, part)")
    # The first location of each message through the occurrences' index (one row each, a
    # few per copy), not a window over every occurrence as in the plain form: the same row,
    # as both orders end with the occurrence's key.
    fill = f"""
    INSERT INTO temp.{keys}
    SELECT ROW_NUMBER() OVER (ORDER BY o.source_path, o.member, o.folder, o.node_id, o.offset, o.part,
                                       k.message_sha256),
           k.message_sha256, o.source_path, o.source_sha256, o.locator, o.member, o.folder, o.node_id,
           o.offset, o.part
    FROM (SELECT DISTINCT x.message_sha256 FROM {table} x {where}) k
    LEFT JOIN occurrences o ON o.rowid = (
        SELECT f.rowid FROM occurrences f WHERE f.message_sha256 = k.message_sha256
        ORDER BY f.source_path, f.member, f.folder, f.node_id, f.offset, f.part, f.locator, f.source_sha256 LIMIT 1)
"""
    sql = f"""
    SELECT {columns_sql}
    FROM temp.{keys} o CROSS JOIN {table} x ON x.message_sha256 IS o.message_sha256
        LEFT JOIN messages m ON m.message_sha256 = x.message_sha256
    {where}
    ORDER BY o.k, x.seq, x.finding_id
"""
    return Keyed(query=query, table=table, keys=keys, setup=(create, fill), sql=sql, whole=whole)


KEYED: dict[str, Keyed] = {
    "resources": _keyed("resources", RESOURCES, "resources", _RESOURCE_COLUMNS),
    # Beacons are a few of the resources: read through the index, the resources of each message
    # with a beacon cost more than sorting the beacons; the page's first rows are still cheaper.
    "beacons": _keyed("beacons", BEACONS, "resources", _RESOURCE_COLUMNS, "WHERE x.is_beacon = 1", whole=False),
    "links": _keyed("links", LINKS, "links", _LINK_COLUMNS),
    "header_findings": _keyed("header_findings", HEADER_FINDINGS, "header_findings", _HEADER_COLUMNS),
}

columns.register()  # the report's data dictionary documents these exports' columns
