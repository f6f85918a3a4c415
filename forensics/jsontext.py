"""JSON text of single values exactly as the ``json`` module writes them, for writers that
assemble their own lines (JSON Lines exports, node-link graph files) without its encoder."""

from __future__ import annotations

import math


def float_text(value: float) -> str:
    """A float as ``json`` writes it (``allow_nan``: NaN and the infinities as JavaScript names)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)
