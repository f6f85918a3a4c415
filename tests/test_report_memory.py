"""The report in bounded memory: one chart alive at a time, a chart's size bounded whatever its
dates, and exports split between helpers and this process written as one process writes them."""

from __future__ import annotations

import gc
from pathlib import Path

from matplotlib.figure import Figure
from test_golden import data_files, differences
from test_report_support import add_findings, hostile_mbox, scan_case

from forensics.report import build
from forensics.report.charts import MAX_WIDTH, chart_prevalence
from forensics.report.facts import Month
from forensics.store import Store


def _case(tmp_path: Path) -> Path:
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "box.mbox").write_bytes(hostile_mbox(9))
    scan_case(tmp_path / "ev", tmp_path / "case")
    add_findings(tmp_path / "case")
    return tmp_path / "case"


def test_a_y2k_year_among_modern_mail_does_not_widen_the_prevalence_chart() -> None:
    # A date in year 1002 (a typo, or a forged header) among mail of 2002: 1,001 yearly bars.
    months = [Month(month="1002-07", messages=3, tracked=0), Month(month="2002-08", messages=500, tracked=40)]
    assert chart_prevalence(months).get_size_inches()[0] == MAX_WIDTH
    # 40 bars or fewer: the width grows with the bars, as before the cap.
    few = [Month(month=f"{2022 + m // 12}-{m % 12 + 1:02d}", messages=2, tracked=1) for m in range(30)]
    assert chart_prevalence(few).get_size_inches()[0] == 0.3 * 30 + 2.5


def test_no_figure_outlives_the_charts_phase(tmp_path: Path) -> None:
    case = _case(tmp_path)
    (tmp_path / "out").mkdir()
    with Store(case) as store:
        written, drawn = build._write_charts(store, tmp_path / "out")
    gc.collect()
    assert [d.stem for d in drawn] == ["chart_prevalence", "chart_providers", "chart_heatmap",
                                       "chart_leak_encodings", "chart_graph"]
    assert len(written) == 10 and all(d.svg.startswith(b"<?xml") for d in drawn)
    assert not [o for o in gc.get_objects() if isinstance(o, Figure)]


def test_tasks_this_process_takes_beside_a_helper_are_the_same_files(tmp_path: Path) -> None:
    case = _case(tmp_path)
    alone, shared = tmp_path / "alone", tmp_path / "shared"
    for out, helpers in ((alone, 0), (shared, 1)):
        out.mkdir()
        with Store(case) as store:
            tasks = build._tasks(store.conn, out)
            # Waiting at once: the helper is still starting, so this process writes most tasks.
            done = build._start(store, tasks, helpers)(True)
        assert set(done.rows) == {t.name for t in tasks if t.kind != "graphs"}
    assert len(data_files(alone)) >= 30
    assert differences(data_files(alone), data_files(shared)) == []
