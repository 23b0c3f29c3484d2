"""The comparison report: accuracy vs compute per method and task, with 95 % bands.

One self-contained HTML file (plotly.js is inlined: it opens offline), `summary.md`, and the
data behind them (`records.parquet`, `records.csv`, `summary.csv`). The drill-down (samples,
search trees) is in `samples.py`, what produced the run in `provenance.py`.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from harness.files import atomic_write, check_writable_dir
from harness.report import difficulty
from harness.report import fits as fitting
from harness.report.axes import decade_ticks, log_ticks
from harness.report.colors import color_for
from harness.report.provenance import provenance_html, provenance_markdown
from harness.report.samples import samples_html, trees_html
from harness.report.stats import (
    TOKEN_AXES,
    aggregate,
    efficiency,
    envelopes,
    paired_differences,
)
from harness.report.training import has_training, training_figure, training_table
from harness.store import load_failures, load_records

# x-axis choices (column, label); the first is the default view. FLOPs come first because they
# alone count every model call at its price: the verifier's (a PRM reads each solution, which shows
# in prompt tokens and FLOPs, never in generated tokens) and every checkpoint's size.
AXES = [("flops", "inference FLOPs / problem (policy + verifier)"),
        ("generated_tokens", "generated tokens / problem (policy only: verifier and prompts not counted)"),
        ("wall_s", "wall seconds / problem (policy + verifier)")]


def _series(agg: pd.DataFrame, task: str) -> list[tuple[str, pd.DataFrame]]:
    """(name, points) per checkpoint × method, `sample` last so that it is drawn on top (its
    points coincide with majority@1 and best_of_n@1)."""
    sub = agg[agg["task"] == task]
    out = [(f"{m} · {c}" if sub["checkpoint"].nunique() > 1 else m, g.sort_values("budget"))
           for (c, m), g in sub.groupby(["checkpoint", "method"], sort=True)]
    return sorted(out, key=lambda s: s[0].split(" · ")[0] == "sample")


def axes_for(sub: pd.DataFrame) -> list[tuple[str, str]]:
    """The x-axis choices for a task's points, default first: FLOPs, unless no point has any
    (a backend that cannot count them), where a log axis would have nothing to show."""
    if (sub["flops"] > 0).any():
        return AXES
    return [a for a in AXES if a[0] != "flops"] + [a for a in AXES if a[0] == "flops"]


def _envelope_name(label: str, col: str, several: bool) -> str:
    if col in TOKEN_AXES:
        return "compute-optimal envelope (unverified methods)" + (f" · {label}" if several else "")
    return "compute-optimal envelope" + (" (all checkpoints)" if several else "")


def task_figure(agg: pd.DataFrame, task: str, failed: pd.DataFrame | None = None) -> go.Figure:
    """Accuracy vs compute for one task: a line per method with its 95 % band, the
    compute-optimal envelope, and a menu that switches the x-axis (data for every axis is
    precomputed: the envelope differs by axis).

    The envelope is a staircase through measured points only (the best accuracy reachable with at
    most that compute), never a line between them that no configuration runs. On a token axis
    there is one envelope per checkpoint (`envelopes`). Oracle curves (they know the answers) are
    dotted and named as the upper bound; budgets label the points; cells that failed are listed
    on the plot, never drawn at accuracy 0.
    """
    sub = agg[agg["task"] == task]
    axes = axes_for(sub)
    fig = go.Figure()
    # Per axis, the full restyle of every trace (x, y, name, hover text, visible), in trace order.
    views: dict[str, dict[str, list]] = {col: {"x": [], "y": [], "name": [], "hovertext": [], "visible": []}
                                         for col, _ in axes}

    def add(col: str, x: list, y: list, name: str, text: list | None = None, visible: bool = True) -> None:
        for k, v in (("x", x), ("y", y), ("name", name), ("hovertext", text), ("visible", visible)):
            views[col][k].append(v)

    default = axes[0][0]
    checkpoints = sorted(sub["checkpoint"].unique())
    for name, g in _series(agg, task):
        label, ckpt = g["method"].iloc[0], g["checkpoint"].iloc[0]
        color = color_for(label, g["method_name"].iloc[0] if "method_name" in g else None)
        oracle = bool(g["oracle"].any())
        if oracle:
            name = f"{name} (oracle: upper bound)"
        # Several checkpoints: one colour per method, one dash per checkpoint ("dash" is the envelope).
        dash = "dot" if oracle else ["solid", "dashdot", "longdash", "longdashdot"][checkpoints.index(ckpt) % 4]
        band_y = g["ci_high"].tolist() + g["ci_low"].tolist()[::-1]
        text = [f"{name} @ {b}<br>acc {a:.3f} [{lo:.3f}, {hi:.3f}]<br>n={n}"
                + ("<br>knows the answers: an upper bound, not a method" if oracle else "")
                for b, a, lo, hi, n in zip(g["budget"], g["accuracy"], g["ci_low"], g["ci_high"], g["n"])]
        for col, _ in axes:
            x = g[col].tolist()
            add(col, x + x[::-1], band_y, name)
            add(col, x, g["accuracy"].tolist(), name, text)
        x = g[default].tolist()
        fig.add_trace(go.Scatter(x=x + x[::-1], y=band_y, mode="lines", fill="toself", fillcolor=color,
                                 opacity=0.08 if oracle else 0.18, line={"width": 0}, hoverinfo="skip",
                                 legendgroup=name, showlegend=False, name=name))
        # Error bars too: a method with one point (greedy) has no band to draw.
        error = {"type": "data", "array": (g["ci_high"] - g["accuracy"]).tolist(),
                 "arrayminus": (g["accuracy"] - g["ci_low"]).tolist(), "thickness": 1, "width": 3}
        is_sample = label == "sample"
        fig.add_trace(go.Scatter(x=x, y=g["accuracy"].tolist(), mode="lines+markers+text", name=name,
                                 line={"color": color, "dash": dash, "width": 1.5 if oracle else 2},
                                 marker={"symbol": "diamond-open" if is_sample else "circle",
                                         "size": 12 if is_sample else 7, "line": {"width": 2} if is_sample else {}},
                                 legendgroup=name, hovertext=text, error_y=error,
                                 text=[str(b) for b in g["budget"]], textposition="top center",
                                 textfont={"size": 9, "color": color},
                                 hovertemplate="%{hovertext}<br>x=%{x:.3g}<extra></extra>"))
    if sub["method"].nunique() > 1:
        fronts = {col: envelopes(sub, col) for col, _ in axes}
        several = sub["checkpoint"].nunique() > 1
        # Every axis restyles the same traces, so there are as many envelope traces as the axis
        # with the most envelopes needs; the others hide theirs.
        for k in range(max(len(f) for f in fronts.values())):
            for col, _ in axes:
                if k < len(fronts[col]):
                    label, front = fronts[col][k]
                    add(col, front[col].tolist(), front["accuracy"].tolist(),
                        _envelope_name(label, col, several),
                        [f"{m}@{b} · {c}" for m, b, c in front[["method", "budget", "checkpoint"]]
                         .itertuples(index=False)], visible=len(front) > 0)
                else:
                    add(col, [], [], "", [], False)
            shown = views[default]
            fig.add_trace(go.Scatter(x=shown["x"][-1], y=shown["y"][-1], mode="lines+markers",
                                     name=shown["name"][-1], visible=shown["visible"][-1],
                                     line={"color": "black", "dash": "dash", "shape": "hv"},
                                     marker={"symbol": "circle-open", "size": 9, "color": "black"},
                                     hovertext=shown["hovertext"][-1],
                                     hovertemplate="envelope: %{hovertext}<extra></extra>"))
    ticks = {col: log_ticks(sub[col]) for col, _ in axes}
    buttons = [dict(label=label, method="update",
                    args=[views[col], {"xaxis.title.text": label} | {f"xaxis.{k}": v for k, v in ticks[col].items()}])
               for col, label in axes]
    lost = failed[failed["task"] == task] if failed is not None and len(failed) else pd.DataFrame()
    if len(lost):
        names = [f"{m}@{b}" + (f" · {c}" if len(checkpoints) > 1 else "") + (f" · seed {s}" if s else "")
                 for m, b, c, s in lost[["method", "budget", "checkpoint", "seed"]].itertuples(index=False)]
        fig.add_annotation(text=f"<b>{len(lost)} failed cell(s), not plotted:</b> " + ", ".join(names[:8])
                           + (" ..." if len(names) > 8 else "") + " (see Failed cells)",
                           xref="paper", yref="paper", x=0, y=-0.22, showarrow=False, align="left",
                           font={"color": "#b00020", "size": 12})
    fig.update_layout(title=f"{task}: accuracy vs test-time compute (95 % CI bands)",
                      xaxis={"type": "log", "title": axes[0][1]} | ticks[default],
                      yaxis={"title": "accuracy", "range": [0, 1.02]}, template="plotly_white",
                      height=520, legend={"title": "method"},
                      updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right",
                                        y=1.15, yanchor="top")])
    return fig


def _fmt_acc(r: pd.Series) -> str:
    return f"{r.accuracy:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"


def summary_table(agg: pd.DataFrame, failed: pd.DataFrame | None = None) -> pd.DataFrame:
    """The report's table: one row per cell group, accuracy with its interval, mean costs, the
    seeds averaged; a cell group with no records whose cells failed shows as FAILED."""
    table = pd.DataFrame({
        "task": agg["task"], "checkpoint": agg["checkpoint"], "method": agg["method"],
        "budget": agg["budget"], "seeds": agg["seeds"], "n": agg["n"],
        "accuracy [95% CI]": agg.apply(_fmt_acc, axis=1),
        "gen tokens/problem": agg["generated_tokens"].map(lambda v: f"{v:.1f}"),
        "FLOPs/problem": agg["flops"].map(lambda v: f"{v:.3g}"),
        "wall s/problem": agg["wall_s"].map(lambda v: f"{v:.3g}"),
        "errors": agg["errors"]})
    if failed is not None and len(failed):
        done = set(zip(agg["task"], agg["checkpoint"], agg["method"], agg["budget"]))
        lost = (failed.groupby(["task", "checkpoint", "method", "budget"], as_index=False)
                .agg(seeds=("seed", "nunique")))
        lost = lost[[k not in done for k in zip(lost["task"], lost["checkpoint"], lost["method"], lost["budget"])]]
        table = pd.concat([table, lost.assign(n=0, **{"accuracy [95% CI]": "FAILED", "gen tokens/problem": "",
                                                     "FLOPs/problem": "", "wall s/problem": "", "errors": ""})],
                          ignore_index=True).sort_values(["task", "checkpoint", "method", "budget"], kind="stable")
    return table


def efficiency_table(eff: pd.DataFrame) -> pd.DataFrame:
    """The efficiency rows (`stats.efficiency` on FLOPs, with records) as the report shows them."""
    def paired(r: pd.Series) -> str:
        if pd.isna(r["paired difference"]):
            return "n/a"
        return f"{r['paired difference']:+.3f} [{r['paired ci_low']:+.3f}, {r['paired ci_high']:+.3f}]"

    return pd.DataFrame({
        "task": eff["task"], "checkpoint": eff["checkpoint"], "reference": eff["reference"],
        "accuracy": eff["accuracy"].map(lambda v: f"{v:.3f}"),
        "FLOPs": eff["flops"].map(lambda v: f"{v:.3g}"),
        "cheapest achievable": eff["achievable"],
        "its accuracy": eff["achievable accuracy"].map(lambda v: f"{v:.3f}"),
        "its FLOPs": eff["achievable flops"].map(lambda v: f"{v:.3g}"),
        "efficiency ×": eff["ratio"].map(lambda v: f"{v:.2f}"),
        "its − reference, paired [95% CI]": eff.apply(paired, axis=1),
        "randomized mixture": eff["mixture"],
        "mixture FLOPs (expected)": eff["mixture flops"].map(lambda v: f"{v:.3g}"),
        "mixture ×": eff["mixture ratio"].map(lambda v: f"{v:.2f}")})


def _markdown(table: pd.DataFrame) -> str:
    head = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    return head + "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in table.itertuples(index=False))


def paired_table(records: pd.DataFrame) -> pd.DataFrame:
    """Paired differences against single-sample accuracy (`sample`), else against `greedy`
    (found by the registered method name on the records, whatever their labels)."""
    labels = {name: sorted(set(records.loc[records["method_name"] == name, "method"]))
              for name in ("sample", "greedy")}
    baseline = next((found[0] for found in labels.values() if found), None)
    diffs = paired_differences(records, baseline) if baseline else pd.DataFrame()
    if diffs.empty:
        return diffs
    return pd.DataFrame({
        "task": diffs["task"], "checkpoint": diffs["checkpoint"],
        "comparison": diffs["method"] + "@" + diffs["budget"].astype(str) + " − " + diffs["baseline"],
        "n": diffs["n"], "difference [95% CI]": diffs.apply(
            lambda r: f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]", axis=1)})


def fit_axis(agg: pd.DataFrame) -> str | None:
    """The axis the scaling curves are fitted on: FLOPs where every point has some (a fit lives
    on one axis; see `fits`), else generated tokens, else none (imports without costs)."""
    for col in ("flops", "generated_tokens"):
        if len(agg) and (agg[col] > 0).all():
            return col
    return None


def section(title: str, note: str, table: pd.DataFrame, figures: list[go.Figure] = (), level: int = 2,
            anchor: str | None = None) -> tuple[str, str]:
    """One report section as (HTML, Markdown): heading, note, figures (HTML only), table."""
    ident = f" id='{anchor}'" if anchor else ""
    figs = "\n".join(decade_ticks(f).to_html(full_html=False, include_plotlyjs=False) for f in figures)
    return (f"<h{level}{ident}>{html.escape(title)}</h{level}><p>{html.escape(note)}</p>{figs}"
            + table.to_html(index=False, escape=True, border=0),
            f"\n{'#' * level} {title}\n\n{note}\n\n{_markdown(table)}")


def fits_section(records: pd.DataFrame, agg: pd.DataFrame) -> tuple[str, str]:
    """Fitted scaling curves (coverage power law, accuracy sigmoids, compute to the best measured
    accuracy) and the compute-optimal choice per difficulty bin: (HTML, Markdown)."""
    axis = fit_axis(agg)
    if axis is None:
        return "", ""
    parts = []
    fits = fitting.fit_accuracy(records, axis) + fitting.fit_coverage(records, axis)
    if fits:
        targets = {t: fitting.best_measured(agg, t) for t in agg["task"].unique()}
        parts.append(section(
            "Fitted scaling curves",
            f"On {dict(AXES)[axis]}. Coverage (oracle_best_of_n): log c(k) = a·k^b (Large Language Monkeys). "
            "Accuracy: R0 + (A − R0)/(1 + (C_mid/C)^B), a sigmoid in log-compute. Bands and intervals: 95 % "
            "bootstrap over problems (the same draw for every budget of a curve). Residuals are observed − "
            "fitted, beside each point's interval. A fit that cannot be trusted is dashed and named "
            "'(flagged)', with the reason in the table. Compute to target inverts the curve at the task's "
            "best measured (non-oracle) accuracy; a target above the fitted plateau is 'not reached', never "
            "extrapolated.",
            fitting.fits_table(fits, targets), [fitting.fit_figure(fits, t) for t in sorted({f.task for f in fits})],
            anchor="fits"))
    total = fitting.fit_total_compute(records) if has_training(agg) else []
    if total:
        parts.append(section(
            "Fitted curves on training + test-time compute",
            "One sigmoid per trainer × method@budget through the base and the trainer's checkpoints, on "
            "post-training FLOPs + test FLOPs over all problems. Fewer than 4 points leave the parameters "
            "unidentified (flagged, no interval): use 3 or more trainer budgets.",
            fitting.fits_table(total), [fitting.fit_figure(total, t) for t in sorted({f.task for f in total})],
            level=3))
    try:
        diff = difficulty.compute_optimal_by_difficulty(records, axis)
    except ValueError:  # no pass@1 to bin by: no sample pool and no greedy
        diff = None
    if diff is not None and len(diff.table):
        shown = sorted({(t, c) for t, c in zip(diff.table["task"], diff.table["checkpoint"])})
        parts.append(section(
            "Compute-optimal per difficulty bin (Snell et al.)",
            "Problems split in two halves by a hash of their id. Difficulty = each problem's pass@1 from the "
            "sample pool, binned by quantiles on half 1. At each compute level the best configuration per bin "
            "(bins may spend unequally within the level) and the single best configuration are chosen on half "
            "1 and scored on half 2, paired, with a 95 % interval. The bins know each problem's own pass@1 "
            "(oracle difficulty): the gain is what a perfect difficulty predictor could buy, an upper bound.",
            difficulty.difficulty_table(diff), [difficulty.difficulty_figure(diff, t, c) for t, c in shown],
            anchor="difficulty"))
    return "".join(h for h, _ in parts), "".join(m for _, m in parts)


def completeness(run_dir: str | Path, failures: pd.DataFrame) -> str:
    """"N of M cells finished", which failed and how many are not run yet. M is the cells the
    run directory's matrix names (`run.json`); a directory without one (an import) counts its
    finished parts only."""
    root = Path(run_dir)
    done = {p.stem.removeprefix("cell-") for p in (root / "records").glob("cell-*.parquet")}
    try:
        planned = dict(json.loads((root / "run.json").read_text()).get("cells", {}))
    except (OSError, ValueError):
        planned = {}
    failed = [str(c) for c in failures["cell"]] if len(failures) else []
    if not planned:
        text = f"{len(done) or len(list((root / 'records').glob('*.parquet')))} cells finished"
    else:
        finished = len(done & set(planned))
        waiting = len(planned) - finished - len(failed)
        text = f"{finished} of {len(planned)} cells finished"
        if finished == len(planned):
            return text + "."
        text += f"; {len(failed)} failed" if failed else ""
        text += f"; {waiting} not run yet (run in progress or stopped)" if waiting > 0 else ""
    if failed:
        text += ": failed " + ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20 else "")
    return text + "."


def write_report(run_dir: str | Path, out: str | Path) -> Path:
    """Build index.html and summary.md for the run in `run_dir` into `out`; returns index.html."""
    records = load_records(run_dir)
    failures = load_failures(run_dir)
    agg = aggregate(records)
    out = Path(out)
    check_writable_dir(out, "report directory")
    run = Path(run_dir).name
    table = summary_table(agg, failures)
    paired = paired_table(records)
    # The reference curves: best-of-N with a real (not oracle) verifier, read from the records.
    references = sorted(set(records.loc[(records["method_name"] == "best_of_n")
                                        & (records["verifier"] != "oracle"), "method"]))
    eff = pd.concat([efficiency(agg, r, records=records) for r in references]) if references else pd.DataFrame()
    eff_html = eff_md = paired_html = paired_md = failed_html = failed_md = train_html = train_md = ""
    if len(eff):
        eff_html, eff_md = section(
            "Compute-optimal envelope vs best-of-N: the cheapest configuration that matches it",
            "FLOPs per problem, policy + verifier (inference only; a checkpoint's training compute is not "
            "counted). 'cheapest achievable' is a measured configuration with at least the reference's "
            "accuracy; 'efficiency ×' is the reference's FLOPs over its FLOPs. 'randomized mixture' runs the "
            "second configuration on a random fraction of the problems and the first on the rest: it reaches "
            "the reference's accuracy in expectation, not on every run. The paired difference (same "
            "problems) shows whether 'at least as accurate' is more than noise.", efficiency_table(eff))
    if len(paired):
        paired_html, paired_md = section("Paired differences (over the same problems)",
                                         "Each method at its largest budget minus one sample (or greedy).", paired)
    if len(failures):
        shown_f = failures[["task", "checkpoint", "method", "budget", "seed"]].assign(
            error=failures["error"].map(lambda e: str(e).splitlines()[0][:200]))
        failed_html, failed_md = section(
            f"Failed cells ({len(failures)})", "These cells raised; they are not plotted and not counted (no "
            "point at 0). The next `thinkbench run` reruns them.", shown_f)
    if has_training(agg):
        train_html, train_md = section(
            "Training + test-time compute",
            "Checkpoints made by the matrix's trainers from one base. 'train FLOPs' is what the trainer added "
            "to the base (6 · params · training tokens, a reference model's scoring, and the sampling that "
            "made its data or rollouts); 'test FLOPs' is the method's inference over all evaluated problems. "
            "Their sum is the x-axis of the training plot.",
            training_table(agg), [training_figure(agg, t) for t in sorted(agg["task"].unique())])
    fits_html, fits_md = fits_section(records, agg)
    complete = completeness(run_dir, failures)
    summary = (
        f"# thinkbench report: {run}\n\n**{complete}**\n\n{len(records)} records, {agg['task'].nunique()} task(s), "
        f"{agg['method'].nunique()} method(s). Accuracy is the mean over problems with a 95 % "
        "interval; maj@k and pass@k are exact expectations over the sample pool.\n\n" + _markdown(table)
        + failed_md + train_md + paired_md + eff_md + fits_md + provenance_markdown(run_dir, records))
    samples, trees = samples_html(records), trees_html(records)
    trees_link = ' · <a href="#trees">search trees</a>' if trees else ""
    fits_link = ' · <a href="#fits">fitted curves</a>' if "id='fits'" in fits_html else ""
    figures = "\n".join(task_figure(agg, t, failures).to_html(full_html=False, include_plotlyjs=False)
                        for t in sorted(agg["task"].unique()))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>thinkbench · {html.escape(run)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:14px}}td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}
th{{background:#f4f4f4}}pre{{white-space:pre-wrap;background:#f8f8f8;padding:6px;font-size:12px}}
.sample{{margin:6px 0 6px 1em}}.sample.right b{{color:#1a7f37}}.sample.wrong b,.sample.error b{{color:#b00020}}
summary{{cursor:pointer;margin:3px 0}}</style></head><body>
<h1>thinkbench report: {html.escape(run)}</h1>
<p class="nav"><a href="#summary">summary</a>{fits_link} · <a href="#samples">samples per cell</a>{trees_link} ·
<a href="#provenance">provenance</a> · data: <a href="records.parquet">records.parquet</a>,
<a href="records.csv">records.csv</a>, <a href="summary.csv">summary.csv</a></p>
<p><b>{html.escape(complete)}</b></p>
<p>{len(records)} records. Accuracy = mean over problems, shaded bands = 95 % confidence intervals.
maj@k and pass@k are exact expectations over all k-subsets of each problem's sample pool; costs are
the expected cost of drawing k. The x-axis is inference FLOPs per problem by default, the verifier's
included; the menu at the top right of a plot changes it. The dashed envelope is a staircase through
measured configurations (the best accuracy reachable with at most that compute); on the
generated-tokens axis, which leaves out verifier compute and prices every checkpoint's tokens alike,
each checkpoint has its own envelope over its methods without a verifier.</p>
{figures}
<h2 id="summary">Summary</h2>
{table.to_html(index=False, escape=True, border=0)}
{failed_html}
{train_html}
{paired_html}
{eff_html}
{fits_html}
{samples}
{trees}
{provenance_html(run_dir, records)}
</body></html>"""
    # Every file is built before any replaces the old one (a kill or a full disk leaves the
    # previous report whole, never half of one run beside the other). The data files are for a
    # notebook: every record, and the summary's numbers.
    files = {"index.html": page.encode("utf-8"), "summary.md": summary.encode("utf-8"),
             "records.parquet": records.to_parquet(index=False),
             "records.csv": records.to_csv(index=False).encode("utf-8"),
             "summary.csv": agg.to_csv(index=False).encode("utf-8")}
    for name, data in files.items():
        atomic_write(out / name, data)
    index = out / "index.html"
    return index
