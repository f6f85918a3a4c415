"""Benchmark: extraction's cost per message, against the parse cost, in the same process.

    python bench/bench_extract.py [MBOX_OR_FOLDER] [--limit N]

Default input: ../shared/corpus/spamassassin-public-corpus/hard-ham-1 (250 real 2002
newsletters, 165 with HTML). A folder is read file by file, an mbox through the mbox
reader (e.g. the 6,046-message ``spamassassin-public-corpus-all.mbox``; ``--limit``
keeps the first N messages). Every message is parsed once (``parse_rfc5322``) and its
first message extracted once (``analyse_extraction``, provider attribution included);
the benchmark prints both costs per message, per HTML message, and their ratio, and for
scale the cost of the later per-message stages that read extraction's URLs (tokens,
leaks: every other entry of ``forensics.stages.ANALYSERS``). Provider rules are loaded
before timing starts (a one-off cost per worker).

Target: extraction must not dominate the scan — the ratio extraction / parse is printed
so a regression shows as a number, not a feeling. Times are CPU seconds of this process
(``time.process_time``): on a shared machine wall clock measures the other people's load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

from forensics.analyse import MessageContext, Settings
from forensics.extract.stage import analyse_extraction
from forensics.ingest import mbox
from forensics.parse import parse_rfc5322
from forensics.providers import attribute_url
from forensics.records import Locator, RawMessage
from forensics.stages import ANALYSERS

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared/corpus/spamassassin-public-corpus/hard-ham-1"


def raw_messages(source: Path, limit: int) -> Iterator[RawMessage]:
    if source.is_dir():
        for path in sorted(source.iterdir())[:limit]:
            yield RawMessage(data=path.read_bytes(), format="eml",
                             locator=Locator(source_path=str(path), source_sha256="0" * 64, kind="file"))
        return
    count = 0
    for shard in mbox.plan(source, "0" * 64, source.stat().st_size):
        for raw in mbox.read(shard):
            yield raw
            count += 1
            if count >= limit:
                return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--limit", type=int, default=2000)
    args = parser.parse_args()
    if not args.source.exists():
        print(f"input not found: {args.source}")
        return 2
    attribute_url("https://warm.example/", "warm.example")  # load the provider rules before timing
    raws = list(raw_messages(args.source, args.limit))
    parse_s = extract_s = later_s = 0.0
    later = [a for a in ANALYSERS if a is not analyse_extraction]
    messages = html_messages = resources = links = 0
    for raw in raws:
        started = time.process_time()
        parsed = parse_rfc5322(raw)
        parse_s += time.process_time() - started
        message = parsed[0]
        started = time.process_time()
        rows = analyse_extraction(message, Settings(), context := MessageContext())
        extract_s += time.process_time() - started
        started = time.process_time()
        for analyser in later:
            analyser(message, Settings(), context)
        later_s += time.process_time() - started
        messages += 1
        html_messages += bool(message.html)
        resources += sum(u.kind == "resource" for u in context.urls)
        links += sum(u.kind == "link" for u in context.urls)
        del rows
    print(f"input: {args.source}")
    print(f"{messages} messages ({html_messages} with HTML), {resources} remote resources, {links} links")
    print(f"parse:      {parse_s / messages * 1e3:8.3f} ms CPU per message")
    print(f"extraction: {extract_s / messages * 1e3:8.3f} ms CPU per message, "
          f"{extract_s / max(html_messages, 1) * 1e3:.3f} ms per HTML message, "
          f"{extract_s / max(resources + links, 1) * 1e6:.1f} us per URL")
    print(f"later stages ({', '.join(a.__name__ for a in later)}): {later_s / messages * 1e3:8.3f} ms CPU per message")
    print(f"ratio extraction / parse: {extract_s / parse_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
