"""The report's drill-down: sample traces per cell (right and wrong, with verdicts and costs) and
one explored search tree per tree method, drawn beside what it cost."""
from __future__ import annotations

import html
import json

import pandas as pd
import plotly.graph_objects as go

from harness.report.stats import KEYS

SHOWN_PER_VERDICT = 2   # right and wrong traces shown per cell
TRACE_CHARS = 1500      # a trace longer than this is cut (the records keep it whole)


def _sample_html(r: pd.Series) -> str:
    verdict = ("error" if pd.notna(r["error"]) else "right" if r["correct"] >= 1 else
               "wrong" if r["correct"] <= 0 else f"{r['correct']:.2f} (expected over the pool)")
    trace = "" if pd.isna(r["trace"]) else str(r["trace"])
    cut = trace[:TRACE_CHARS] + (f"\n... ({len(trace) - TRACE_CHARS} more characters)" if len(trace) > TRACE_CHARS else "")
    err = f"<br>error: {html.escape(str(r['error']).splitlines()[0][:300])}" if pd.notna(r["error"]) else ""
    return (f"<div class='sample {verdict.split()[0]}'><b>{html.escape(verdict)}</b> · problem "
            f"{html.escape(str(r['problem_id']))} · seed {r['seed']} · answer <code>{html.escape(str(r['answer']))}</code>"
            f" · {r['generated_tokens']:.0f} generated tokens · {r['flops']:.3g} FLOPs · {r['wall_s']:.2f} s{err}"
            f"<pre>{html.escape(cut)}</pre></div>")


def pick_samples(g: pd.DataFrame, k: int = SHOWN_PER_VERDICT) -> pd.DataFrame:
    """Up to k right, k wrong and k errored rows of one cell group, first problems first
    (deterministic: the same report shows the same samples)."""
    g = g.sort_values(["problem_id", "seed"])
    err = g["error"].notna()
    return pd.concat([g[~err & (g["correct"] >= 1)].head(k), g[~err & (g["correct"] < 1)].head(k), g[err].head(k)])


def samples_html(records: pd.DataFrame) -> str:
    """One collapsible block per (task, checkpoint, method, budget) with its chosen samples."""
    blocks = []
    for key, g in records.groupby(KEYS, sort=True):
        task, ckpt, method, budget = key
        right = float(g["correct"].mean())
        shown = pick_samples(g)
        blocks.append(f"<details><summary>{html.escape(f'{task} · {ckpt} · {method}@{budget}')} — accuracy "
                      f"{right:.3f} over {len(g)} rows, {int(g['error'].notna().sum())} errors</summary>"
                      + "".join(_sample_html(r) for _, r in shown.iterrows()) + "</details>")
    return ("<h2 id='samples'>Samples per cell</h2><p>Up to two right, two wrong and two errored answers per "
            "cell, with what each cost. The trace is the completion behind the answer (for a vote, one of "
            "the samples that voted for it).</p>" + "".join(blocks))


def tree_layout(nodes: list[dict]) -> dict[int, tuple[float, float]]:
    """(depth, vertical position) per node id: leaves in depth-first order, parents centred over
    their children."""
    children: dict[int, list[int]] = {}
    for n in nodes:
        children.setdefault(n["parent"], []).append(n["id"])
    pos: dict[int, tuple[float, float]] = {}
    next_leaf = [0.0]

    def place(i: int, depth: int) -> float:
        kids = children.get(i, [])
        if not kids:
            y = next_leaf[0]
            next_leaf[0] += 1
        else:
            ys = [place(k, depth + 1) for k in kids]
            y = (min(ys) + max(ys)) / 2
        pos[i] = (depth, y)
        return y

    for root in children.get(-1, []):
        place(root, 0)
    return pos


def tree_figure(row: pd.Series) -> go.Figure:
    """One problem's explored tree: depth across, nodes coloured by the verifier's score, pruned
    nodes faded, the path to the answer in red; the title gives the problem's cost."""
    nodes = json.loads(row["tree"])["nodes"]
    pos = tree_layout(nodes)
    by_id = {n["id"]: n for n in nodes}
    fig = go.Figure()
    for chosen in (False, True):
        xs, ys = [], []
        for n in nodes:
            if n["parent"] in by_id and (n["chosen"] and by_id[n["parent"]]["chosen"]) == chosen:
                (x0, y0), (x1, y1) = pos[n["parent"]], pos[n["id"]]
                xs += [x0, x1, None]
                ys += [y0, y1, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=chosen,
                                 name="path to the answer" if chosen else "explored",
                                 line={"color": "#d62728" if chosen else "#bbbbbb", "width": 3 if chosen else 1}))
    hover = [f"depth {pos[n['id']][0]}<br>score {n['score']:.3f} · visits {n['visits']}"
             f"{' · finished' if n['done'] else ''}{'' if n['kept'] else ' · pruned'}<br>"
             + html.escape(n["step"][:80]) for n in nodes]
    fig.add_trace(go.Scatter(
        x=[pos[n["id"]][0] for n in nodes], y=[pos[n["id"]][1] for n in nodes], mode="markers",
        name="node (colour: verifier score)", hovertext=hover, hoverinfo="text",
        marker={"color": [n["score"] for n in nodes], "colorscale": "Viridis", "cmin": 0, "cmax": 1,
                "size": [11 if n["chosen"] else 7 for n in nodes],
                "opacity": [1.0 if n["kept"] else 0.35 for n in nodes],
                "symbol": ["square" if n["done"] else "circle" for n in nodes],
                "line": {"color": ["#d62728" if n["chosen"] else "white" for n in nodes], "width": 1},
                "colorbar": {"title": "score", "len": 0.6}}))
    verdict = "error" if pd.notna(row["error"]) else ("right" if row["correct"] >= 1 else "wrong")
    fig.update_layout(
        title=(f"{row['task']} · {row['method']}@{row['budget']} · problem {row['problem_id']}: {len(nodes)} nodes; "
               f"answer {row['answer']} ({verdict}); this problem cost {row['generated_tokens']:.0f} generated "
               f"tokens, {row['prompt_tokens']:.0f} prompt tokens, {row['flops']:.3g} FLOPs (policy + verifier)"),
        title_font_size=13, xaxis={"title": "depth (reasoning steps)", "dtick": 1},
        yaxis={"visible": False}, template="plotly_white", height=420, legend={"orientation": "h", "y": -0.2})
    return fig


def tree_rows(records: pd.DataFrame) -> pd.DataFrame:
    """One record per (task, checkpoint, tree method) to draw: the largest budget, first problem
    whose search finished with a right answer if any, else the first problem."""
    has = records[records["tree"].notna()] if "tree" in records else records.iloc[:0]
    picked = []
    for _, g in has.groupby(["task", "checkpoint", "method"], sort=True):
        top = g[g["budget"] == g["budget"].max()].sort_values(["problem_id", "seed"])
        right = top[top["correct"] >= 1]
        picked.append((right if len(right) else top).iloc[0])
    return pd.DataFrame(picked)


def trees_html(records: pd.DataFrame) -> str:
    """The tree section (empty when no tree method ran)."""
    rows = tree_rows(records)
    if rows.empty:
        return ""
    figs = "\n".join(tree_figure(r).to_html(full_html=False, include_plotlyjs=False) for _, r in rows.iterrows())
    return ("<h2 id='trees'>Search trees</h2><p>One problem per tree method at its largest budget: every "
            "step the search proposed, coloured by the verifier's score (faded: pruned; squares: finished "
            "solutions), with the path to its answer in red. The title gives what this one problem cost.</p>"
            + figs)
