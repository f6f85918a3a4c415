"""Stage 5: charts (matplotlib, Agg, no pyplot), PNG and SVG, byte-identical run to run.

Each ``chart_*`` function turns facts into a ``Figure`` (data in, figure out); a chart
whose data is absent or empty says so on the figure instead of failing. Determinism:
a fixed SVG hash salt, no dates or software names in metadata, the bundled DejaVu Sans,
glyphs drawn as paths, and a graph layout that depends on nothing but the data.
"""

from __future__ import annotations

import io
import sqlite3
import textwrap
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from forensics.report import facts
from forensics.report.facts import Cell, Count, Month

if TYPE_CHECKING:  # matplotlib's names of its settings (typing only: older releases lack the module)
    from matplotlib.typing import RcKeyType

RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "forensics-report",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "text.parse_math": False,  # '$' in a sender name is text, not TeX
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "figure.dpi": 100,
    "savefig.dpi": 110,
}
LABEL_MAX = 38
MAX_WIDTH = 0.3 * 40 + 2.5  # inches: the prevalence chart at its most bars but one outlier
BLUE, ORANGE, GREY = "#1f5f99", "#c8642a", "#777777"


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    stem: str  # file name without extension
    title: str
    figure: Figure
    empty: bool


@contextmanager
def style() -> Iterator[None]:
    """Fixed settings; missing-glyph warnings are expected on names in any script."""
    with matplotlib.rc_context(RC), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
        warnings.filterwarnings("ignore", message=r"Matplotlib currently does not support")
        yield


def short(label: str, limit: int = LABEL_MAX) -> str:
    """One line, control characters removed, long labels cut with an ellipsis.

    An e-mail address keeps its domain (who sent it is the informative part) and loses
    the middle of its local part instead.
    """
    text = "".join(c if c.isprintable() else " " for c in label).strip() or "(empty)"
    if len(text) <= limit:
        return text
    local, at, domain = text.rpartition("@")
    if at and local and len(domain) <= limit - 6:
        keep = limit - len(domain) - 2  # the ellipsis and the @
        return local[: keep] + "…@" + domain
    return text[: limit - 1] + "…"


def wrapped(label: str, width: int = 26, lines: int = 2) -> str:
    """A long name on at most ``lines`` lines of ``width`` characters (the last one cut)."""
    text = "".join(c if c.isprintable() else " " for c in label).strip() or "(empty)"
    parts = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [text]
    if len(parts) > lines:
        parts = parts[: lines - 1] + [short(" ".join(parts[lines - 1:]), width)]
    return "\n".join(parts)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def no_data(title: str, reason: str) -> Figure:
    fig = _figure(7, 2.2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.45, f"No data: {reason}", ha="center", va="center", color=GREY, fontsize=11)
    return fig


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    label: str
    messages: int
    tracked: int


