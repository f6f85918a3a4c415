"""The command line. The library returns data; only this module prints and picks exit codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from forensics import __version__
from forensics.analyse import Settings
from forensics.engines import ENGINES
from forensics.errors import EvidenceChanged, ForensicsError, ReadError, UnsafeOutput
from forensics.pipeline import ScanOptions, scan
from forensics.report.build import write_report
from forensics.report.manifest import input_summaries
from forensics.report.tables import ALL_FORMATS, Formats
from forensics.store import Store

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNREADABLE = 3
EXIT_EVIDENCE_CHANGED = 4
EXIT_STRICT = 5
EXIT_INTERRUPTED = 130

app = typer.Typer(
    help="Offline forensic analysis of e-mail tracking (spy pixels, click trackers, "
    "identity leaks) in mailbox exports. Never connects to the network; never writes "
    "beside the evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


FORMATS_HELP = ("Files per data set and graph, comma-separated: csv, jsonl (data sets; one at least), graphml, "
                "gexf, json (graphs). report.html, timeline.csv, charts, data_dictionary.md, manifest.json: always. "
                "An earlier report's files not written again are removed.")


def _formats(text: str) -> Formats:
    """The --formats choice, or a one-line usage error (before anything is read or written)."""
    try:
        return Formats.parse(text)
    except ValueError as e:
        raise _fail(f"--formats: {e}", EXIT_USAGE) from e


def _say_replaced(removed: tuple[Path, ...], left: tuple[Path, ...], out: Path, *, quiet: bool) -> None:
    """What became of an earlier report's files this one did not write."""
    def files(paths: tuple[Path, ...]) -> str:
        return f"{len(paths)} file{'' if len(paths) == 1 else 's'}"

    if removed and not quiet:
        typer.echo(f"removed {files(removed)} of an earlier report in {out} that this one does not write")
    if left:  # even when quiet: the folder holds files its manifest does not list
        typer.echo(f"Warning: left {files(left)} of an earlier report that changed since it sealed them; "
                   f"manifest.json does not list them: {', '.join(p.name for p in left)}", err=True)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"forensics {__version__}")
        raise typer.Exit(EXIT_OK)


