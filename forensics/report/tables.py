"""Stage 5: which tables of the case are exported, in what stable order, and in which formats.

Other stages land their tables over time (beacons, links, tokens, leaks, metrics...).
The report exports whatever the case holds: a named query from ``csvout.QUERIES`` when
one exists (and its tables are present), else every column of the table ordered by its
primary key. A table that does not exist is simply absent from the export.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

# Bookkeeping, not evidence: resumable-shard marks and the schema version.
INTERNAL_TABLES = frozenset({"meta", "shards"})

TABLE_FORMATS = ("csv", "jsonl")  # a data set's files, NAME.csv and NAME.jsonl, in this order
GRAPH_FORMATS = ("graphml", "gexf", "json")  # each graph's files (``correlate.export.FORMATS``)


@dataclass(frozen=True, slots=True, kw_only=True)
class Formats:
    """Which files the report writes for each data set (``tables``) and each graph (``graphs``);
    by default every format. Whatever the choice it also writes ``timeline.csv``, the charts,
    ``report.html``, ``data_dictionary.md`` and ``manifest.json`` (and the case keeps
    ``case.sqlite``).

    The formats are kept in the order above, whatever order they were given in: the same
    choice lists the same files in the same order.

    Raises:
        ValueError: a format that is not one of the above, or no table format. A report
            without any data set file is refused, although case.sqlite holds the data: the
            page shows the first rows of each table and sends the reader to its file for
            the rest, the data dictionary documents those files, and some data sets
            (``beacons``, ``messages`` at their first location...) are queries that exist
            only as exports, not as tables of the case. They are also the copy of the
            evidence anyone can open without SQLite. The smallest report is one format
            (``csv``); an empty choice is more likely a slip than a wish.
    """

    tables: tuple[str, ...] = TABLE_FORMATS
    graphs: tuple[str, ...] = GRAPH_FORMATS

    def __post_init__(self) -> None:
        unknown = [f for f in (*self.tables, *self.graphs) if f not in TABLE_FORMATS + GRAPH_FORMATS]
        if unknown:
            raise ValueError(f"unknown format {unknown[0]!r}; {KNOWN_FORMATS}")
        misplaced = [f for f in self.tables if f not in TABLE_FORMATS] + [f for f in self.graphs if f not in GRAPH_FORMATS]
        if misplaced:
            raise ValueError(f"{misplaced[0]!r} is not a {'graph' if misplaced[0] in TABLE_FORMATS else 'data set'} format")
        if not self.tables:
            raise ValueError(f"choose at least one data set format ({', '.join(TABLE_FORMATS)}); {KNOWN_FORMATS}")
        # frozen: the canonical order set once, here
        object.__setattr__(self, "tables", tuple(f for f in TABLE_FORMATS if f in self.tables))
        object.__setattr__(self, "graphs", tuple(f for f in GRAPH_FORMATS if f in self.graphs))

    @classmethod
    def parse(cls, text: str) -> Formats:
        """From a comma-separated list (``"csv,gexf"``; case and spaces do not matter)."""
        names = [n.strip().lower() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in TABLE_FORMATS + GRAPH_FORMATS]
        if unknown:
            raise ValueError(f"unknown format {unknown[0]!r}; {KNOWN_FORMATS}")
        return cls(tables=tuple(n for n in names if n in TABLE_FORMATS),
                   graphs=tuple(n for n in names if n in GRAPH_FORMATS))

    def files(self, name: str) -> tuple[str, ...]:
        """A data set's file names."""
        return tuple(f"{name}.{fmt}" for fmt in self.tables)

    def file(self, name: str) -> str:
        """The file the page and notes name for a data set: its CSV, else its JSON Lines."""
        return f"{name}.{self.tables[0]}"


KNOWN_FORMATS = (f"the formats are {', '.join(TABLE_FORMATS)} (each data set) and "
                 f"{', '.join(GRAPH_FORMATS)} (the graphs)")
ALL_FORMATS = ",".join(TABLE_FORMATS + GRAPH_FORMATS)
EVERY_FORMAT = Formats()  # the default: what the report always wrote


@dataclass(frozen=True, slots=True, kw_only=True)
class Export:
    """One exported data set: a file stem and the query that fills it."""

    name: str
    sql: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyed:
    """A second form of a named export's query: the same rows in the same order, cheaper.

    ``setup`` fills temporary table ``keys`` (a few rows per message) that ``sql`` reads
    first, then ``table``'s rows of each key through ``table``'s index on
    ``message_sha256``, so that only the rows of one key are sorted together
    (``extract/export.py`` has the extraction exports' forms).
    """

    query: str  # the plain form, which the export plan holds (and runs when this one cannot)
    table: str
    keys: str
    setup: tuple[str, ...]
    sql: str
    whole: bool = True  # also for the whole export (else only for its first rows, ``LIMIT``)


