"""Log axes that read plainly, shared by every report figure: one labelled tick per decade
(10^8, 10^9) instead of plotly's "8 9 100M 2 3 ...", or 1-2-5 steps on a range under a decade."""
from __future__ import annotations

import math
from collections.abc import Iterable

import plotly.graph_objects as go


def log_ticks(values: Iterable[float]) -> dict:
    """Tick settings for a log axis over `values` (non-positive ones ignored)."""
    v = [float(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x)) and x > 0]
    if v and math.log10(max(v) / min(v)) >= 1:
        return {"dtick": 1, "exponentformat": "power", "minor": {"ticks": "inside", "showgrid": True}}
    return {"dtick": "D2", "exponentformat": "power"}


def decade_ticks(fig: go.Figure) -> go.Figure:
    """Apply `log_ticks` to every log x-axis of `fig`, from the x values of its traces."""
    xs = [x for trace in fig.data if trace.x is not None for x in trace.x]
    fig.update_xaxes(selector={"type": "log"}, **log_ticks(xs))
    return fig