@app.command("scan")
def scan_command(
    paths: Annotated[list[Path], typer.Argument(help="Mailbox files and folders, in any mix.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Case folder to create or add to.")] = Path("reports/case"),
    workers: Annotated[int, typer.Option("--workers", "-j", min=1, help="Worker processes (default: all cores).")] = os.cpu_count() or 1,
    engine: Annotated[str, typer.Option("--engine", help="Where shards run: local (processes on this machine) or dask (a Dask cluster).")] = "local",
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Dask scheduler address (tcp://host:8786) for --engine dask; a local Dask cluster when omitted.")] = None,
    identity: Annotated[Optional[list[str]], typer.Option("--identity", help="An address of the mailbox owner (repeatable).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 5 when any message had defects or any problem was recorded.")] = False,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Skip shards already finished in this case (default); --no-resume reads everything again.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")] = False,
    formats: Annotated[str, typer.Option("--formats", help=FORMATS_HELP)] = ALL_FORMATS,
) -> None:
    """Read mailboxes as evidence and write the case (SQLite, CSV, manifest) to --out."""
    argv = ["forensics", *sys.argv[1:]]
    if engine not in ENGINES or (scheduler and engine != "dask"):
        raise _fail(f"--engine is one of {', '.join(ENGINES)}; --scheduler needs --engine dask", EXIT_USAGE)
    chosen = _formats(formats)
    options = ScanOptions(out=out, workers=workers, resume=resume, engine=engine, scheduler=scheduler,
                          settings=Settings(identities=tuple(identity or ())))
    try:
        with _progress(quiet or as_json) as hook:
            result = scan(paths, options, progress=hook)
    except KeyboardInterrupt as e:  # typer would exit 130 silently; say how to go on
        typer.echo("Interrupted: finished shards are kept; run the same scan again to resume.", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from e
    except EvidenceChanged as e:
        raise _fail(str(e), EXIT_EVIDENCE_CHANGED) from e
    except (ReadError, UnsafeOutput) as e:
        raise _fail(str(e), EXIT_UNREADABLE) from e
    except ForensicsError as e:
        raise _fail(str(e), EXIT_UNREADABLE) from e
    report = write_report(out, out, argv=argv, scan_started=result.started_utc, scan_finished=result.finished_utc,
                          workers=options.workers, formats=chosen)
    with Store(out) as store:
        summary = _summary(store)
    _print_summary(summary, out, quiet=quiet, as_json=as_json)
    _say_replaced(report.removed, report.left, out, quiet=quiet or as_json)
    if strict and (summary["defective"] or summary["problems"]):
        raise typer.Exit(EXIT_STRICT)


@app.command("report")
def report_command(
    case: Annotated[Path, typer.Argument(help="A case folder written by `forensics scan`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the report (default: the case folder).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    formats: Annotated[str, typer.Option("--formats", help=FORMATS_HELP)] = ALL_FORMATS,
) -> None:
    """Write the report of a case again: CSV, JSON Lines, timeline, charts, report.html, manifest."""
    argv = ["forensics", *sys.argv[1:]]
    target = out or case
    chosen = _formats(formats)
    try:
        result = write_report(case, target, argv=argv, formats=chosen)
    except ForensicsError as e:
        raise _fail(str(e), EXIT_UNREADABLE) from e
    if not quiet:
        typer.echo(f"{len(result.outputs)} files written to {target}; open {target / 'report.html'} first.")
    _say_replaced(result.removed, result.left, target, quiet=quiet)


@app.command("graph")
def graph_command(
    case: Annotated[Path, typer.Argument(help="A case folder written by `forensics scan`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the graph files (default: CASE/graph).")] = None,
    sender: Annotated[str, typer.Option("--sender", help="Only mail from this address or registered domain.")] = "",
    provider: Annotated[str, typer.Option("--provider", help="Only this provider's findings, and the messages carrying them.")] = "",
    since: Annotated[str, typer.Option("--since", help="Only messages dated on or after this (YYYY-MM-DD, YYYY-MM or ISO time; UTC).")] = "",
    until: Annotated[str, typer.Option("--until", help="Only messages dated on or before this (inclusive).")] = "",
    min_count: Annotated[int, typer.Option("--min-count", min=1, help="Drop edges seen in fewer messages.")] = 1,
    level: Annotated[str, typer.Option("--level", help="Detail: provider, host, token or message.")] = "host",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    formats: Annotated[str, typer.Option("--formats", help="Graph files, comma-separated: graphml, gexf, json.")] = "graphml,gexf,json",
) -> None:
    """Write the correlation graph (GraphML, GEXF, node-link JSON) and the data-broker view."""
    from forensics.case import open_case
    from forensics.correlate import LEVELS, GraphOptions, Selection
    from forensics.correlate.export import parse_formats, write_graphs
    from forensics.correlate.sources import utc_bound

    try:
        chosen = parse_formats(formats)
    except ValueError as e:
        raise _fail(f"--formats: {e}", EXIT_USAGE) from e
    try:
        for bound, end in ((since, False), (until, True)):
            if bound:
                utc_bound(bound, end=end)
    except ValueError as e:
        raise _fail(f"--since/--until: {e}", EXIT_USAGE) from e
    if level not in LEVELS:
        raise _fail(f"--level is one of {', '.join(LEVELS)}", EXIT_USAGE)
    options = GraphOptions(selection=Selection(sender=sender, provider=provider, since=since, until=until),
                           level=level, min_count=min_count)
    target = out or case / "graph"
    try:
        with open_case(case) as opened:
            written = write_graphs(opened.conn, target, options, formats=chosen)
    except ForensicsError as e:
        raise _fail(str(e), EXIT_UNREADABLE) from e
    if not quiet:
        typer.echo(f"{len(written)} files written to {target}: " + ", ".join(p.name for p in written))


@app.command("providers")
def providers_command(
    filter_text: Annotated[str, typer.Option("--filter", help="Only providers whose id, name, company or hosts contain TEXT.")] = "",
    category: Annotated[str, typer.Option("--category", help="Only this category (esp, newsletter, sales, support, adtech, email-tools, platform).")] = "",
    include_unverified: Annotated[bool, typer.Option("--include-unverified", help="Also the rules no cited source backs (never used by scans), as written in the rules files.")] = False,
) -> None:
    """List the provider knowledge base: name, category, number of rules, sources."""
    from forensics.providers import provider_summaries
    from forensics.providers.kb import load

    rows = provider_summaries(filter_text, category, include_unverified=include_unverified)
    for row in rows:
        typer.echo(f"{row.name} [{row.id}]  {row.category}  {row.rules} rules  ({row.company})")
        typer.echo(f"    basis: {', '.join(row.basis)}; sources: {' '.join(row.sources)}")
    typer.echo(f"{len(rows)} providers; knowledge base {load(include_unverified).version}")


@app.command("explain")
def explain_command(
    url: Annotated[str, typer.Argument(help="The URL to attribute (never fetched).")],
    headers: Annotated[Optional[Path], typer.Option("--headers", help="An .eml or header block whose headers and sender apply.")] = None,
    include_unverified: Annotated[bool, typer.Option("--include-unverified", help="Also try the rules no cited source backs (scans never use them).")] = False,
) -> None:
    """Say which provider rule matched a URL and why, or why nothing did."""
    from forensics.providers import explain_url, message_from_headers

    message = None
    if headers is not None:
        try:
            with open(headers, "rb") as handle:  # evidence: read-only
                message = message_from_headers(handle.read(), str(headers))
        except OSError as e:
            raise _fail(f"cannot read {headers}: {e.strerror or e}", EXIT_UNREADABLE) from e
    result = explain_url(url, "", message, include_unverified=include_unverified)
    for step in result.steps:
        typer.echo(f"{'MATCH' if step.matched else 'no   '} {step.layer:<11} {step.detail}")
    found = result.attribution
    who = f"{found.provider} ({found.company}, {found.category})" if found.provider else found.category or "nobody"
    typer.echo(f"=> {who}; layer {found.layer}, confidence {found.confidence:.2f}"
               + (f", rule {found.rule_id}" if found.rule_id else "") + f"; knowledge base {result.rules_version}")
    typer.echo(f"   reason: {found.reason}")
    if found.destination:
        typer.echo(f"   destination: {found.destination}")
    if found.tracking_params:
        typer.echo(f"   tracking parameters: {', '.join(found.tracking_params)}")


def _summary(store: Store) -> dict[str, Any]:
    inputs = input_summaries(store)

    def count(sql: str) -> int:
        return int(next(store.query(sql))[0])

    return {
        "inputs": inputs,
        "messages": count("SELECT COUNT(*) FROM messages"),
        "defective": count("SELECT COUNT(*) FROM messages WHERE status = 'defective'"),
        "occurrences": count("SELECT COUNT(*) FROM occurrences"),
        "problems": count("SELECT COUNT(*) FROM problems WHERE severity != 'skipped'"),
        "skipped_files": count("SELECT COUNT(*) FROM inputs WHERE status = 'skipped'"),
    }


def _print_summary(summary: dict[str, Any], out: Path, *, quiet: bool, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    if quiet:
        return
    for item in summary["inputs"]:
        if item["status"] == "skipped":
            typer.echo(f"skipped  {item['path']}: {item['reason']}")
        else:
            typer.echo(
                f"read     {item['path']} [{item['format']}]: {item['messages']} messages, "
                f"{item['defective']} defective, {item['problems']} problems"
            )
    typer.echo(
        f"{summary['messages']} unique messages ({summary['occurrences']} copies), "
        f"{summary['defective']} defective, {summary['problems']} problems, "
        f"{summary['skipped_files']} files skipped. Case: {out}"
    )


class _progress:
    """A rich progress bar on a terminal; nothing when quiet or not a terminal."""

    def __init__(self, silent: bool) -> None:
        self.enabled = not silent and sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.__enter__()
        self._task = self._bar.add_task("scanning", total=None)
        return self._update

    def _update(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def main() -> None:
    """Console entry point: one line on stderr for any unexpected error, never a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("Interrupted; run the same scan again to resume.", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last guard between a bug and the user
        typer.echo(f"Error: internal error: {type(e).__name__}: {e}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
