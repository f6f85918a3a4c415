"""Maintenance of the provider knowledge base: turn what was read in public sources into `evidence`
items of forensics/providers/rules/*.toml, then recompute `unverified` and `basis` the way the
tests define them (tests/test_providers_evidence.py).

The reading notes are kept beside this script, one line per provider and source file:
  ghostery.tsv  provider id, TrackerDB commit, pattern file name, organization, quoted lines (;)
  ddg.tsv       provider id, Tracker Radar entity name (entities/<name>.json), quoted domains (;)
Email-Intelligence header checks and documentation quotes are tables in this file.

Run: python tools/kb_cite/cite.py && python tools/kb_cite/cite.py --tidy   (needs tomlkit, a
maintainer-only dependency: the files stay readable and diffable by hand), then the provider tests.
Nothing here is fetched: every line was read by a person (or agent) in the cited file at that commit."""
from __future__ import annotations

import glob
import re
import sys
from pathlib import Path

import tomlkit

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from forensics.providers import Attributor
from forensics.providers.kb import CORPUS_SOURCES, DOC_PREFIX, list_basis, parse_files
from forensics.providers.matcher import split_url

RULES = ROOT / "forensics/providers/rules"
EI = "email-intelligence-0a7071d"
# provider -> (header field, value to add, the check in content.js verbatim, header example)
EI_ADD = {
    "bronto": ("dkim", "bronto.com", "d=bronto.com;", {"DKIM-Signature": "v=1; a=rsa-sha256; d=bronto.com; s=b1; h=from; bh=x; b=y"}),
    "eloqua": ("names", "X-elqPod", "^X-elqPod:", {"X-elqPod": "0x3f1ab2c4"}),
    "smartfocus": ("names", "X-EMV-MemberId", "^X-EMV-MemberId:", {"X-EMV-MemberId": "123456789"}),
    "emma": ("dkim", "e2ma.net", r"d=e2ma\.net;", {"DKIM-Signature": "v=1; a=rsa-sha256; d=e2ma.net; s=e2ma; h=from; bh=x; b=y"}),
    "icontact": ("names", "X-ICPINFO", "^X-ICPINFO:", {"X-ICPINFO": "a1b2c3"}),
    "listrak": ("received", "listrak.com", r"^Received: from [\w-]+\.listrak\.com", {"Received": "from mta12.listrak.com (mta12.listrak.com [192.0.2.10]) by mx.example.net with ESMTP id x1; Mon, 1 Jan 2024 00:00:00 +0000"}),
    "locaweb": ("names", "X-Locaweb-Id", "^x-locaweb-id:", {"X-Locaweb-Id": "abc123"}),
    "marketo": ("names", "X-MarketoID", "^X-MarketoID:", {"X-MarketoID": "123-ABC-456:1:2:3"}),
    "responsys": ("names", "X-rext", "^X-rext:", {"X-rext": "5.interact2.abc"}),
    "sailthru": ("x_mailer", r"^sailthru\.com$", "^X-Mailer: sailthru.com$", {"X-Mailer": "sailthru.com"}),
    "smtp-com": ("names", "X-SMTPCOM-Tracking-Number", "^X-SMTPCOM-Tracking-Number:", {"X-SMTPCOM-Tracking-Number": "a1b2c3"}),
    "campaign-monitor": ("values", {"name": "X-Complaints-To", "pattern": r"^abuse@cmail\d{1,2}\.com"},
                         r"^X-Complaints-To: abuse@cmail\d{1,2}\.com", {"X-Complaints-To": "abuse@cmail19.com"}),
}
COMPANY_WORDS = {"amazon_associates": "amazon", "bytedance_inc": "bytedance", "branch_metrics_inc": "branch metrics",
                 "snap_technologies": "snap", "index_exchange": "index exchange", "content_square": "contentsquare"}


def ghostery_records() -> list[tuple[str, str, str, str, list[str]]]:
    rows = []
    for line in (HERE / "ghostery.tsv").read_text().splitlines():
        if line.strip():
            pid, commit, name, org, patterns = line.split("\t")
            rows.append((pid, commit, name, org, patterns.split(";")))
    return rows


def pattern_domain(line: str) -> str:
    if line.startswith("||"):
        return re.split(r"[\^/$]", line[2:])[0]
    if line.startswith("website_url:"):
        return split_url(line.split(":", 1)[1].strip()).host.removeprefix("www.")
    return line