def _month_index(month: str) -> int:
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def periods(months: Sequence[Month], max_bins: int = 40) -> tuple[str, list[Period]]:
    """Months grouped into consecutive months, quarters or years, whichever first gives at
    most ``max_bins`` bars over the whole span; periods without mail are kept (as zero),
    so a gap in time stays a gap on the chart."""
    first, last = _month_index(months[0].month), _month_index(months[-1].month)
    for unit, size in (("month", 1), ("quarter", 3), ("year", 12)):
        if (last // size - first // size) + 1 <= max_bins or unit == "year":
            break
    totals: dict[int, list[int]] = {}
    for m in months:
        slot = totals.setdefault(_month_index(m.month) // size, [0, 0])
        slot[0] += m.messages
        slot[1] += m.tracked

    def label(slot: int) -> str:
        year, rest = divmod(slot * size, 12)
        return {"month": f"{year}-{rest + 1:02d}", "quarter": f"{year} Q{rest // 3 + 1}", "year": str(year)}[unit]

    span = range(first // size, last // size + 1)
    return unit, [Period(label=label(i), messages=totals.get(i, [0, 0])[0], tracked=totals.get(i, [0, 0])[1])
                  for i in span]


def chart_prevalence(months: Sequence[Month] | None, undated: int = 0) -> Figure:
    title = "Tracker prevalence over time"
    if not months:
        return no_data(title, "no beacon findings in this case" if months is None else "no dated messages")
    unit, bins = periods(months)
    # Wide enough for 40 bars; a span even years cannot fit in 40 bars (a Y2K-bug date in year
    # 102 among mail of 2002: 1,900 yearly bars) gets thinner bars, not a 60,000-pixel image.
    fig = _figure(min(max(7.0, 0.3 * len(bins) + 2.5), MAX_WIDTH), 4.4)
    ax = fig.add_subplot()
    x = list(range(len(bins)))
    shares = [100.0 * b.tracked / b.messages if b.messages else 0.0 for b in bins]
    ax.bar(x, shares, color=BLUE, label=f"% of the {unit}'s messages with a beacon (left axis)")
    ax.set_ylim(0, 105)
    ax.set_ylabel("Messages with at least one beacon (%)")
    note = f"; {undated} undated message{'s' if undated != 1 else ''} not shown" if undated else ""
    ax.set_xlabel(f"{unit.capitalize()} of the Date header (UTC){note}")
    step = max(1, -(-len(bins) // 24))  # at most ~24 labels
    ax.set_xticks(x[::step], [b.label for b in bins][::step], rotation=60 if len(bins) > 8 else 0,
                  ha="right" if len(bins) > 8 else "center")
    ax.set_xlim(-0.6, len(bins) - 0.4)
    counts = ax.twinx()
    counts.plot(x, [b.messages for b in bins], color=ORANGE, marker=".", label="messages analysed (right axis)")
    counts.set_ylabel("Messages analysed (count)")
    counts.set_ylim(bottom=0, top=max(b.messages for b in bins) * 1.1 or 1)
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{title}, per {unit}")
    fig.legend(loc="outside lower center", ncols=2 if len(bins) > 10 else 1, frameon=False)
    return fig


def _barh(title: str, counts: Sequence[Count] | None, xlabel: str, absent: str, empty: str) -> Figure:
    if not counts:
        return no_data(title, absent if counts is None else empty)
    labels = [wrapped(c.label, 30) for c in counts][::-1]
    rows = sum(label.count("\n") + 1 for label in labels)
    fig = _figure(8, 1.3 + 0.22 * rows + 0.12 * len(labels))
    ax = fig.add_subplot()
    values = [c.value for c in counts][::-1]
    bars = ax.barh(range(len(values)), values, color=BLUE)
    ax.bar_label(bars, padding=3, fontsize=8)
    ax.set_yticks(range(len(values)), labels)
    ax.set_ylim(-0.6, len(values) - 0.4)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, max(values) * 1.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return fig


def chart_providers(counts: Sequence[Count] | None) -> Figure:
    return _barh("Top tracking providers", counts, "Messages with a beacon or link the provider operates (count)",
                 "no beacon or link findings in this case", "no finding was attributed to a provider")


def chart_leak_encodings(counts: Sequence[Count] | None) -> Figure:
    return _barh("Recipient-address leaks by encoding", counts,
                 "Messages leaking a recipient's address in this encoding (count)",
                 "no leak findings in this case", "no leak was found")


def _matrix(cells: Sequence[Cell]) -> tuple[list[str], list[str], list[list[int]]]:
    senders = sorted({c.sender for c in cells})
    providers = sorted({c.provider for c in cells})
    grid = [[0] * len(providers) for _ in senders]
    for c in cells:
        grid[senders.index(c.sender)][providers.index(c.provider)] = c.messages
    return senders, providers, grid


def chart_heatmap(cells: Sequence[Cell] | None) -> Figure:
    title = "Senders × tracking providers"
    if not cells:
        return no_data(title, "no beacon or link findings in this case" if cells is None
                       else "no finding was attributed to a provider")
    senders, providers, grid = _matrix(cells)
    fig = _figure(max(6.0, 3.6 + 0.45 * len(providers)), max(3.0, 2.6 + 0.3 * len(senders)))
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="Blues", aspect="auto", vmin=0)
    # One line per name, anchored at its column: wrapped names drift off their column when turned.
    ax.set_xticks(range(len(providers)), [short(p, 34) for p in providers], rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(range(len(senders)), [short(s) for s in senders])
    top = max(max(row) for row in grid) or 1
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=7,
                        color="white" if value > top / 2 else "black")
    ax.set_xlabel("Tracking provider")
    ax.set_ylabel("Sender (From address)")
    bar = fig.colorbar(image, ax=ax, label="Messages (count)", shrink=0.8)
    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return fig


def provider_sender_graph(cells: Sequence[Cell], senders: int = 15, providers: int = 12) -> nx.Graph:
    """A bipartite graph of the main actors: the busiest providers, and the busiest senders
    among those that use them (so no sender is drawn without an edge); message-count edges."""
    by_provider: dict[str, int] = {}
    for c in cells:
        by_provider[c.provider] = by_provider.get(c.provider, 0) + c.messages
    keep_p = set(sorted(by_provider, key=lambda k: (-by_provider[k], k))[:providers])
    by_sender: dict[str, int] = {}
    for c in cells:
        if c.provider in keep_p:
            by_sender[c.sender] = by_sender.get(c.sender, 0) + c.messages
    keep_s = set(sorted(by_sender, key=lambda k: (-by_sender[k], k))[:senders])
    graph = nx.Graph()
    for name in sorted(keep_s):
        graph.add_node(("sender", name), kind="sender", label=name, weight=by_sender[name])
    for name in sorted(keep_p):
        graph.add_node(("provider", name), kind="provider", label=name, weight=by_provider[name])
    for c in cells:
        if c.sender in keep_s and c.provider in keep_p:
            graph.add_edge(("sender", c.sender), ("provider", c.provider), weight=c.messages)
    return graph


def graph_layout(graph: nx.Graph) -> dict[object, tuple[float, float]]:
    """Senders in a left column, busiest first; providers in a right one, each at the mean
    height of its senders (the barycentre heuristic: few crossing edges).

    A two-column layout keeps long names legible and does not scatter disconnected pairs
    to the corners as a force layout does; the order is stable, so is the drawing.
    """
    def ranked(kind: str) -> list[object]:
        nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == kind]
        return sorted(nodes, key=lambda n: (-graph.nodes[n]["weight"], graph.nodes[n]["label"]))

    senders = ranked("sender")
    rank = {n: i for i, n in enumerate(senders)}

    def centre(node: object) -> float:
        heights = [rank[s] for s in graph.neighbors(node) if s in rank]
        return sum(heights) / len(heights) if heights else float(len(senders))

    providers = sorted(ranked("provider"), key=lambda n: (centre(n), -graph.nodes[n]["weight"], graph.nodes[n]["label"]))
    pos: dict[object, tuple[float, float]] = {}
    for x, nodes in ((0.0, senders), (1.0, providers)):
        for i, node in enumerate(nodes):
            pos[node] = (x, 1.0 - (i + 0.5) / len(nodes))
    return pos


def chart_graph(cells: Sequence[Cell] | None) -> Figure:
    title = "Who tracks whom: senders and the providers they use"
    if not cells:
        return no_data(title, "no beacon or link findings in this case" if cells is None
                       else "no finding was attributed to a provider")
    graph = provider_sender_graph(cells)
    rows = max(sum(1 for _, d in graph.nodes(data=True) if d["kind"] == k) for k in ("sender", "provider"))
    fig = _figure(11, max(3.5, 1.6 + 0.42 * rows))
    ax = fig.add_subplot()
    ax.set_axis_off()
    # Room for the labels beside the columns: 1 unit of x is about 4 inches here, and a
    # LABEL_MAX-character label at 8 pt about 2.6 inches.
    ax.set_xlim(-0.75, 1.75)
    ax.set_ylim(-0.02, 1.02)
    pos = graph_layout(graph)
    top = max(d["weight"] for _, d in graph.nodes(data=True))
    edge_top = max((d["weight"] for _, _, d in graph.edges(data=True)), default=1)
    widths = [0.6 + 4.0 * d["weight"] / edge_top for _, _, d in graph.edges(data=True)]
    nx.draw_networkx_edges(graph, pos, ax=ax, width=widths, edge_color="#9aa4ae", alpha=0.8)
    for kind, color, shape in (("sender", BLUE, "o"), ("provider", ORANGE, "s")):
        nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == kind]
        sizes = [80 + 600 * graph.nodes[n]["weight"] / top for n in nodes]
        nx.draw_networkx_nodes(graph, pos, nodelist=nodes, node_color=color, node_shape=shape,
                               node_size=sizes, ax=ax, label=f"{kind}s")
    for kind, shift, align in (("sender", -0.04, "right"), ("provider", 0.04, "left")):
        nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == kind]
        nx.draw_networkx_labels(graph, {n: (pos[n][0] + shift, pos[n][1]) for n in nodes},
                                labels={n: f"{short(graph.nodes[n]['label'])} ({graph.nodes[n]['weight']})"
                                        for n in nodes},
                                font_size=8, horizontalalignment=align, ax=ax)
    fig.legend(loc="outside lower center", ncols=2, frameon=False, markerscale=0.5)
    ax.set_title(f"{title}\n(the busiest providers and their senders; in brackets and as node size: messages; "
                 "edge width: messages from the sender with the provider)", fontsize=10)
    return fig


def render(fig: Figure, fmt: str) -> bytes:
    """Bytes of a figure without timestamps or version strings."""
    buffer = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    with style(), _layout_pass_lays_out_only(fig):
        fig.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def _drawing_disabled(renderer: Any) -> bool:
    """Whether ``renderer`` is inside ``RendererBase._draw_disabled``, which sets no-op drawing
    methods on the instance (the SVG backend's ``MixedModeRenderer`` has them set on the
    renderer it wraps)."""
    inner = getattr(renderer, "_renderer", None)
    return any("open_group" in getattr(r, "__dict__", {}) for r in (renderer, inner))


@contextmanager
def _layout_pass_lays_out_only(fig: Figure) -> Iterator[None]:
    """``savefig`` draws a figure that has a layout engine twice: a pass with drawing disabled,
    whose purpose is to run the layout engine, then the drawing itself with the layout
    engine off. The first pass also walks every artist, which costs as much as the layout
    (a fifth of the charts' time); here it runs the layout engine, as ``Figure.draw`` does
    first, and nothing else. The second pass draws the artists from scratch, so the bytes
    are the same (``tests/test_report_writers.py`` compares them with plain ``savefig``)."""
    draw = fig.draw

    def lay_out_or_draw(renderer: Any) -> None:
        if not _drawing_disabled(renderer):
            draw(renderer)
            return
        engine = fig.get_layout_engine()
        if fig.axes and engine is not None:
            try:
                engine.execute(fig)
            except ValueError:  # as Figure.draw has it ("can occur when resizing a window")
                pass

    fig.draw = lay_out_or_draw  # type: ignore[method-assign]
    try:
        yield
    finally:
        del fig.draw


def chart_makers(conn: sqlite3.Connection) -> list[tuple[str, str, Callable[[], Figure], bool]]:
    """Every chart of the report as (stem, title, maker, empty): the facts are read now (small
    aggregates), the figures are drawn only when their maker is called."""
    months = facts.prevalence_by_month(conn)
    undated = facts.undated(conn)
    providers = facts.top_providers(conn)
    cells = facts.sender_provider_cells(conn)
    encodings = facts.leak_encodings(conn)
    return [
        ("chart_prevalence", "Tracker prevalence over time", lambda: chart_prevalence(months, undated), not months),
        ("chart_providers", "Top tracking providers", lambda: chart_providers(providers), not providers),
        ("chart_heatmap", "Senders × tracking providers", lambda: chart_heatmap(cells), not cells),
        ("chart_leak_encodings", "Recipient-address leaks by encoding",
         lambda: chart_leak_encodings(encodings), not encodings),
        ("chart_graph", "Senders and providers graph", lambda: chart_graph(cells), not cells),
    ]


def iter_charts(conn: sqlite3.Connection) -> Iterator[Chart]:
    """The report's charts one at a time: a figure (its canvas, artists and text paths: tens of
    MB for a large one) need not outlive its rendering, so drop each before taking the next."""
    for stem, title, make, empty in chart_makers(conn):
        with style():
            figure = make()
        yield Chart(stem=stem, title=title, figure=figure, empty=empty)


def case_charts(conn: sqlite3.Connection) -> list[Chart]:
    """Every chart of the report, from the case (each says "no data" when it has none)."""
    return list(iter_charts(conn))


@dataclass(frozen=True, slots=True, kw_only=True)
class Drawn:
    """A chart once written to its files: what the page says about it, and its SVG."""

    stem: str
    title: str
    empty: bool
    svg: bytes


def write_chart(chart: Chart, out: Path) -> list[Path]:
    """Save a chart as ``STEM.png`` and ``STEM.svg`` in ``out``."""
    paths = []
    for fmt in ("png", "svg"):
        path = out / f"{chart.stem}.{fmt}"
        path.write_bytes(render(chart.figure, fmt))
        paths.append(path)
    return paths
