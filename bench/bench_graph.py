"""Benchmark: the correlation graph and metrics of a case with about a million findings.

A synthetic case is written straight into SQLite (no mail is parsed): messages from many
senders to a few recipients, each with beacons, a non-beacon image and links attributed
to providers and hosts, identity leaks and URL tokens with their roles. Then, each in a
fresh process so that its peak memory is its own, the benchmark times

- the metrics finalizer (``compute_metrics``) over the whole case,
- the graph build at the chosen level (``build_graph``), and its export (GraphML, GEXF,
  node-link JSON), plus the data-broker view,

and prints wall and CPU time and peak RSS of each (``ru_maxrss``; the baseline is the
same process after its imports, before any work). The graph step reports the build
alone (``build_*``) and with the export (the XML writers hold the whole document).
On a shared machine, compare CPU seconds: wall time depends on the load.

    python bench/bench_graph.py --size 1000000 --level host --dir /tmp/bench-graph

The findings are aggregated in SQL: the peak memory follows the size of the graph
(senders, hosts, providers, recipients...), not the number of findings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

FINDINGS_PER_MESSAGE = 5  # 2 beacons, 1 ordinary image, 2 links
SENDERS = 5000
SENDER_DOMAINS = 2000
PROVIDERS = 60
HOSTS_PER_PROVIDER = 10
UNATTRIBUTED_HOSTS = 400
RECIPIENTS = 50
BATCH = 50_000


def _sha(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _batched(rows: Iterator[tuple[object, ...]], size: int = BATCH) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(conn: object, table: str, columns: tuple[str, ...], rows: Iterator[tuple[object, ...]]) -> None:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for batch in _batched(rows):
        conn.executemany(sql, batch)  # type: ignore[attr-defined]


class Synthetic:
    """Deterministic synthetic evidence for ``messages`` messages."""

    def __init__(self, messages: int, seed: int = 1) -> None:
        self.n = messages
        self.rng = random.Random(seed)
        self.providers = [f"Provider {i:02d}" for i in range(PROVIDERS)]
        self.hosts = [(f"t{h}.esp{p:02d}.com", f"esp{p:02d}.com", self.providers[p])
                      for p in range(PROVIDERS) for h in range(HOSTS_PER_PROVIDER)]
        self.hosts += [(f"px.ads{i:03d}.net", f"ads{i:03d}.net", "") for i in range(UNATTRIBUTED_HOSTS)]
        self.senders = [f"news{i}@brand{i % SENDER_DOMAINS}.example" for i in range(SENDERS)]
        self.recipients = [f"person{i}@mail.example" for i in range(RECIPIENTS)]

    def message(self, i: int) -> tuple[str, str, str, str]:
        """(hash, sender, recipient, date) of message i, derived from i alone."""
        sender = self.senders[(i * 7919) % SENDERS]
        recipient = self.recipients[i % RECIPIENTS]
        day = i % 730
        date = f"{2023 + day // 365}-{(day % 365) // 31 + 1:02d}-{day % 28 + 1:02d}T10:00:00Z"
        return _sha("m", i), sender, recipient, date

    def host_of(self, i: int, slot: int) -> tuple[str, str, str]:
        return self.hosts[(i * 31 + slot * 977) % len(self.hosts)]


def write_case(folder: Path, findings: int) -> dict[str, int]:
    from forensics.store import Store

    syn = Synthetic(max(1, findings // FINDINGS_PER_MESSAGE))
    with Store(folder) as store, store.conn:
        conn = store.conn
        _insert(conn, "messages", ("message_sha256", "from_addr", "to_addrs", "delivered_to", "date_utc", "subject"),
                ((m, s, r, "", d, f"Offer {i}") for i in range(syn.n) for m, s, r, d in [syn.message(i)]))
        _insert(conn, "message_recipients", ("message_sha256", "sender", "recipient", "identities", "body_shape"),
                ((m, s, r, r, "") for i in range(syn.n) for m, s, r, _ in [syn.message(i)]))
        _insert(conn, "resources", ("finding_id", "message_sha256", "host", "registered_domain", "provider", "is_beacon"),
                ((f"{m[:16]}-r{k:05d}", m, *syn.host_of(i, k), int(k < 2))
                 for i in range(syn.n) for m in [syn.message(i)[0]] for k in range(3)))
        _insert(conn, "links", ("finding_id", "message_sha256", "host", "registered_domain", "provider"),
                ((f"{m[:16]}-l{k:05d}", m, *syn.host_of(i, 3 + k))
                 for i in range(syn.n) for m in [syn.message(i)[0]] for k in range(2)))
        _insert(conn, "leaks", ("message_sha256", "finding_id", "location", "identity", "chain", "matched",
                                "host", "registered_domain", "provider"),
                ((m, f"{m[:16]}-r00000", "query[e]", r, "md5", hashlib.md5(r.encode()).hexdigest(), *syn.host_of(i, 0))
                 for i in range(0, syn.n, 4) for m, _, r, _ in [syn.message(i)]))
        _insert(conn, "url_tokens", ("message_sha256", "finding_id", "location", "chain", "value", "host",
                                     "registered_domain", "provider", "sender", "recipient"),
                ((m, f"{m[:16]}-l{k:05d}", "query[u]", "", v, *syn.host_of(i, 3 + k), s, r)
                 for i in range(syn.n) for m, s, r, _ in [syn.message(i)]
                 for k, v in enumerate((_sha("u", s, r)[:24], _sha("c", i)[:12]))))
        conn.execute("""INSERT INTO tokens (value, role, messages, recipients, senders)
                        SELECT value, CASE WHEN length(value) = 24 THEN 'recipient-identifier'
                               ELSE 'message-identifier' END,
                               COUNT(DISTINCT message_sha256), COUNT(DISTINCT recipient), COUNT(DISTINCT sender)
                        FROM url_tokens GROUP BY value""")
    return {"messages": syn.n, "findings": syn.n * FINDINGS_PER_MESSAGE}


def measure(step: str, case: Path, level: str) -> dict[str, object]:
    """Run one step in this (fresh) process; report its time and peak RSS."""
    import sqlite3

    from forensics.analyse import Settings
    from forensics.correlate import GraphOptions, build_graph
    from forensics.correlate.export import write_graph, write_graphs
    from forensics.correlate.metrics import compute_metrics
    from forensics.store import Store

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    result: dict[str, object] = {}
    if step == "metrics":
        with Store(case) as store:
            compute_metrics(store, Settings())
    elif step == "graph":
        conn = sqlite3.connect(f"{(case / 'case.sqlite').as_uri()}?mode=ro", uri=True)
        graph = build_graph(conn, GraphOptions(level=level))
        result["build_s"] = round(time.perf_counter() - started, 2)
        result["build_cpu_s"] = round(time.process_time() - cpu, 2)
        result["build_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        result["nodes"], result["edges"] = graph.number_of_nodes(), graph.number_of_edges()
        write_graph(graph, case / "bench-out", f"graph-{level}")
    elif step == "default-export":  # what every scan writes: host level + broker view
        conn = sqlite3.connect(f"{(case / 'case.sqlite').as_uri()}?mode=ro", uri=True)
        write_graphs(conn, case / "bench-out")
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["cpu_s"] = round(time.process_time() - cpu, 2)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["baseline_rss_mib"] = round(baseline / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="findings (beacons, images, links)")
    parser.add_argument("--level", default="host", choices=("provider", "host", "token", "message"))
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-graph"), help="case folder (replaced)")
    parser.add_argument("--reuse", action="store_true", help="time the case already in --dir (no new case)")
    parser.add_argument("--step", help=argparse.SUPPRESS)  # internal: run one measured step
    args = parser.parse_args()
    if args.step:
        print(json.dumps(measure(args.step, args.dir, args.level)))
        return
    if not args.reuse:
        for path in args.dir.glob("case.sqlite*"):
            path.unlink()
        started = time.perf_counter()
        sizes = write_case(args.dir, args.size)
        print(f"synthetic case: {sizes['messages']} messages, {sizes['findings']} findings "
              f"in {time.perf_counter() - started:.1f}s -> {args.dir}")
    for step in ("metrics", "graph", "default-export"):
        out = subprocess.run([sys.executable, __file__, "--step", step, "--dir", str(args.dir),
                              "--level", args.level], capture_output=True, text=True, check=True)
        print(f"{step:>15}: {out.stdout.strip()}")


if __name__ == "__main__":
    main()
