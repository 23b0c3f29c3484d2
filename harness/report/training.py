"""Training and test-time compute on one axis: the report's answer to "more training or more
search?" for runs whose matrix has a `train:` section.

A point is (checkpoint, method, budget). Its x is the compute added to the common base to get
these answers: the trainer's FLOPs (training plus sampling its data; 0 for the base) plus the
test-time FLOPs over the evaluated problems. A curve is one trainer with one test-time method at
one budget, through the trainer's budgets; the base's own points start every comparison.
"""
from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go

from harness.report.colors import color_for

# `train:` checkpoints are named `<trainer label>@<budget>` (`-s<seed>` with several seeds).
TRAINED_NAME = re.compile(r"^(?P<trainer>.+)@(?P<budget>\d+)(?:-s\d+)?$")


def with_total_compute(agg: pd.DataFrame) -> pd.DataFrame:
    """`agg` (one row per task, checkpoint, method, budget) with `trainer` (the curve's trainer
    label; "base" for a checkpoint no trainer made), `train_budget` and `total_flops`."""
    out = agg.copy()
    trained = out["post_train_flops"] > 0
    names = out["checkpoint"].map(lambda c: TRAINED_NAME.match(c))
    out["trainer"] = [m["trainer"] if t and m else ("base" if not t else c)
                      for c, m, t in zip(out["checkpoint"], names, trained)]
    out["train_budget"] = [int(m["budget"]) if t and m else 0 for m, t in zip(names, trained)]
    out["total_flops"] = out["post_train_flops"] + out["flops"] * out["n"]
    return out


def has_training(agg: pd.DataFrame) -> bool:
    """Whether any checkpoint of the run was made by a trainer from a base."""
    return bool((agg["post_train_flops"] > 0).any())


def training_figure(agg: pd.DataFrame, task: str) -> go.Figure:
    """Accuracy vs total compute (post-training + test-time) for one task: a line per trainer ×
    method@budget through the training budgets, starting from the base's point."""
    sub = with_total_compute(agg[agg["task"] == task])
    fig = go.Figure()
    base = sub[sub["trainer"] == "base"]
    trainers = sorted(t for t in sub["trainer"].unique() if t != "base")
    for i, ((method, budget), g) in enumerate(sub.groupby(["method", "budget"], sort=True)):
        start = base[(base["method"] == method) & (base["budget"] == budget)]
        for trainer in trainers:
            line = pd.concat([start, g[g["trainer"] == trainer]]).sort_values("total_flops")
            if line.empty or (line["trainer"] == "base").all():
                continue
            name = f"{trainer} · {method}" + (f"@{budget}" if budget > 1 else "")
            text = [f"{c} · {method}@{budget}<br>acc {a:.3f} [{lo:.3f}, {hi:.3f}]<br>"
                    f"train {p:.3g} + test {t:.3g} FLOPs"
                    for c, a, lo, hi, p, t in zip(line["checkpoint"], line["accuracy"], line["ci_low"],
                                                  line["ci_high"], line["post_train_flops"],
                                                  line["flops"] * line["n"])]
            error = {"type": "data", "array": (line["ci_high"] - line["accuracy"]).tolist(),
                     "arrayminus": (line["accuracy"] - line["ci_low"]).tolist(), "thickness": 1, "width": 3}
            fig.add_trace(go.Scatter(
                x=line["total_flops"].tolist(), y=line["accuracy"].tolist(), mode="lines+markers", name=name,
                text=text, error_y=error, hovertemplate="%{text}<extra></extra>",
                line={"color": color_for(trainer),
                      "dash": ["solid", "dot", "dash", "dashdot", "longdash"][i % 5]}))
    fig.update_layout(title=f"{task}: accuracy vs training + test-time compute (95 % CI)",
                      xaxis={"type": "log", "title": "FLOPs added to the base: post-training (with its data) "
                                                     "+ test-time over the evaluated problems"},
                      yaxis={"title": "accuracy", "range": [0, 1.02]}, template="plotly_white", height=520,
                      legend={"title": "trainer · test-time method"})
    return fig


def training_table(agg: pd.DataFrame) -> pd.DataFrame:
    """One row per trained checkpoint and method@budget: its training FLOPs, the test FLOPs over
    the evaluated problems, their total and the accuracy, base rows first."""
    sub = with_total_compute(agg).sort_values(["task", "trainer", "train_budget", "method", "budget"],
                                              key=lambda s: s.map(lambda v: "" if v == "base" else v))
    return pd.DataFrame({
        "task": sub["task"], "checkpoint": sub["checkpoint"], "method": sub["method"], "budget": sub["budget"],
        "accuracy [95% CI]": [f"{a:.3f} [{lo:.3f}, {hi:.3f}]"
                              for a, lo, hi in zip(sub["accuracy"], sub["ci_low"], sub["ci_high"])],
        "train FLOPs": sub["post_train_flops"].map(lambda v: f"{v:.3g}"),
        "test FLOPs (all problems)": (sub["flops"] * sub["n"]).map(lambda v: f"{v:.3g}"),
        "total FLOPs": sub["total_flops"].map(lambda v: f"{v:.3g}")})