def existing_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [r[0] for r in rows if not r[0].startswith("sqlite_")]


def has_table(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return row is not None


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """Column names in declaration order ([] when the table is absent)."""
    return [r[1] for r in conn.execute(f'PRAGMA table_info("{_ident(table)}")')]


def _ident(name: str) -> str:
    return name.replace('"', '""')


def runnable(conn: sqlite3.Connection, sql: str) -> bool:
    """Whether a query's tables and columns exist (compiled with EXPLAIN, not run)."""
    try:
        conn.execute("EXPLAIN " + sql).fetchone()
    except sqlite3.OperationalError as e:
        if str(e).startswith(("no such table", "no such column")):
            return False
        raise
    return True


def generic_sql(conn: sqlite3.Connection, table: str, *, key_only: bool = False) -> str:
    """Every column, ordered by the primary key (then every column, so ties cannot occur;
    ``key_only``: by the key alone)."""
    info = list(conn.execute(f'PRAGMA table_info("{_ident(table)}")'))
    key = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    order = key + ([] if key_only else [r[1] for r in info if r[1] not in key])
    cols = ", ".join(f'"{_ident(r[1])}"' for r in info)
    by = ", ".join(f'"{_ident(c)}"' for c in order)
    return f'SELECT {cols} FROM "{_ident(table)}" ORDER BY {by}'


def export_plan(conn: sqlite3.Connection, queries: dict[str, str]) -> list[Export]:
    """Named queries that can run, then every other evidence table, sorted by name."""
    plan = {name: sql for name, sql in queries.items() if runnable(conn, sql)}
    for table in existing_tables(conn):
        # A named query that cannot run (its stage changed shape) falls back to the table.
        if table not in INTERNAL_TABLES and table not in plan:
            plan[table] = generic_sql(conn, table)
    return [Export(name=n, sql=plan[n]) for n in sorted(plan)]


def _indexed(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether an index of ``table`` starts with ``column``."""
    for index in conn.execute(f'PRAGMA index_list("{_ident(table)}")').fetchall():
        first = conn.execute(f'PRAGMA index_info("{_ident(index[1])}")').fetchone()
        if first is not None and first[2] == column:
            return True
    return False


def _by_key(conn: sqlite3.Connection, export: Export) -> str | None:
    """A table's ``generic_sql`` ordered by its primary key alone, when no key column holds a
    NULL: the key is then unique, so the other columns never break a tie (SQLite walks the
    key's index instead of sorting each key's rows again by every column)."""
    if export.sql != generic_sql(conn, export.name):
        return None
    info = list(conn.execute(f'PRAGMA table_info("{_ident(export.name)}")'))
    key = [f'"{_ident(r[1])}"' for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    if not key or len(key) == len(info):
        return None
    nulls = " OR ".join(f"{k} IS NULL" for k in key)
    if conn.execute(f'SELECT 1 FROM "{_ident(export.name)}" WHERE {nulls} LIMIT 1').fetchone():
        return None
    return generic_sql(conn, export.name, key_only=True)


@contextmanager
def export_sql(conn: sqlite3.Connection, export: Export, keyed: Mapping[str, Keyed], *,
               limited: bool = False) -> Iterator[str]:
    """The query to run for ``export`` (``limited``: for its first rows only): its keyed form
    when it has one for that use (its temporary table filled until the block ends) and the
    plan chose the named query, else its own."""
    form = keyed.get(export.name)
    if (form is None or form.query != export.sql or not (form.whole or limited)
            or not _indexed(conn, form.table, "message_sha256")):
        yield _by_key(conn, export) or export.sql
        return
    conn.execute(f"DROP TABLE IF EXISTS temp.{form.keys}")
    try:
        for statement in form.setup:
            conn.execute(statement)
        yield form.sql
    finally:
        conn.execute(f"DROP TABLE IF EXISTS temp.{form.keys}")


def iter_rows(conn: sqlite3.Connection, sql: str) -> tuple[list[str], Iterator[tuple[object, ...]]]:
    """A query's header and a streaming iterator over its rows."""
    cursor = conn.execute(sql)
    return [d[0] for d in cursor.description], iter(cursor)
