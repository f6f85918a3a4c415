"""Stage 4: correlation across the case: the graph (networkx) and the prevalence metrics.

``sources`` normalises the evidence tables into temporary tables (filters applied in
SQL); ``graph`` aggregates them into edges and builds the graph; ``export`` writes it as
GraphML, GEXF and node-link JSON; ``metrics`` is the finalizer that fills the
``metrics_*`` tables. ``forensics.case`` is the notebook API over all of it.
"""

from forensics.correlate.graph import LEVELS, GraphOptions, build_graph, evidence_rows
from forensics.correlate.sources import Selection

__all__ = ["LEVELS", "GraphOptions", "Selection", "build_graph", "evidence_rows"]
