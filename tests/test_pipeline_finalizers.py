"""Finalizers run in steps, those of a step at once: the case is the same as one by one."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from test_engine import load_generator

from forensics import stages
from forensics.analyse import Settings
from forensics.pipeline import ScanOptions, run_finalizers, scan
from forensics.store import Store


def dump(case: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(case / "case.sqlite") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in sorted(tables)}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finalizers")
    (root / "evidence").mkdir()
    (root / "evidence" / "big.mbox").write_bytes(b"".join(load_generator().generate(300_000, seed=5)))
    scan([root / "evidence"], ScanOptions(out=root / "case", workers=1))
    return root / "case"


def copy_of(case: Path, folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(case / "case.sqlite", folder / "case.sqlite")  # the scan closed the case: no WAL left
    return folder


def test_every_finalizer_is_in_exactly_one_step_in_the_order_of_the_list() -> None:
    flat = [f for step in stages.FINALIZER_STEPS for f in step]
    assert sorted(flat, key=stages.FINALIZERS.index) == stages.FINALIZERS
    assert stages.FINALIZER_STEPS[-1] == [stages.compute_metrics]  # reads what the others write


def test_steps_at_once_give_the_case_one_by_one_gives(case: Path, tmp_path: Path) -> None:
    at_once, one_by_one = copy_of(case, tmp_path / "at_once"), copy_of(case, tmp_path / "one_by_one")
    for folder in (at_once, one_by_one):
        with Store(folder) as store, store.conn:
            store.conn.execute("DELETE FROM tokens")  # the scan's finalizers ran: start from none
            store.conn.execute("UPDATE resources SET is_beacon = 0, confidence = 0, signals = ''")
    with Store(at_once) as store, store.statistics():
        run_finalizers(store, Settings())
    with Store(one_by_one) as store, store.statistics():
        for finalizer in stages.FINALIZERS:
            finalizer(store, Settings())
    assert dump(at_once) == dump(one_by_one) == dump(case)
    with sqlite3.connect(case / "case.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM tokens").fetchone()[0] > 100
        assert conn.execute("SELECT COUNT(*) FROM resources WHERE is_beacon = 1").fetchone()[0] > 10


def test_a_failure_in_a_finalizer_run_apart_reaches_the_caller(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(store: Store, settings: Settings) -> None:
        raise RuntimeError("finalizer bug")

    monkeypatch.setattr(stages, "FINALIZER_STEPS", [[stages.assign_roles, broken]])
    with Store(copy_of(case, tmp_path / "c")) as store, pytest.raises(RuntimeError, match="finalizer bug"):
        run_finalizers(store, Settings())
