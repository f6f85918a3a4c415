"""A long fuzzing run: coverage-guided with atheris (libFuzzer) when it is installed, else
hypothesis with a large budget. Reports inputs tried, crashes and hangs per target.

    pip install atheris                       # optional; without it the hypothesis engine runs
    python tools/fuzz_long.py --seconds 600   # every target, the time split between them
    python tools/fuzz_long.py --target ingest --seconds 3600 --artifacts /tmp/fuzz

Targets (atheris):
- ``ingest``: the input is an evidence file: hashed, sniffed, planned, read, parsed and
  analysed as the scan does (seeds: the sample data and small corpus files);
- ``parse``: the input is one RFC 5322 message: parsed and analysed by every stage;
- ``html``: the input is an HTML body: extraction, tokens and leaks.

A crash is an exception out of a step that must not raise, or a problem row whose kind
says something crashed; a hang is an input still running after ``--hang-seconds``
(interrupted by a timer, so the run goes on). Each one is saved under ``--artifacts``.
The hypothesis engine runs the properties of ``tests/test_fuzz.py`` over and over with
fresh random examples until the time is spent. Exit code 1 when anything crashed or hung.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("ingest", "parse", "html")
CRASH_KINDS = {"plan-crash", "reader-crash", "parse-crash", "analysis-crash", "worker-crash"}
SEED_BYTES = 256 * 1024  # corpus files up to this size seed the ingest target


class Hang(BaseException):
    """An input ran past the hang limit (BaseException: nothing under test may swallow it)."""


# ---------------------------------------------------------------- one input, per target


def run_ingest(data: bytes, workdir: Path) -> None:
    from forensics.analyse import Settings
    from forensics.engines.shard import process_shard
    from forensics.errors import ReadError
    from forensics.ingest import plan_input

    path = workdir / "input"
    path.write_bytes(data)
    try:
        planned = plan_input(path)
    except ReadError:
        return
    for shard in planned.shards:
        findings, _row = process_shard(shard, Settings())
        crashed = [p for p in findings.rows.get("problems", []) if p.kind in CRASH_KINDS]  # type: ignore[attr-defined]
        if crashed:
            raise AssertionError(f"{crashed[0].kind}: {crashed[0].reason}")  # type: ignore[attr-defined]


def run_parse(data: bytes, workdir: Path) -> None:
    from forensics.analyse import Settings, analyse
    from forensics.parse import parse_rfc5322
    from forensics.records import Locator, RawMessage

    locator = Locator(source_path="fuzz.eml", source_sha256="0" * 64, kind="file")
    messages = parse_rfc5322(RawMessage(data=data, locator=locator, format="eml"))
    if messages[0].message_sha256 != hashlib.sha256(data).hexdigest():
        raise AssertionError("the first record is not hashed on the input bytes")
    for message in messages:
        analyse(message, Settings(identities=("r@home.example",)))


def run_html(data: bytes, workdir: Path) -> None:
    from forensics.analyse import Settings, analyse
    from forensics.records import Address, Locator, Message

    html = data.decode("utf-8", "replace")
    message = Message(message_sha256="e" * 64, hash_basis="raw-rfc5322", format="eml",
                      locator=Locator(source_path="fuzz.eml", source_sha256="0" * 64, kind="file"),
                      from_=(Address(name="", address="s@shop.example"),),
                      to=(Address(name="", address="r@home.example"),), html=(html,), text=(html,))
    analyse(message, Settings(identities=("r@home.example",)))


RUNNERS = {"ingest": run_ingest, "parse": run_parse, "html": run_html}


class Stats:
    """Counters of one target's run, written to a JSON file as they change (libFuzzer may end
    the process without running exit handlers)."""

    def __init__(self, target: str, path: Path, artifacts: Path) -> None:
        self.target, self.path, self.artifacts = target, path, artifacts
        self.figures: dict[str, Any] = {"target": target, "engine": "atheris", "inputs": 0, "crashes": 0,
                                        "hangs": 0, "examples": [], "seconds": 0.0}
        self.started = self.saved = time.monotonic()

    def record(self, kind: str, data: bytes, detail: str) -> None:
        self.figures[kind + "es" if kind == "crash" else kind + "s"] += 1
        name = f"{self.target}-{kind}-{hashlib.sha256(data).hexdigest()[:16]}"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        (self.artifacts / name).write_bytes(data)
        if len(self.figures["examples"]) < 20:
            self.figures["examples"].append(f"{name}: {detail}"[:500])
        self.save()

    def save(self) -> None:
        self.saved = time.monotonic()
        self.figures["seconds"] = round(self.saved - self.started, 1)
        self.path.write_text(json.dumps(self.figures))


def one_input(target: str, stats: Stats, workdir: Path, hang_seconds: float, data: bytes) -> None:
    """Run one input, never raising: crashes and hangs are counted and saved."""

    def on_alarm(signum: int, frame: object) -> None:
        raise Hang()

    stats.figures["inputs"] += 1
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, hang_seconds)
    try:
        RUNNERS[target](data, workdir)
    except Hang:
        stats.record("hang", data, f"no result after {hang_seconds:g} s")
    except Exception as e:  # noqa: BLE001 - what the fuzzer is looking for
        stats.record("crash", data, "".join(traceback.format_exception_only(e)).strip())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if time.monotonic() - stats.saved > 1:
        stats.save()


# ---------------------------------------------------------------- atheris


def seeds(target: str, folder: Path) -> Path:
    """A fresh seed folder (libFuzzer adds to its first corpus folder: never the evidence)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [p for p in (ROOT / "sample_data").rglob("*") if p.is_file() and p.name != "README.md"]
    corpus = ROOT.parent / "shared" / "corpus"
    if corpus.is_dir():
        sources += sorted(p for p in corpus.rglob("*") if p.is_file() and p.stat().st_size <= SEED_BYTES)[::7]
    for index, source in enumerate(sources):
        data = source.read_bytes()
        if target == "html" and b"<" not in data:
            continue
        (folder / f"seed-{index:04d}").write_bytes(data[:SEED_BYTES])
    return folder


