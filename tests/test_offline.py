"""Offline, proven: the whole pipeline (scan and report of the sample data) never touches the network.

Three ways, from the narrowest to the strongest:

1. in this process, with socket creation, connections and name lookups patched to raise
   and record (and an audit hook seeing the socket module's own events): nothing attempted;
2. in a child CLI run with two worker processes, an audit hook installed in every Python
   process (``sitecustomize``) logs every name lookup and every connection, send or bind
   that is not Unix-domain (the pool's own plumbing) or a loopback bind: none;
3. in a network namespace with no interface (``unshare -n``, where it works): the scan succeeds.

Each detector is first shown to catch a real attempt, so a silent pass means something.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_engine import load_generator

from forensics.pipeline import ScanOptions, scan
from forensics.report.build import write_report

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
NETWORK_EVENTS = ("socket.__new__", "socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                  "socket.gethostbyaddr", "socket.sendto", "socket.bind")
ATTEMPTS: list[str] = []
WATCHING = [False]


def _audit(event: str, args: tuple[object, ...]) -> None:
    if WATCHING[0] and event in NETWORK_EVENTS:
        ATTEMPTS.append(f"{event}{args!r}"[:200])


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one only records while WATCHING


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Socket creation, connections and lookups raise and are recorded; the list is yielded."""
    attempts: list[str] = []

    def forbidden(name: str) -> object:
        def refuse(*args: object, **kwargs: object) -> object:
            attempts.append(f"{name}{args!r}"[:200])
            raise OSError(f"network use forbidden in this test: {name}")
        return refuse

    for name in ("socket", "create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                 "gethostbyaddr", "socketpair", "create_server"):
        monkeypatch.setattr(socket, name, forbidden(name))
    ATTEMPTS.clear()
    WATCHING[0] = True
    try:
        yield attempts
    finally:
        WATCHING[0] = False
    attempts.extend(ATTEMPTS)


def test_the_patch_and_the_audit_hook_catch_an_attempt(no_network: list[str]) -> None:
    import urllib.request

    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)
    with pytest.raises(OSError):
        socket.getaddrinfo("example.org", 80)
    assert [a.split("(")[0] for a in no_network] == ["create_connection", "getaddrinfo"]


def test_scan_and_report_of_the_sample_data_attempt_no_connection(no_network: list[str], tmp_path: Path) -> None:
    out = tmp_path / "case"
    result = scan([SAMPLE], ScanOptions(out=out, workers=1))  # one worker: everything in this process
    report = write_report(out, out, argv=["forensics", "scan", str(SAMPLE)])
    assert no_network == []
    assert result.shards_run > 0 and (out / "report.html").is_file() and len(report.outputs) > 40


SITECUSTOMIZE = '''
import os, socket, sys

LOG = os.environ["FORENSICS_NETLOG"]
LOOPBACK = ("127.0.0.1", "::1", "localhost")

def _network(event, args):
    """Lookups, and connections, sends and binds that are not Unix-domain (the worker pool's
    plumbing) or a loopback bind (urllib3, imported by tldextract through requests, binds a
    socket to ::1 at import to learn whether IPv6 works; nothing is sent)."""
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        return True
    if event in ("socket.connect", "socket.sendto", "socket.bind"):
        if getattr(args[0], "family", None) == socket.AF_UNIX:
            return False
        address = args[1][0] if isinstance(args[1], tuple) and args[1] else args[1]
        return not (event == "socket.bind" and address in LOOPBACK)
    return False

SEEN = [0]

def _hook(event, args):
    if SEEN[0] != os.getpid():  # every process watched (forked workers inherit the hook) says so once
        SEEN[0] = os.getpid()
        with open(LOG + ".processes", "a") as processes:
            processes.write(f"{SEEN[0]}\\n")
    if event.startswith("socket.") and _network(event, args):
        with open(LOG, "a") as log:
            log.write(f"{os.getpid()} {event} {args!r}"[:300] + "\\n")

sys.addaudithook(_hook)
'''


def run_cli(tmp_path: Path, *command: str, prefix: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess[bytes], str, int]:
    """Run a Python command with the audit hook in every Python process it starts: the
    result, the log of attempts and how many processes were watched."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "network.log"
    log.write_text("")
    watched = tmp_path / "network.log.processes"
    watched.write_text("")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(hook), "FORENSICS_NETLOG": str(log), "HOME": str(tmp_path)}
    done = subprocess.run([*prefix, sys.executable, *command], capture_output=True, timeout=600, env=env,
                          cwd=ROOT, check=False)
    return done, log.read_text(), len(set(watched.read_text().split()))


def test_the_child_audit_hook_catches_an_attempt(tmp_path: Path) -> None:
    code = "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\nexcept OSError:\n    pass"
    done, log, processes = run_cli(tmp_path, "-c", code)
    assert done.returncode == 0, done.stderr
    assert "socket.connect" in log and "127.0.0.1" in log and processes == 1


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    """The sample data and a 3 MB generated mbox: more than one task, so worker processes start."""
    folder = tmp_path / "evidence"
    shutil.copytree(SAMPLE, folder)
    (folder / "big.mbox").write_bytes(b"".join(load_generator().generate(3_000_000, seed=4)))
    return folder


def test_cli_scan_with_two_workers_makes_no_network_call(tmp_path: Path, evidence: Path) -> None:
    out = tmp_path / "case"
    done, log, processes = run_cli(tmp_path, "-m", "forensics", "scan", str(evidence), "--out", str(out),
                                   "--workers", "2", "-q")
    assert done.returncode == 0, done.stderr.decode()
    assert log == ""
    assert processes >= 4  # the CLI, the forkserver and two workers were all watched
    assert (out / "report.html").is_file()


def unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not unshare_works(), reason="`unshare -n` is not permitted here (needs root or user namespaces)")
def test_scan_in_a_namespace_without_network(tmp_path: Path, evidence: Path) -> None:
    out = tmp_path / "case"
    probe, _, _ = run_cli(tmp_path, "-c", "import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)",
                       prefix=("unshare", "-n"))
    assert probe.returncode != 0 and b"unreachable" in probe.stderr.lower()  # the namespace really has no route
    done, log, processes = run_cli(tmp_path, "-m", "forensics", "scan", str(evidence), "--out", str(out),
                                   "--workers", "2", "-q", prefix=("unshare", "-n"))
    assert done.returncode == 0, done.stderr.decode()
    assert log == "" and processes >= 4 and (out / "report.html").is_file()