def load_docs() -> dict[str, tomlkit.TOMLDocument]:
    return {Path(f).name: tomlkit.parse(Path(f).read_text()) for f in sorted(glob.glob(str(RULES / "*.toml")))}


def providers_by_id(docs: dict[str, tomlkit.TOMLDocument]) -> dict[str, tomlkit.items.Table]:
    return {str(p["id"]): p for name, d in docs.items() if name != "_meta.toml" for p in d.get("provider", [])}


def add_meta_sources(meta: tomlkit.TOMLDocument, commits: set[str]) -> None:
    sources = meta["sources"]
    for commit in sorted(commits):
        ref = f"ghostery-{commit[:7]}"
        if ref in sources:
            continue
        table = tomlkit.table()
        table["url"] = f"https://github.com/ghostery/trackerdb/tree/{commit}/db/patterns"
        table["title"] = f"Ghostery TrackerDB tracker pattern files (db/patterns/*.eno) at commit {commit[:7]} (cited, not bundled)"
        table["licence"] = "CC-BY-NC-SA-4.0"
        sources[ref] = table
    if EI not in sources:
        table = tomlkit.table()
        table["url"] = "https://github.com/nquinlan/Email-Intelligence/blob/0a7071dd60a09c3a5a7b2e1e9e4e8ae2ac49af59/content.js"
        table["title"] = "Email-Intelligence content.js at commit 0a7071d: header checks naming the sending service"
        table["licence"] = "MIT"
        sources[EI] = table


def append_source(p: tomlkit.items.Table, ref: str) -> None:
    if ref not in [str(s) for s in p["sources"]]:
        p["sources"].append(ref)


def evidence_array(p: tomlkit.items.Table) -> tomlkit.items.Array:
    if "evidence" not in p:
        arr = tomlkit.array()
        arr.multiline(True)
        p["evidence"] = arr
    return p["evidence"]


def add_evidence(p: tomlkit.items.Table, item: dict[str, str]) -> None:
    arr = evidence_array(p)
    if any(dict(e) == item for e in arr):
        return
    inline = tomlkit.inline_table()
    inline.update(item)
    arr.append(inline)


def host_rules(p: tomlkit.items.Table) -> list[str]:
    return [str(h["host"] if isinstance(h, dict) else h) for h in p.get("hosts", [])]


def apply_ghostery(docs: dict[str, tomlkit.TOMLDocument]) -> set[str]:
    by_id = providers_by_id(docs)
    commits: set[str] = set()
    for pid, commit, name, org, patterns in ghostery_records():
        p = by_id[pid]
        ref = f"ghostery-{commit[:7]}"
        unverified = {str(u) for u in p.get("unverified", [])}
        used = False
        for line in patterns:
            domain = pattern_domain(line)
            for host in host_rules(p):
                if "#" in host or not (host == domain or host.endswith("." + domain)):
                    continue
                item = {"source": ref, "file": f"db/patterns/{name}.eno", "pattern": line, "example": f"https://{host}/"}
                if f"host/{host}" in unverified or item in [dict(e) for e in p.get("evidence", [])]:
                    add_evidence(p, item)
                    used = True
            if line.startswith("||") and "/" in line:
                used |= back_url_rules(p, line, ref, name)
        if used:
            commits.add(commit)
            append_source(p, ref)
            company_from_org(p, org, ref, name)
    return commits


_FULL: list[Attributor] = []


def full_attributor() -> Attributor:
    if not _FULL:
        from forensics.providers.kb import load
        _FULL.append(Attributor(load(include_unverified=True)))
    return _FULL[0]


def abp_search(rule: str, url: str) -> bool:
    body = rule[2:].split("$", 1)[0]
    target = url.split("://", 1)[-1]
    regex = "".join(".*" if c == "*" else "(?:[/?:=&]|$)" if c == "^" else re.escape(c) for c in body)
    return re.match(rf"(?:[^/]*\.)?{regex}", target) is not None


def back_url_rules(p: tomlkit.items.Table, line: str, ref: str, name: str) -> bool:
    """An Adblock filter with a path (||mailtrack.io/trace) backs the provider's URL rule on that
    host when one of the provider's own examples is an instance of both."""
    unverified = {str(u) for u in p.get("unverified", [])}
    used = False
    for example in [str(x) for x in p.get("examples", [])]:
        if not abp_search(line, example):
            continue
        rule = full_attributor().attribute_url(example, "", header=None).rule_id.removeprefix(f"{p['id']}/")
        item = {"source": ref, "file": f"db/patterns/{name}.eno", "pattern": line, "example": example}
        if rule.startswith("url/") and (rule in unverified or item in [dict(e) for e in p.get("evidence", [])]):
            add_evidence(p, item)
            used = True
    return used


