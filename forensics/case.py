"""The notebook API: open a case read-only and get pandas DataFrames and networkx graphs.

    >>> import forensics
    >>> case = forensics.open_case("reports/sample")
    >>> case.metrics("prevalence")            # a metrics_* table as a DataFrame
    >>> g = case.graph(level="provider", min_count=2)
    >>> case.evidence("sender:news@shop.example", "provider:Mailchimp")  # every message behind an edge

The case file is opened read-only (SQLite ``mode=ro``): a notebook never changes the
evidence record. Every frame is ordered by stable keys, like the exports. A table the
case does not have (its stage did not run) gives an empty frame.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import networkx as nx
import pandas as pd

from forensics.correlate.graph import GraphOptions, build_graph, evidence_rows
from forensics.correlate.metrics import METRIC_TABLES
from forensics.correlate.sources import Selection, has_table, release
from forensics.errors import ReadError
from forensics.store import CASE_FILE

METRIC_PREFIX = "metrics_"
ORDER = {  # stable row order of the frames (the tables' keys)
    "messages": "message_sha256", "resources": "finding_id", "links": "finding_id",
    "leaks": "message_sha256, finding_id, location, identity", "tokens": "role, value",
    "url_tokens": "finding_id, location, chain", "occurrences": "source_path, locator",
}


def open_case(path: str | Path) -> "Case":
    """Open the case in a folder written by ``forensics scan`` (or its ``case.sqlite``).

    Raises:
        ReadError: there is no case there.
    """
    return Case(Path(path))


class Case:
    """A case opened read-only. Use as a context manager, or call ``close()``."""

    def __init__(self, path: Path) -> None:
        file = path / CASE_FILE if path.is_dir() else path
        if not file.is_file():
            raise ReadError(f"no case found at {path} (expected {CASE_FILE}; run `forensics scan` first)")
        self.path = file
        self._prepared: Selection | None = None  # the selection the cg_* temp tables hold
        try:
            self.conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
            self.conn.execute("SELECT 1 FROM sqlite_master").fetchone()
        except sqlite3.Error as e:
            raise ReadError(f"{file} is not a readable case: {e}") from e

    def close(self) -> None:
        release(self.conn)
        self.conn.close()

    def __enter__(self) -> "Case":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ tables

    def tables(self) -> list[str]:
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [r[0] for r in rows if not r[0].startswith("sqlite_")]

    def table(self, name: str) -> pd.DataFrame:
        """Any table of the case, whole, in key order (empty when the case has no such table)."""
        if not has_table(self.conn, name):
            return pd.DataFrame()
        order = ORDER.get(name, "rowid")
        return pd.read_sql_query(f'SELECT * FROM "{name}" ORDER BY {order}', self.conn)

    def messages(self) -> pd.DataFrame:
        return self.table("messages")

    def beacons(self) -> pd.DataFrame:
        """Remote resources judged beacons (``resources`` rows with ``is_beacon`` = 1)."""
        if has_table(self.conn, "beacons"):
            return self.table("beacons")
        frame = self.table("resources")
        if frame.empty or "is_beacon" not in frame:
            return frame
        return frame[frame["is_beacon"] == 1].reset_index(drop=True)

    def resources(self) -> pd.DataFrame:
        return self.table("resources")

    def links(self) -> pd.DataFrame:
        return self.table("links")

    def leaks(self) -> pd.DataFrame:
        return self.table("leaks")

    def tokens(self) -> pd.DataFrame:
        """Token values and their roles across the case (``tokens``; occurrences: ``table('url_tokens')``)."""
        return self.table("tokens")

    @staticmethod
    def metric_names() -> list[str]:
        return [t.removeprefix(METRIC_PREFIX) for t in METRIC_TABLES]

    def metrics(self, name: str) -> pd.DataFrame:
        """A metrics table by short name: ``prevalence``, ``providers``, ``third_parties``,
        ``leaks``, ``sharing``, ``centrality``, ``brokers`` (see ``forensics.correlate.metrics``).

        Raises:
            KeyError: no metrics table has that name.
        """
        names = self.metric_names()
        if name.removeprefix(METRIC_PREFIX) not in names:
            raise KeyError(f"no metrics table {name!r}; one of {', '.join(names)}")
        return self.table(METRIC_PREFIX + name.removeprefix(METRIC_PREFIX))

    # ------------------------------------------------------------------ graph

    def graph(self, *, level: str = "host", sender: str = "", provider: str = "", since: str = "",
              until: str = "", min_count: int = 1, view: str = "tracking") -> nx.DiGraph:
        """The correlation graph of the case (see ``forensics.correlate.graph``).

        ``level``: provider, host, token or message; ``view="broker"``: the data-broker view.
        ``sender`` (address or domain), ``provider``, ``since``/``until`` (ISO dates, UTC,
        inclusive) select the evidence; ``min_count`` drops edges seen in fewer messages.
        """
        selection = Selection(sender=sender, provider=provider, since=since, until=until)
        options = GraphOptions(selection=selection, level=level, min_count=min_count, view=view)
        self._prepared = None
        graph = build_graph(self.conn, options)
        self._prepared = selection  # kept, so evidence() on this graph's edges starts at once
        return graph

    def evidence(self, u: str, v: str, *, sender: str = "", provider: str = "", since: str = "",
                 until: str = "", view: str = "tracking") -> pd.DataFrame:
        """Every message (and finding) behind the edge ``u -> v``: the full list an edge's
        ``evidence`` attribute is capped from. Pass the filters the graph was built with;
        after ``graph()`` with the same filters, its prepared selection is reused (no new pass
        over the case).
        """
        selection = Selection(sender=sender, provider=provider, since=since, until=until)
        prepared = self._prepared == selection
        self._prepared = None
        rows = evidence_rows(self.conn, u, v, selection, view, prepared=prepared)
        self._prepared = selection
        return pd.DataFrame(rows, columns=["message_sha256", "date_utc", "finding_id", "kind"])
