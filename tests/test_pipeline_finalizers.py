"""Finalizers run in lanes, the lanes at once: the case is the same as one finalizer after another."""

from __future__ import annotations

import functools
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from forensics import stages
from forensics.analyse import Settings
from forensics.correlate.metrics import METRIC_TABLES
from forensics.pipeline import _Lanes, run_finalizers
from forensics.store import Store

ROLES_SHARED = [("recipient-identifier", 3), ("repeated", 3)]


def dump(case: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(case / "case.sqlite") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'meta'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in sorted(tables)}


@pytest.fixture
def case(generated_case: Path) -> Path:
    return generated_case  # conftest: shared, read only here (changes go to copies)


def copy_of(case: Path, folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(case / "case.sqlite", folder / "case.sqlite")  # the scan closed the case: no WAL left
    return folder


def test_every_finalizer_is_in_exactly_one_lane_each_lane_in_the_order_of_the_list() -> None:
    flat = [f for lane in stages.FINALIZER_LANES for f in lane]
    assert sorted(flat, key=stages.FINALIZERS.index) == stages.FINALIZERS
    assert all(lane == sorted(lane, key=stages.FINALIZERS.index) for lane in stages.FINALIZER_LANES)
    # The metrics read what every other finalizer writes: the last lane, the only one that
    # waits for others (by name: the beacons' lane, then the roles').
    assert stages.FINALIZER_LANES == [[stages.assign_roles], [stages.finalize_beacons], [stages.compute_metrics]]


def _unfinalized(case: Path, folder: Path) -> Path:
    copy = copy_of(case, folder)
    with Store(copy) as store, store.conn:
        store.conn.execute("DELETE FROM tokens")  # the scan's finalizers ran: start from none
        store.conn.execute("UPDATE resources SET is_beacon = 0, confidence = 0, signals = ''")
        for table in METRIC_TABLES:
            store.conn.execute(f'DELETE FROM "{table}"')
    return copy


def test_lanes_at_once_give_the_case_one_by_one_gives(case: Path, tmp_path: Path) -> None:
    at_once, one_by_one = _unfinalized(case, tmp_path / "at_once"), _unfinalized(case, tmp_path / "one_by_one")
    with Store(at_once) as store, store.statistics():
        run_finalizers(store, Settings())
    with Store(one_by_one) as store, store.statistics():
        for finalizer in stages.FINALIZERS:
            finalizer(store, Settings())
    assert dump(at_once) == dump(one_by_one) == dump(case)
    with sqlite3.connect(case / "case.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM tokens").fetchone()[0] == 339
        assert conn.execute("SELECT COUNT(*) FROM resources WHERE is_beacon = 1").fetchone()[0] == 31


def test_the_metrics_wait_for_the_token_roles_judged_beside_them(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Roles slowed down: the metrics prepare everything else, then wait, then read the roles."""
    def slow_roles(store: Store, settings: Settings) -> None:
        time.sleep(1.0)
        stages.assign_roles(store, settings)

    monkeypatch.setattr(stages, "FINALIZER_LANES", [[slow_roles], [stages.finalize_beacons, stages.compute_metrics]])
    at_once = _unfinalized(case, tmp_path / "at_once")
    with Store(at_once) as store, store.statistics():
        run_finalizers(store, Settings())
    assert dump(at_once) == dump(case)
    with sqlite3.connect(at_once / "case.sqlite") as conn:  # metrics that name token roles
        assert conn.execute("SELECT role, COUNT(*) FROM metrics_sharing WHERE kind = 'token' GROUP BY role"
                            ).fetchall() == ROLES_SHARED


def test_the_metrics_wait_for_the_beacons_verdicts_before_reading_the_findings(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beacon uniqueness slowed down (same name, so waited for by name): the metrics make the
    messages, leaks and contacts, wait, then read which resources are beacons."""
    @functools.wraps(stages.finalize_beacons)
    def slow_beacons(store: Store, settings: Settings) -> None:
        time.sleep(1.0)
        stages.finalize_beacons(store, settings)

    monkeypatch.setattr(stages, "FINALIZER_LANES", [[stages.assign_roles], [slow_beacons], [stages.compute_metrics]])
    at_once = _unfinalized(case, tmp_path / "at_once")
    with Store(at_once) as store, store.statistics():
        run_finalizers(store, Settings())
    assert dump(at_once) == dump(case)
    with sqlite3.connect(at_once / "case.sqlite") as conn:
        assert conn.execute("SELECT scope, messages, tracked FROM metrics_prevalence WHERE scope = 'all'"
                            ).fetchall() == [("all", 45, 31)]  # beacons were read: 31 tracked


def test_a_lane_waits_for_the_lanes_of_the_finalizers_it_names_or_for_all() -> None:
    done = [threading.Event() for _ in range(3)]
    lanes = _Lanes(done=done, of={"roles": 0, "beacons": 1, "metrics": 2})
    done[1].set()
    lanes.waiter(2)("beacons")  # returns: the beacons' lane is done (the roles' is not)
    lanes.waiter(1)("beacons")  # its own lane: nothing to wait for
    waiting = threading.Thread(target=lanes.waiter(2), args=("roles",))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()  # the roles' lane is still running
    done[0].set()
    waiting.join(5)
    assert not waiting.is_alive()
    done[0].clear()
    unknown = threading.Thread(target=lanes.waiter(2), args=("replaced",))  # in no lane: every other lane
    unknown.start()
    unknown.join(0.2)
    assert unknown.is_alive()
    done[0].set()
    unknown.join(5)
    assert not unknown.is_alive()


def test_a_failure_in_a_finalizer_run_apart_reaches_the_caller(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(store: Store, settings: Settings) -> None:
        raise RuntimeError("finalizer bug")

    monkeypatch.setattr(stages, "FINALIZER_LANES", [[stages.assign_roles], [broken]])
    with Store(copy_of(case, tmp_path / "c")) as store, pytest.raises(RuntimeError, match="finalizer bug"):
        run_finalizers(store, Settings())


def test_a_failure_in_the_lane_the_metrics_wait_for_stops_the_run_without_hanging(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(store: Store, settings: Settings) -> None:
        raise RuntimeError("roles bug")

    monkeypatch.setattr(stages, "FINALIZER_LANES", [[broken], [stages.compute_metrics]])
    with Store(copy_of(case, tmp_path / "c")) as store, pytest.raises(RuntimeError, match="roles bug"):
        run_finalizers(store, Settings())