def company_from_org(p: tomlkit.items.Table, org: str, ref: str, name: str) -> None:
    company = str(p["company"]).lower()
    basis = str(p.get("company_basis", "recalled-unverified"))
    if basis not in ("recalled-unverified", "list:Ghostery-TrackerDB") or "(" in company or not org:
        return
    words = COMPANY_WORDS.get(org, org.replace("_", " "))
    if re.match(rf"{re.escape(words)}\b", company.replace("-", " ").replace(".", " ")):
        p["company_basis"] = "list:Ghostery-TrackerDB"
        add_evidence(p, {"source": ref, "file": f"db/patterns/{name}.eno", "pattern": f"organization: {org}", "rule": "company"})


def apply_ei(docs: dict[str, tomlkit.TOMLDocument]) -> None:
    by_id = providers_by_id(docs)
    for pid, (field, value, check, example) in EI_ADD.items():
        p = by_id[pid]
        if "headers" not in p:
            p["headers"] = tomlkit.inline_table()
        headers = p["headers"]
        if field not in headers:
            headers[field] = tomlkit.array()
        items = headers[field]
        if value not in list(items):
            items.append(value)
        index = list(items).index(value)
        add_evidence(p, {"source": EI, "pattern": check, "rule": f"header/{field}/{index}"})
        append_source(p, EI)
        if "header_examples" not in p:
            p["header_examples"] = tomlkit.array()
        ex = tomlkit.inline_table()
        ex.update(example)
        if all(dict(e) != example for e in p["header_examples"]):
            p["header_examples"].append(ex)


def write(docs: dict[str, tomlkit.TOMLDocument]) -> None:
    for name, doc in docs.items():
        (RULES / name).write_text(tomlkit.dumps(doc))


def recompute(docs: dict[str, tomlkit.TOMLDocument]) -> None:
    """unverified = rules no evidence backs (the tests' definition); basis from the evidence."""
    from test_providers_evidence import backed_rules  # the tests' definition, on the edited files

    texts = {n: tomlkit.dumps(d).encode() for n, d in docs.items()}
    kb = parse_files(texts)
    attributor = Attributor(kb)
    by_id = providers_by_id(docs)
    for prov in kb.providers:
        backed = backed_rules(prov, attributor)
        rules = {r.rule_id.removeprefix(f"{prov.id}/") for r in (*prov.url_rules, *prov.headers)}
        unverified = sorted(rules - backed)
        sources = {e.source for e in prov.evidence}
        basis = {list_basis(s) for s in sources if list_basis(s)}
        basis |= {"corpus"} if sources & set(CORPUS_SOURCES) else set()
        basis |= {"documentation"} if any(s.startswith(DOC_PREFIX) for s in sources) else set()
        basis |= {"recalled-unverified"} if unverified else set()
        table = by_id[prov.id]
        if unverified:
            arr = tomlkit.array(); arr.extend(unverified)
            table["unverified"] = arr
        elif "unverified" in table:
            del table["unverified"]
        rank = {"corpus": 1, "documentation": 2, "recalled-unverified": 3}
        arr = tomlkit.array(); arr.extend(sorted(basis, key=lambda b: (rank.get(b, 0), b)))
        table["basis"] = arr


DOCS = {
    "docs-eloqua-tracking-parameters": ("https://docs.oracle.com/en/cloud/saas/marketing/eloqua-user/Help/EloquaAsynchronousTrackingScripts/EloquaTrackingParameters.htm",
                                        "Oracle Eloqua tracking parameters (elqTrackId appended to every tracked link)"),
    "docs-eloqua-developer-glossary": ("https://docs.oracle.com/en/cloud/saas/marketing/eloqua-develop/Glossary/OracleEloquaDeveloperGlossary.htm",
                                       "Oracle Eloqua Developer Glossary (CampaignId from the elqCampaignId query parameter)"),
    "docs-adobe-analytics-hardcoded": ("https://experienceleague.adobe.com/docs/analytics/implementation/other/hardcoded.html",
                                       "Adobe Analytics: implementing with hardcoded image requests (/b/ss/<report suite>/1/...)"),
}
DOCS["docs-twilio-sendgrid-click-tracking"] = (
    "https://www.twilio.com/docs/sendgrid/api-reference/settings-tracking/update-click-tracking-settings",
    "Twilio docs, SendGrid API: Update Click Tracking Settings (publisher Twilio; base URL api.sendgrid.com)")