def atheris_child(target: str, seconds: int, hang_seconds: float, stats_path: Path, artifacts: Path) -> None:
    import atheris

    with atheris.instrument_imports():  # coverage of the package guides the mutations
        import forensics.engines.shard
        import forensics.ingest
        import forensics.parse  # noqa: F401
    stats = Stats(target, stats_path, artifacts)
    stats.save()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        workdir = Path(tmp)
        corpus = seeds(target, workdir / "corpus")
        args = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", "-timeout=0",  # our own timer: hangs go on
                "-rss_limit_mb=4096", "-max_len=1048576", "-print_final_stats=1"]
        atheris.Setup(args, lambda data: one_input(target, stats, workdir, hang_seconds, data))
        try:
            atheris.Fuzz()
        finally:
            stats.save()


# ---------------------------------------------------------------- hypothesis


def hypothesis_run(target: str, seconds: float, stats_path: Path) -> None:
    """The properties of tests/test_fuzz.py for this target, run again and again with fresh examples."""
    os.environ["FORENSICS_FUZZ_SCALE"] = "25"
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location("test_fuzz", ROOT / "tests" / "test_fuzz.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    properties = {
        "ingest": ["test_random_bytes_behind_a_valid_magic_number", "test_mutated_copies_of_valid_files",
                   "test_every_generated_message_comes_back"],
        "parse": ["test_any_bytes_parse_to_a_record_with_their_hash", "test_generated_mime_trees_parse_and_analyse"],
        "html": ["test_urls_through_extraction_tokens_and_leaks"],
    }[target]
    figures: dict[str, Any] = {"target": target, "engine": "hypothesis", "inputs": 0, "crashes": 0, "hangs": 0,
                               "examples": []}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in properties:
            try:
                getattr(module, name)()
            except module.Hang as e:
                figures["hangs"] += 1
                figures["examples"].append(f"{name}: {e}"[:500])
            except Exception as e:  # noqa: BLE001 - a falsified property: hypothesis printed the example
                figures["crashes"] += 1
                figures["examples"].append(f"{name}: {''.join(traceback.format_exception_only(e)).strip()}"[:500])
            figures["inputs"] = module.TRIED["inputs"]
            stats_path.write_text(json.dumps(figures))


# ---------------------------------------------------------------- driver


def has_atheris() -> bool:
    return importlib.util.find_spec("atheris") is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--seconds", type=int, default=600, help="total budget, split between the targets")
    parser.add_argument("--engine", choices=("atheris", "hypothesis"), default="atheris" if has_atheris() else "hypothesis")
    parser.add_argument("--hang-seconds", type=float, default=60)
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()) / "forensics-fuzz")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one target in this process (libFuzzer ends the process when done)
        if args.engine == "atheris":
            atheris_child(args.target, args.seconds, args.hang_seconds, args.stats, args.artifacts)
        else:
            hypothesis_run(args.target, args.seconds, args.stats)
        return 0
    targets = TARGETS if args.target == "all" else (args.target,)
    share = max(10, args.seconds // len(targets))
    results = [run_child(target, share, args) for target in targets]
    for figures in results:
        print(f"{figures['target']:7s} {figures['engine']:10s} inputs {figures['inputs']:8d}  crashes "
              f"{figures['crashes']}  hangs {figures['hangs']}  ({figures.get('seconds', share)} s)")
        for example in figures["examples"]:
            print(f"    {example}")
    print(f"artifacts: {args.artifacts}")
    return 1 if any(f["crashes"] or f["hangs"] for f in results) else 0


def run_child(target: str, seconds: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fuzz-stats-") as tmp:
        stats = Path(tmp) / "stats.json"
        command = [sys.executable, __file__, "--child", "--target", target, "--seconds", str(seconds),
                   "--engine", args.engine, "--hang-seconds", str(args.hang_seconds),
                   "--artifacts", str(args.artifacts), "--stats", str(stats)]
        done = subprocess.run(command, capture_output=True, timeout=seconds * 3 + 300, check=False)
        figures: dict[str, Any] = json.loads(stats.read_text()) if stats.is_file() else {
            "target": target, "engine": args.engine, "inputs": 0, "crashes": 0, "hangs": 0, "examples": []}
        runs = re.search(rb"stat::number_of_executed_units: (\d+)", done.stderr)
        if runs:  # libFuzzer's own count, final (ours is saved every second)
            figures["inputs"] = max(figures["inputs"], int(runs.group(1)))
        if args.engine == "atheris" and done.returncode < 0:
            # A native crash (a signal) ends libFuzzer's process: it is a crash of its own.
            figures["crashes"] += 1
            figures["examples"].append(f"process ended by signal {-done.returncode}: {done.stderr[-300:]!r}")
        return figures


if __name__ == "__main__":
    sys.exit(main())
