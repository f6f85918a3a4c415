"""The report's parts are tasks any process may take: whoever writes one, the files are the same.

The graphs, the timeline and each export are tasks taken costliest first from one shared
counter by the report's process and its helpers (``report/build.py``).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from conftest import SAMPLE_DATA
from test_golden import data_files, differences
from test_report_support import add_findings, scan_case

from forensics.engines.local import mp_context
from forensics.report import build
from forensics.report.build import write_report
from forensics.store import Store


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample data scanned, with a finding of every kind added."""
    folder = tmp_path_factory.mktemp("split") / "case"
    scan_case(SAMPLE_DATA, folder)
    add_findings(folder)
    return folder


def _tiny(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE wide (a PRIMARY KEY, b, c, d);
        CREATE TABLE narrow (a PRIMARY KEY, b);
        CREATE TABLE tie (a PRIMARY KEY, b);
        INSERT INTO wide VALUES (1, 2, 3, 4), (2, 2, 3, 4), (3, 2, 3, 4);
        INSERT INTO narrow VALUES (1, 1), (2, 1), (3, 1), (4, 1), (5, 1);
        INSERT INTO tie VALUES (1, 1), (2, 1), (3, 1), (4, 1), (5, 1);
    """)
    return conn


def test_an_export_named_after_an_odd_table_name_is_counted(tmp_path: Path) -> None:
    conn = _tiny(tmp_path / "t.sqlite")
    conn.execute('CREATE TABLE "odd""name" (a PRIMARY KEY)')
    conn.execute('INSERT INTO "odd""name" VALUES (1), (2)')
    assert build._export_costs(conn, [_export('odd"name', 'SELECT a FROM "odd""name" ORDER BY a')]) == {'odd"name': 2}
    conn.close()


def _export(name: str, sql: str) -> build._Task:
    return build._Task(kind="export", name=name, sql=sql, paths=())


def test_an_export_costs_its_rows_times_its_columns(tmp_path: Path) -> None:
    conn = _tiny(tmp_path / "t.sqlite")
    costs = build._export_costs(conn, [
        _export("wide", "SELECT * FROM wide ORDER BY a"),
        _export("narrow", "SELECT a, b FROM narrow ORDER BY a;"),
        # Not named after a table: the rows of the largest table its query names (narrow: 5).
        _export("joined", "SELECT w.a, n.b, w.c FROM wide w JOIN narrow n ON n.a = w.a ORDER BY 1"),
        _export("nothing", "SELECT 1 AS one"),
    ])
    assert costs == {"wide": 12, "narrow": 10, "joined": 15, "nothing": 0}


def test_the_graphs_and_the_timeline_come_first_then_the_costliest_exports(tmp_path: Path) -> None:
    _tiny(tmp_path / "t.sqlite").close()
    with sqlite3.connect(tmp_path / "t.sqlite") as conn:
        tasks = build._tasks(conn, tmp_path / "out")
    # wide 3 x 4 = 12; narrow and tie 5 x 2 = 10 each, in name order.
    assert [(t.kind, t.name) for t in tasks] == [
        ("graphs", "graphs"), ("timeline", "timeline"), ("export", "wide"), ("export", "narrow"), ("export", "tie")]
    assert tasks[2].paths == (tmp_path / "out" / "wide.csv", tmp_path / "out" / "wide.jsonl")
    assert tasks[2].sql == 'SELECT "a", "b", "c", "d" FROM "wide" ORDER BY "a", "b", "c", "d"'


def _claims(order: list[int]) -> Callable[[], int]:
    """Hands out the tasks in ``order``, then one past the end (no task left)."""
    queue = iter(order)
    return lambda: next(queue, 10**9)


def test_whoever_writes_each_task_the_files_are_the_same(case: Path, tmp_path: Path) -> None:
    results = {}
    for way in ("in order", "interleaved"):
        out = tmp_path / way.replace(" ", "-")
        out.mkdir()
        with Store(case) as store:
            tasks = build._tasks(store.conn, out)
            if way == "in order":
                done = build._drain(store.conn, tasks, _claims(list(range(len(tasks)))))
            else:
                # Last task first, odd ones by a helper's read-only connection, even ones here.
                helper = build._read_only(str(store.path))
                last_first = list(reversed(range(len(tasks))))
                done = build._drain(helper, tasks, _claims([i for i in last_first if i % 2]))
                done.add(build._drain(store.conn, tasks, _claims([i for i in last_first if not i % 2])))
                helper.close()
        results[way] = done
        assert {Path(p).name for p in done.sealed} == {p.name for t in tasks if t.kind == "export" for p in t.paths}
        for path, seal in done.sealed.items():  # each export's hash, taken as it was written
            assert seal == {"sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                            "size": Path(path).stat().st_size}
    a, b = data_files(tmp_path / "in-order"), data_files(tmp_path / "interleaved")
    assert len(a) >= 30
    assert differences(a, b) == []
    assert results["in order"].rows == results["interleaved"].rows
    assert [p.name for p in results["in order"].graphs] == [p.name for p in results["interleaved"].graphs] == [
        f"{stem}.{fmt}" for stem in ("graph", "graph_brokers") for fmt in ("graphml", "gexf", "json")]


def test_processes_sharing_the_counter_take_each_task_once(case: Path, tmp_path: Path) -> None:
    with Store(case) as store:
        tasks = [t for t in build._tasks(store.conn, tmp_path) if t.kind == "export"]
    context = mp_context()
    counter = context.Value("q", 0)
    with ProcessPoolExecutor(2, mp_context=context, initializer=build._share_next, initargs=(counter,)) as pool:
        futures = [pool.submit(build._drain_in_process, str(case / "case.sqlite"), tasks) for _ in range(2)]
        conn = build._read_only(str(case / "case.sqlite"))
        try:
            here = build._drain(conn, tasks, build._claimer(counter))
        finally:
            conn.close()
        dones = [here] + [f.result() for f in futures]
    taken = [name for done in dones for name in done.rows]
    assert sorted(taken) == sorted(t.name for t in tasks)  # each once, by one process or another
    assert counter.value == len(tasks) + 3  # and each process's last claim found nothing left


def test_one_two_and_three_workers_write_the_same_report(
        case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "PARALLEL_FROM_MESSAGES", 1)  # the sample counts as large
    results = {n: write_report(case, tmp_path / f"w{n}", argv=["r"], workers=n) for n in (1, 2, 3)}
    assert [p.name for p in results[1].outputs] == [p.name for p in results[2].outputs] == [
        p.name for p in results[3].outputs]
    assert list(results[1].rows) == list(results[2].rows) == list(results[3].rows)
    assert results[1].rows == results[2].rows == results[3].rows
    files = {n: data_files(tmp_path / f"w{n}") for n in (1, 2, 3)}
    assert differences(files[1], files[2]) == differences(files[1], files[3]) == []


def test_when_this_process_fails_the_helpers_start_no_more_tasks(
        case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "PARALLEL_FROM_MESSAGES", 1)

    def broken(*_args: object) -> None:
        raise RuntimeError("the charts failed")

    monkeypatch.setattr(build, "_write_charts", broken)
    with pytest.raises(RuntimeError, match="the charts failed"):
        write_report(case, tmp_path / "out", argv=["r"], workers=2)
    # The helper had taken the first task (the graphs) or none; it finished that one and stopped.
    graphs = sorted(f"{stem}.{fmt}" for stem in ("graph", "graph_brokers") for fmt in ("graphml", "gexf", "json"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) in ([], graphs)