COMPANY_DOCS = {"sendgrid": ("docs-twilio-sendgrid-click-tracking", "publisher: Organization name: Twilio")}
DOC_EVIDENCE = [
    ("sendgrid", "docs-twilio-sendgrid-click-tracking", "Base url: https://api.sendgrid.com (for global users and subusers)", "host/sendgrid.com"),
    ("adobe-analytics", "docs-adobe-analytics-hardcoded", "/b/ss/ is included in all image requests.", "shape/0"),
    ("eloqua", "docs-eloqua-tracking-parameters", "Oracle Eloqua automatically appends the elqTrackId parameter to the link", "param/elqtrackid"),
    ("eloqua", "docs-eloqua-developer-glossary", "the ID of the campaign retrieved using the elqCampaignId query parameter", "param/elqcampaignid"),
]


# The `name:` line of a TrackerDB pattern file that names the company (its legal form, such as
# "Inc." or "AG", is ours, as for MailTrackerBlocker's vendor names).
GHOSTERY_NAMES = {"braze": "name: Braze", "bluecore": "name: Bluecore", "pendo": "name: pendo",
                  "appcues": "name: Appcues", "typeform": "name: Typeform", "bitly": "name: Bitly",
                  "impact": "name: Impact", "liveramp": "name: LiveRamp", "awin": "name: AWIN"}


def apply_ghostery_names(docs: dict[str, tomlkit.TOMLDocument]) -> None:
    by_id = providers_by_id(docs)
    for pid, line in GHOSTERY_NAMES.items():
        p = by_id[pid]
        _, commit, name, _, _ = next(r for r in ghostery_records() if r[0] == pid)
        ref = f"ghostery-{commit[:7]}"
        add_evidence(p, {"source": ref, "file": f"db/patterns/{name}.eno", "pattern": line, "rule": "company"})
        p["company_basis"] = "list:Ghostery-TrackerDB"


def apply_mtb_names(docs: dict[str, tomlkit.TOMLDocument]) -> None:
    """A company field that only repeats MailTrackerBlocker's vendor name is what that list says."""
    for p in providers_by_id(docs).values():
        if re.search(r"\((?:as named|[^)]*named) by MailTrackerBlocker", str(p["company"])) and any(
                str(e.get("source", "")).startswith("mtb-") for e in p.get("evidence", [])):
            p["company_basis"] = "list:MailTrackerBlocker"


def apply_docs(docs: dict[str, tomlkit.TOMLDocument]) -> None:
    sources = docs["_meta.toml"]["sources"]
    for ref, (url, title) in DOCS.items():
        if ref not in sources:
            table = tomlkit.table()
            table["url"] = url
            table["title"] = title
            sources[ref] = table
    by_id = providers_by_id(docs)
    for pid, (ref, quote) in COMPANY_DOCS.items():
        add_evidence(by_id[pid], {"source": ref, "pattern": quote, "rule": "company"})
        append_source(by_id[pid], ref)
        by_id[pid]["company_basis"] = "documentation"
    for pid, ref, quote, rule in DOC_EVIDENCE:
        add_evidence(by_id[pid], {"source": ref, "pattern": quote, "rule": rule})
        append_source(by_id[pid], ref)


DDG_COMMIT = "05f17e6f8257056f69d7b4ad23e05c8fb55d5351"
DDG = f"ddg-tracker-radar-{DDG_COMMIT[:7]}"


