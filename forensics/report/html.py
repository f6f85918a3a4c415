"""Stage 5: the one self-contained HTML file a person reads first (``report.html``).

Safety comes first because the file displays hostile text (subjects, names, tracking
URLs) to someone who will open it in a browser:
- every value from the case goes through ``esc`` (``html.escape`` with ``quote=True``),
  in text and in attributes alike;
- a Content-Security-Policy forbids every load except ``data:`` images, and allows only
  this file's own style and script, by hash;
- evidence URLs are text, never ``src``/``href``: the only links are ``#fragment`` links
  inside the file, built from hex digests.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any

from forensics.correlate.metrics import UNATTRIBUTED
from forensics.correlate.sources import RECIPIENT_ROLE
from forensics.report import facts
from forensics.report.csvout import KEYED
from forensics.report.facts import Summary
from forensics.report.tables import EVERY_FORMAT, Export, Formats, export_sql, has_table

if TYPE_CHECKING:  # the charts module imports matplotlib; the page only reads what it drew
    from forensics.report.charts import Drawn

ROW_LIMIT = 1000  # rows per table in the HTML; the data set files hold everything
LIST_SHOWN = 12  # names listed in a sentence of the summary
BROKERS_SHOWN = 20  # rows of the data-broker table in the summary (most senders first)
SHORT_CELL = 14  # a one-word value up to this long is never broken across lines ("third-party")
CORE_TABLES = ("messages", "occurrences", "attachments", "inputs")
EVIDENCE_ORDER = ("beacons", "links", "leaks", "tokens", "problems")
_HEX = re.compile(r"^[0-9a-f]{8,128}$")
_NUM_CLASS = ' class="num"'


def esc(value: object) -> str:
    """Text safe in HTML content and in quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(css: str, js: str) -> str:
    """No remote anything: data: images, and this file's own style and script by hash."""
    return (f"default-src 'none'; img-src data:; style-src {csp_hash(css)}; "
            f"script-src {csp_hash(js)}; base-uri 'none'; form-action 'none'")


def anchor(prefix: str, key: str) -> str:
    """A fragment id from a digest (evidence text never becomes an id as such)."""
    digest = key if _HEX.match(key) else hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}-{digest[:24]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What every section needs: the case, and which messages the page describes."""

    conn: sqlite3.Connection
    plan: dict[str, Export]
    tool_version: str
    rules_version: str
    counts: dict[str, int]  # rows per export, as written to the CSV files
    formats: Formats = EVERY_FORMAT  # the files written: the page names only those

    def file(self, name: str) -> str:
        """The file the page names for a data set (its CSV, else its JSON Lines)."""
        return self.formats.file(name)

    def graph_files(self, stem: str, *, drawing: bool = False) -> str:
        """The graph files written for ``stem``, as the page names them (``""``: none);
        ``drawing``: those a drawing program opens (GraphML, GEXF), when any is written."""
        formats = [f for f in self.formats.graphs if f != "json"] if drawing else []
        return f"{stem}." + " / .".join(formats or self.formats.graphs) if self.formats.graphs else ""


# ----------------------------------------------------------------------- tables


def _cell(column: str, value: object, messages: dict[str, sqlite3.Row]) -> str:
    text = "" if value is None else str(value)
    if column in ("message_sha256", "message") and text:
        return _message_cell(text, messages.get(text))
    if column in ("rule_id", "provider_rule") and text:
        return f'<td><a href="#{anchor("rule", text)}">{esc(text)}</a></td>'
    if isinstance(value, (int, float)):
        return f'<td class="num">{esc(text)}</td>'
    css = "url" if "url" in column or column in ("unwrapped", "token") else (
        "hash" if "sha256" in column else "short" if len(text) <= SHORT_CELL and " " not in text else "wrap")
    return f'<td class="{css}">{esc(text)}</td>'


def _message_cell(sha: str, row: sqlite3.Row | None) -> str:
    label = f"{row['subject'] or '(no subject)'} — {row['date_utc'] or 'no date'}" if row else sha[:16]
    return f'<td data-v="{esc(sha)}"><a href="#{anchor("m", sha)}">{esc(label)}</a></td>'


def _rows_note(shown: int, total: int, source: str) -> str:
    return (f"all {total} rows" if shown >= total else f"first {shown} of {total} rows") + f"; full data: {source}"


# Where a row count known only later goes (``Later``): escaped text holds no '<', so no value
# from the case can forge one.
_SLOT = "<!--forensics-rows:{}-->"


@dataclass(frozen=True, slots=True, kw_only=True)
class Later:
    """Sections made before every export's row count is known (other processes may still be
    writing them): their notes are slots, each filled by ``fill`` with the note's text."""

    html: str
    notes: dict[str, Callable[[int], str]]  # slot -> the note, given the export's row count
    exports: dict[str, str]  # slot -> the export whose row count it shows


