"""The HTML report in a real browser: it renders, and opening it fires no request.

Headless Chromium (Debian package ``chromium``) opens a report whose evidence points at
a listener on 127.0.0.1 (a hostile subject ``"><img src=...>``, tracking pixels and
links). A control page with a live image first proves that the listener sees a browser
request; then the report must cause none, in the listener and in Chromium's own net log,
while its own sorting script (allowed by hash) still runs.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from forensics.report.build import write_report
from test_report_support import add_findings, hostile_mbox, scan_case

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install chromium)"),
]


class Listener:
    """Counts TCP connections to a local port (the host every hostile URL points at)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    item = Listener()
    yield item
    item.close()


def open_in_chromium(page: Path, work: Path) -> tuple[Path, dict[str, object], str]:
    """Load a page headless; returns the screenshot, the parsed net log and the DOM after scripts."""
    shot, netlog = work / "screenshot.png", work / "netlog.json"
    profile = work / "profile"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        "--hide-scrollbars", "--window-size=1280,2200", "--virtual-time-budget=3000",
        "--dump-dom", f"--log-net-log={netlog}", f"--screenshot={shot}", page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert shot.is_file(), done.stderr[-2000:]
    return shot, json.loads(netlog.read_text(encoding="utf-8")), done.stdout


def requested_urls(netlog: dict[str, object]) -> set[str]:
    urls: set[str] = set()
    for event in netlog.get("events", []):  # type: ignore[union-attr]
        url = (event.get("params") or {}).get("url")
        if isinstance(url, str):
            urls.add(url)
    return urls


def test_control_page_is_seen_by_the_listener(tmp_path: Path, listener: Listener) -> None:
    page = tmp_path / "control.html"
    page.write_text(f'<!DOCTYPE html><img src="http://127.0.0.1:{listener.port}/control.gif">', encoding="utf-8")
    _, netlog, _ = open_in_chromium(page, tmp_path)
    assert listener.connections >= 1
    assert f"http://127.0.0.1:{listener.port}/control.gif" in requested_urls(netlog)


def test_report_renders_and_fires_no_request(tmp_path: Path, listener: Listener) -> None:
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "box.mbox").write_bytes(hostile_mbox(listener.port))
    scan_case(tmp_path / "ev", tmp_path / "case")
    add_findings(tmp_path / "case", port=listener.port)
    write_report(tmp_path / "case", tmp_path / "case", argv=["test"])
    html = (tmp_path / "case" / "report.html").read_text(encoding="utf-8")
    assert f"127.0.0.1:{listener.port}" in html  # the bait is on the page, as text

    shot, netlog, dom = open_in_chromium(tmp_path / "case" / "report.html", tmp_path)

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    assert listener.connections == 0
    local = sorted(u for u in requested_urls(netlog) if "127.0.0.1" in u or "localhost" in u)
    assert local == []
    assert 'data-script="ready"' in dom  # the policy let the page's own script run
    assert "<img src=http" not in dom and "<script>fetch" not in dom
    shutil.copy(shot, tmp_path / "report-screenshot.png")  # kept for a person to look at