def apply_ddg(docs: dict[str, tomlkit.TOMLDocument]) -> None:
    """DuckDuckGo Tracker Radar entity files: the domains an entity owns, and its legal name."""
    sources = docs["_meta.toml"]["sources"]
    if DDG not in sources:
        table = tomlkit.table()
        table["url"] = f"https://github.com/duckduckgo/tracker-radar/tree/{DDG_COMMIT}/entities"
        table["title"] = f"DuckDuckGo Tracker Radar entity files (entities/*.json: owner name and domains) at commit {DDG_COMMIT[:7]} (cited, not bundled)"
        table["licence"] = "CC-BY-NC-SA-4.0"
        sources[DDG] = table
    by_id = providers_by_id(docs)
    for line in (HERE / "ddg.tsv").read_text().splitlines():
        pid, entity, domains = line.split("\t")
        p = by_id[pid]
        unverified = {str(u) for u in p.get("unverified", [])}
        file = f"entities/{entity}.json"
        used = False
        for domain in domains.split(";"):
            for host in host_rules(p):
                if "#" in host or not (host == domain or host.endswith("." + domain)):
                    continue
                item = {"source": DDG, "file": file, "pattern": domain, "example": f"https://{host}/"}
                if f"host/{host}" in unverified or item in [dict(e) for e in p.get("evidence", [])]:
                    add_evidence(p, item)
                    used = True
        if not used:
            continue
        append_source(p, DDG)
        basis = str(p.get("company_basis", "recalled-unverified"))
        if basis in ("recalled-unverified", "list:DuckDuckGo-TrackerRadar") and str(p["company"]) == entity:
            p["company_basis"] = "list:DuckDuckGo-TrackerRadar"
            add_evidence(p, {"source": DDG, "file": file, "pattern": f'"name": "{entity}"', "rule": "company"})


def names_a_path(pattern: str) -> bool:
    """The list pattern says something about the path, not only the host."""
    body = pattern.removeprefix("||").split("$", 1)[0]
    slash = body.find("/")
    return slash >= 0 and re.search(r"[A-Za-z0-9_.-]", body[slash + 1:]) is not None


def apply_list_examples(docs: dict[str, tomlkit.TOMLDocument]) -> None:
    """A list pattern already cited for a provider also backs the provider's URL or shape rule when
    one of the provider's own examples is an instance of that pattern (read the way the list
    reads it) and that rule decides the example."""
    from test_providers_evidence import pattern_matches  # the tests' reading of each list

    from forensics.providers.kb import Evidence
    for p in providers_by_id(docs).values():
        unverified = {str(u) for u in p.get("unverified", [])}
        if not unverified:
            continue
        for e in [dict(e) for e in p.get("evidence", [])]:
            if not e.get("example") or not list_basis(str(e["source"])) or not names_a_path(str(e["pattern"])):
                continue  # a domain listing backs host rules only, never a path rule
            for example in [str(x) for x in p.get("examples", [])]:
                candidate = Evidence(source=str(e["source"]), pattern=str(e["pattern"]), example=example)
                if not pattern_matches(candidate):
                    continue
                rule = full_attributor().attribute_url(example, "", header=None).rule_id.removeprefix(f"{p['id']}/")
                if rule in unverified and rule.split("/")[0] in ("url", "shape"):
                    item = {k: str(v) for k, v in e.items() if k in ("source", "file")} | {"pattern": str(e["pattern"]), "example": example}
                    add_evidence(p, {k: item[k] for k in ("source", "file", "pattern", "example") if k in item})
                    unverified.discard(rule)


def main() -> None:
    docs = load_docs()
    apply_list_examples(docs)
    apply_ddg(docs)
    apply_docs(docs)
    apply_mtb_names(docs)
    commits = apply_ghostery(docs)
    apply_ghostery_names(docs)
    add_meta_sources(docs["_meta.toml"], commits)
    apply_ei(docs)
    recompute(docs)
    write(docs)


if __name__ == "__main__":
    main()


def tidy(text: str) -> str:
    """House style: `{ key = v }` inline tables, two-space indents, one evidence item per line."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"^    \{", "  {", line)
        line = re.sub(r"(^\s*|\[|, )\{(?=[A-Za-z])", r"\1{ ", line)
        line = re.sub(r'(?<=")\}(?=,|\]|$)', " }", line)
        m = re.match(r"^(evidence|header_examples) = \[(\{.*\})\]$", line)
        if m and "}, {" in m.group(2):
            items = m.group(2).split("}, {")
            items = [("" if i == 0 else "{ ") + it.strip() + ("" if i == len(items) - 1 else " }") for i, it in enumerate(items)]
            out.append(f"{m.group(1)} = [")
            out.extend(f"  {it.replace('{  ', '{ ')}," for it in items)
            out.append("]")
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def tidy_all() -> None:
    for f in sorted(glob.glob(str(RULES / "*.toml"))):
        path = Path(f)
        path.write_text(tidy(path.read_text()))


if __name__ == "__main__" and "--tidy" in sys.argv:
    tidy_all()