def table(table_id: str, header: Sequence[str], rows: Iterable[Sequence[object]], *,
          total: int | None, source: str, messages: dict[str, sqlite3.Row] | None = None) -> str:
    """A sortable, filterable table; says how many rows it shows and where the rest are
    (``total`` None: in ``_SLOT`` of ``table_id``, to be filled from the rows it shows)."""
    body, numeric = [], [False] * len(header)
    for row in rows:
        body.append("<tr>" + "".join(_cell(c, v, messages or {}) for c, v in zip(header, row)) + "</tr>")
        numeric = [n or isinstance(v, (int, float)) for n, v in zip(numeric, row)]
    if not body:
        return f'<p class="note">No rows (see {esc(source)}).</p>'
    heads = "".join(f'<th scope="col"{_NUM_CLASS if n else ""}><button type="button">{esc(h)}</button></th>'
                    for h, n in zip(header, numeric))
    note = _SLOT.format(table_id) if total is None else esc(_rows_note(len(body), total, source))
    return (f'<p><input type="search" placeholder="Filter rows" aria-label="Filter {esc(table_id)}" '
            f'data-filter="{esc(table_id)}"><span class="count" id="{esc(table_id)}-count">{note}</span></p>'
            f'<div class="tablebox"><table class="data" id="{esc(table_id)}"><thead><tr>{heads}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _limited(sql: str, limit: int) -> str:
    return f"{sql.strip().rstrip(';')} LIMIT {int(limit)}"


def _count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM ({sql.strip().rstrip(';')})").fetchone()[0])


def _message_rows(conn: sqlite3.Connection, shas: Iterable[str]) -> dict[str, sqlite3.Row]:
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    rows = cursor.execute(
        "SELECT message_sha256, subject, date_utc FROM messages "
        "WHERE message_sha256 IN (SELECT value FROM json_each(?))", (json.dumps(sorted(set(shas))),))
    return {r["message_sha256"]: r for r in rows}


# --------------------------------------------------------------------- sections


def _pct(part: int | None, whole: int) -> str:
    if part is None:
        return "no data"
    return f"{100.0 * part / whole:.1f}%" if whole else "0%"


def _share(value: float | None) -> str | None:
    return None if value is None else f"{100.0 * value:.1f}%"


def _card(value: str, label: str, alert: bool = False) -> str:
    return f'<div class="card{" alert" if alert else ""}"><span class="v">{esc(value)}</span><span class="k">{esc(label)}</span></div>'


NODATA = "no data (this case has no {} table)"


def _cards(s: Summary) -> list[str]:
    def number(value: int | None) -> str:
        return "no data" if value is None else str(value)

    notes = f"; {s.notes} notes, e.g. deleted but still present" if s.notes else ""
    return [
        _card(str(s.messages), f"unique messages analysed ({s.copies} copies, {s.defective} with defects)"),
        _card(_pct(s.tracked, s.messages), "of messages carry at least one beacon"
              + (f" ({s.tracked})" if s.tracked is not None else f": {NODATA.format('beacon')}"), bool(s.tracked)),
        _card(number(s.providers), "tracking providers identified"),
        _card(number(s.leaked_messages), "messages leaking the recipient's address" if s.leaked_messages is not None
              else f"leaking messages: {NODATA.format('leaks')}", bool(s.leaked_messages)),
        _card(number(s.recipient_tokens), "URL values identifying the recipient (tokens)", bool(s.recipient_tokens)),
        _card(number(s.brokers), "third parties able to link the recipient across senders", bool(s.brokers)),
        _card(str(s.problems), f"problems recorded ({s.skipped_files} files skipped as not mail{notes})",
              bool(s.problems)),
    ]


def receivers_block(ctx: Context) -> str:
    """Who received the recipient's address: per identity, each receiver and the encodings."""
    rows = facts.receivers(ctx.conn)
    if rows is None:
        return f'<p class="note">No data: {esc(NODATA.format("leaks"))}.</p>'
    third = sorted({r.receiver for r in rows if "third-party" in r.party})
    more = f" and {len(third) - LIST_SHOWN} more" if len(third) > LIST_SHOWN else ""
    lead = (f"{len(third)} third part{'y' if len(third) == 1 else 'ies'} received an identity of the recipient: "
            + ", ".join(third[:LIST_SHOWN]) + more + "." if third else "No third party received an identity of the recipient.")
    header = ["identity", "receiver", "party", "encodings", "carried by", "senders", "messages", "hosts reached"]
    body = ([r.identity, r.receiver, r.party, r.encodings, r.via, r.senders, r.messages, r.hosts] for r in rows)
    return (f'<p>{esc(lead)}</p><p class="note">Each identity (address of the mailbox owner) with every party its '
            "value was sent to: the tracking provider when a rule names it, else the receiving host; "
            f"encodings as in {esc(ctx.file('leaks'))} (<code>md5</code>: the MD5 of the address; <code>url</code>: "
            "URL-encoded). A beacon sends it when the message is opened, a link when it is clicked.</p>"
            + table("t-receivers", header, body, total=facts.receiver_total(ctx.conn),
                    source=ctx.file("leaks")))


def first_items(joined: str, total: int, shown: int = 3) -> str:
    """The first few items of a ``; ``-joined list, saying how many the full list holds."""
    items = [i for i in joined.split("; ") if i]
    return "; ".join(items[:shown]) + (f" … ({total} in all)" if total > shown else "")


def brokers_block(ctx: Context) -> str:
    """The data-broker table: who can link one recipient across several senders."""
    rows = facts.brokers(ctx.conn, limit=BROKERS_SHOWN)
    if rows is None:
        return f'<p class="note">No data: {esc(NODATA.format("metrics_brokers"))}.</p>'
    where = ", ".join([ctx.file("metrics_brokers")] + (["graph_brokers.*"] if ctx.formats.graphs else []))
    if not rows:
        return ('<p class="note">None in this case: no third party received an identifier of the same '
                f"recipient (address leak or recipient-identifier token) from two senders or more ({esc(where)}).</p>")
    header = ["third party", "recipient", "senders", "messages", "leaks", "tokens", "shared values",
              "senders (first 3)", "first seen (UTC)", "last seen (UTC)"]
    body = ([r.receiver, r.recipient, r.senders, r.messages, r.leaks, r.tokens, r.shared_values,
             first_items(r.sender_list, r.senders), r.first_seen[:10], r.last_seen[:10]] for r in rows)
    drawing = ctx.graph_files("graph_brokers", drawing=True)
    return ('<p class="note">Third parties that received an identifier of the same recipient (an address leak or '
            "a recipient-identifier token) from two senders or more, and so can link that person across them; "
            "<em>shared values</em> counts identifiers received identically from several senders (a direct "
            "join key)." + (f" Drawing: {esc(drawing)}." if drawing else "") + "</p>"
            + table("t-brokers", header, body, total=_count(ctx.conn, "SELECT 1 FROM metrics_brokers"),
                    source=ctx.file("metrics_brokers")))


def summary_section(ctx: Context, s: Summary) -> str:
    return (f'<section id="summary"><h2>Summary</h2><div class="cards">{"".join(_cards(s))}</div>'
            f"<h3>Who received the recipient's address</h3>{receivers_block(ctx)}"
            f"<h3>Data brokers: who can link the recipient across senders</h3>{brokers_block(ctx)}</section>")


def charts_section(charts: Sequence[Drawn]) -> str:
    """Charts as data: SVG images (an image cannot run script or load anything)."""
    parts = ['<section id="charts"><h2>Charts</h2>']
    for chart in charts:
        if chart.empty:
            parts.append(f'<h3>{esc(chart.title)}</h3><p class="note">No data for this chart in this case '
                         f"({esc(chart.stem)}.png and .svg say so too).</p>")
            continue
        data = base64.b64encode(chart.svg).decode("ascii")
        parts.append(f'<figure><img alt="{esc(chart.title)}" src="data:image/svg+xml;base64,{data}">'
                     f"<figcaption>{esc(chart.title)} — also {esc(chart.stem)}.png and {esc(chart.stem)}.svg"
                     "</figcaption></figure>")
    return "".join(parts) + "</section>"


def senders_section(ctx: Context) -> str:
    rows = facts.senders(ctx.conn)
    header = ["sender", "messages", "tracked messages", "share tracked", "beacons", "links", "leaks", "providers"]
    body = ([r.sender, r.messages, "no data" if r.tracked is None else r.tracked, _share(r.share) or "no data",
             r.beacons, r.links, r.leaks, r.providers] for r in rows)
    return ('<section id="senders"><h2>Senders</h2><p class="note">Senders by number of messages (first From '
            f"address, lower-cased), the busiest 50; messages and tracked messages as in {esc(ctx.file('metrics_prevalence'))} "
            "(scope <code>sender</code>), which lists every sender.</p>"
            + table("t-senders", header, body, total=facts.sender_total(ctx.conn),
                    source=f"{ctx.file('metrics_prevalence')}, {ctx.file('messages')}")
            + "</section>")


def providers_section(ctx: Context) -> str:
    rows = facts.providers(ctx.conn)
    if rows is None:
        inner = '<p class="note">No data: this case has no beacons or links table.</p>'
    else:
        header = ["provider", "findings", "beacons", "links", "messages", "share of messages", "senders",
                  "hosts", "rules"]
        inner = (f'<p class="note">Tracking providers by number of messages, as in {esc(ctx.file("metrics_providers"))}; '
                 f"{esc(UNATTRIBUTED)}: beacons and links no provider rule names.</p>"
                 + table("t-providers", header, ([r.provider, r.findings, r.beacons, r.links, r.messages,
                                                   _share(r.share_of_messages), r.senders, r.hosts, r.rules]
                                                  for r in rows),
                         total=_count(ctx.conn, "SELECT 1 FROM metrics_providers"),
                         source=", ".join(ctx.file(n) for n in ("metrics_providers", "beacons", "links"))))
    return f'<section id="providers"><h2>Providers</h2>{inner}</section>'


def tokens_section(ctx: Context) -> str:
    """Identifier-like URL values and what they identify across the case."""
    roles = facts.token_roles(ctx.conn)
    if roles is None:
        return '<section id="tokens"><h2>Tokens</h2><p class="note">No data: this case has no tokens table.</p></section>'
    counts = ", ".join(f"{c.value} {c.label}" for c in roles) or "none"
    rows = facts.recipient_tokens(ctx.conn)
    header = ["token", "senders", "messages", "providers", "hosts", "evidence"]
    inner = table("t-tokens", header, ([r.value, r.senders, r.messages, r.providers, r.hosts, r.evidence]
                                       for r in rows), total=_count(ctx.conn, f"SELECT 1 FROM tokens WHERE role = '{RECIPIENT_ROLE}'"),
                  source=ctx.file("tokens"))
    return ('<section id="tokens"><h2>Tokens</h2><p>Identifier-like values in URLs, by role across the case: '
            f"{esc(counts)}.</p><h3>Values identifying the recipient</h3><p class=\"note\">A "
            "<em>recipient-identifier</em> is the same in every message a sender sent one recipient, or differs "
            "between copies of one newsletter sent to different recipients; the most widely sent first (at "
            f"most 50). Every token, with its role and evidence: {esc(ctx.file('tokens'))}; every occurrence: "
            f"{esc(ctx.file('url_tokens'))}.</p>"
            f"{inner}</section>")


def rules_section(ctx: Context) -> str:
    sql = facts.findings_sql(ctx.conn)
    if sql is None:
        return '<section id="rules"><h2>Rules</h2><p class="note">No data: no findings in this case.</p></section>'
    rows = list(ctx.conn.execute(f"""
        SELECT rule_id, provider, layer, COUNT(*), MIN(reason) FROM ({sql})
        WHERE rule_id != '' GROUP BY rule_id, provider, layer ORDER BY rule_id, provider, layer"""))
    items = "".join(
        f'<tr id="{anchor("rule", r[0])}"><td class="wrap">{esc(r[0])}</td><td>{esc(r[1])}</td>'
        f'<td>{esc(r[2])}</td><td class="num">{esc(r[3])}</td><td class="wrap">{esc(r[4])}</td></tr>' for r in rows)
    inner = (f'<div class="tablebox"><table><thead><tr><th>rule</th><th>provider</th><th>layer</th>'
             f'<th class="num">findings</th><th>example reason</th></tr></thead><tbody>{items}</tbody></table></div>'
             if rows else '<p class="note">No finding was decided by a provider rule.</p>')
    return (f'<section id="rules"><h2>Rules that decided findings</h2><p class="note">Rule set version '
            f"{esc(ctx.rules_version)}.</p>{inner}</section>")


def evidence_names(plan: dict[str, Export]) -> list[str]:
    known = [n for n in EVIDENCE_ORDER if n in plan]
    return known + sorted(n for n in plan if n not in known and n not in CORE_TABLES)


def evidence_section(ctx: Context, referenced: set[str]) -> str:
    return fill(ctx, evidence_later(ctx, referenced))


def evidence_later(ctx: Context, referenced: set[str]) -> Later:
    """The evidence tables, their row counts left to fill."""
    notes: dict[str, Callable[[int], str]] = {}
    exports: dict[str, str] = {}
    parts = ['<section id="evidence"><h2>Evidence tables</h2>'
             '<p class="note">Each finding links to its message below (subject, date, source file, '
             "locator, hashes) and, when a provider rule decided it, to that rule. URLs are text: "
             "nothing here is loaded or followed.</p>"]
    messages: dict[str, sqlite3.Row] = {}
    for name in evidence_names(ctx.plan):
        with export_sql(ctx.conn, ctx.plan[name], KEYED, limited=True) as query:  # its order is total: LIMIT gives the first rows
            cursor = ctx.conn.execute(_limited(query, ROW_LIMIT))
            header = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        for col in ("message_sha256", "message"):
            if col in header:
                referenced.update(str(r[header.index(col)]) for r in rows if r[header.index(col)])
        # only the messages not looked up for an earlier table (each table adds up to ROW_LIMIT)
        messages.update(_message_rows(ctx.conn, referenced.difference(messages)))
        parts.append(f'<h3 id="{esc(anchor("tbl", name))}">{esc(name)}</h3>')
        table_id = f"t-{anchor('e', name)}"
        slot = _SLOT.format(table_id)
        notes[slot] = partial(_rows_note, len(rows), source=ctx.file(name))
        exports[slot] = name
        parts.append(table(table_id, header, rows, total=None, source=ctx.file(name), messages=messages))
    return Later(html="".join(parts) + "</section>", notes=notes, exports=exports)


def _total(ctx: Context, name: str) -> int:
    """An export's rows, as written (counted when it was not exported)."""
    return ctx.counts[name] if name in ctx.counts else _count(ctx.conn, ctx.plan[name].sql)


def fill(ctx: Context, later: Later) -> str:
    """A ``Later``'s HTML with each slot replaced by its note (``ctx.counts`` complete by now)."""
    text = later.html
    for slot, note in later.notes.items():
        if slot in text:
            text = text.replace(slot, esc(note(_total(ctx, later.exports[slot]))), 1)
    return text


MESSAGE_COLUMNS = ("subject", "date_utc", "from_addr", "from_name", "to_addrs", "source_path",
                   "locator", "message_sha256", "source_sha256", "copies", "status", "defects")


def messages_section(ctx: Context, referenced: set[str]) -> str:
    """Messages behind the findings shown, then the first others, each with its anchor."""
    return fill(ctx, messages_later(ctx, referenced))


def _messages_note(shown: int, total: int, source: str = "messages.csv") -> str:
    return (f"{shown} of {total} messages (those behind the findings shown, then the first in file order); "
            f"full data: {source}")


def messages_later(ctx: Context, referenced: set[str]) -> Later:
    """The messages section, its count of messages left to fill."""
    if "messages" not in ctx.plan:
        return Later(html="", notes={}, exports={})
    sql = ctx.plan["messages"].sql.strip().rstrip(";")
    cursor = ctx.conn.cursor()
    cursor.row_factory = sqlite3.Row
    rows = list(cursor.execute(f"""
        SELECT * FROM (SELECT q.*, ROW_NUMBER() OVER () AS rn FROM ({sql}) q)
        WHERE rn <= ? OR message_sha256 IN (SELECT value FROM json_each(?)) ORDER BY rn""",
        (ROW_LIMIT, json.dumps(sorted(referenced)))))
    columns = [c for c in MESSAGE_COLUMNS if rows and c in rows[0].keys()]
    heads = "".join(f'<th scope="col"><button type="button">{esc(c)}</button></th>' for c in columns)
    body = "".join(f'<tr id="{anchor("m", r["message_sha256"])}">'
                   + "".join(_cell(c if c != "message_sha256" else "sha256", r[c], {}) for c in columns)
                   + "</tr>" for r in rows)
    slot = _SLOT.format("t-messages")
    return Later(html=(
        f'<section id="messages"><h2>Messages</h2><p><input type="search" placeholder="Filter rows" '
        f'aria-label="Filter messages" data-filter="t-messages"><span class="count" id="t-messages-count">'
        f'{slot}</span></p><div class="tablebox"><table class="data" id="t-messages"><thead><tr>{heads}'
        f"</tr></thead><tbody>{body}</tbody></table></div></section>"),
        notes={slot: partial(_messages_note, len(rows), source=ctx.file("messages"))}, exports={slot: "messages"})


def custody_section(ctx: Context) -> str:
    rows = list(ctx.conn.execute(
        "SELECT path, format, status, size, sha256 FROM inputs ORDER BY path")) if has_table(ctx.conn, "inputs") else []
    inner = table("t-inputs", ["path", "format", "status", "size", "sha256"], rows,
                  total=len(rows), source=ctx.file("inputs"))
    return (f'<section id="custody"><h2>Chain of custody</h2><p class="note">forensics {esc(ctx.tool_version)}, '
            f"rule set {esc(ctx.rules_version)}. Inputs were opened read-only and hashed before and after the "
            "run; manifest.json lists the run times, versions and the SHA-256 of every output file.</p>"
            f"{inner}</section>")


NAV = (("summary", "Summary"), ("charts", "Charts"), ("senders", "Senders"), ("providers", "Providers"),
       ("tokens", "Tokens"), ("rules", "Rules"), ("evidence", "Evidence"), ("messages", "Messages"), ("custody", "Custody"))


def _asset(name: str) -> str:
    return resources.files("forensics.report").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstSections:
    """The page's sections that need no export's row count, in page order, and the summary."""

    summary: Summary
    sections: list[str]
    later: list[Later] | None = None  # evidence, messages and custody, their counts to fill


def first_sections(ctx: Context, charts: Sequence[Drawn], *, later: bool = False) -> FirstSections:
    """Summary, charts, senders, providers, tokens and rules: they read the case, never
    ``ctx.counts``, so they can be made while other processes still write the exports; with
    ``later``, the other sections too, their row counts left to fill (``render_report``)."""
    s = facts.summary(ctx.conn)
    return FirstSections(summary=s, sections=[
        summary_section(ctx, s), charts_section(charts), senders_section(ctx), providers_section(ctx),
        tokens_section(ctx), rules_section(ctx)], later=_later_sections(ctx) if later else None)


def _later_sections(ctx: Context) -> list[Later]:
    referenced: set[str] = set()
    evidence = evidence_later(ctx, referenced)
    return [evidence, messages_later(ctx, referenced), Later(html=custody_section(ctx), notes={}, exports={})]


def render_report(ctx: Context, charts: Sequence[Drawn], first: FirstSections | None = None) -> str:
    """The whole page as text (deterministic: no clock, stable order). ``first``: the
    sections ``first_sections`` made already."""
    first = first or first_sections(ctx, charts)
    s = first.summary
    later = first.later if first.later is not None else _later_sections(ctx)
    body = "\n".join([*first.sections, *(fill(ctx, part) for part in later)])
    css, js = _asset("report.css"), _asset("report.js")
    values: dict[str, Any] = {
        "csp": content_security_policy(css, js),
        "title": "E-mail tracking report",
        "lede": esc(f"{s.messages} unique messages from {s.inputs} input file{'' if s.inputs == 1 else 's'}. Evidence URLs are shown "
                    "as text; opening this file loads nothing from the network."),
        "nav": "".join(f'<li><a href="#{k}">{esc(v)}</a></li>' for k, v in NAV),
        "body": body, "css": css, "js": js,
        "footer": esc(f"forensics {ctx.tool_version}; rule set {ctx.rules_version}. "
                      "Content-Security-Policy: no remote loads, no links out."),
    }
    return Template(_asset("report.html")).substitute(values)
