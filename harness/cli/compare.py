"""`thinkbench compare BASE NEW`: paired regression test between two runs; exit 1 when a
comparison drops significantly by more than `--max-drop` (the CI gate), else 0."""
from __future__ import annotations

import argparse
import html
from pathlib import Path

from harness.files import atomic_write, check_writable_dir
from harness.registry import ConfigError
from harness.report.compare import Gate, compare, verdict
from harness.store import load_records


def table(result) -> str:
    """The comparisons as a Markdown table."""
    head = "| task | method@budget | n | base | new | new − base [95% CI] | test | p | Holm p | verdict |\n" \
           "|---|---|---|---|---|---|---|---|---|---|\n"
    return head + "".join(
        f"| {r.task} | {r.method}@{r.budget} | {r.n} | {r.base:.3f} | {r.new:.3f} | "
        f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.test} | {r.p:.3g} | {r.p_holm:.3g} | "
        f"{'FAIL' if r.fails else 'ok'} |\n" for r in result.itertuples())


def main(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1 or args.max_drop < 0:
        raise ConfigError(f"--alpha must be in (0, 1) and --max-drop >= 0, got {args.alpha} and {args.max_drop}")
    gate = Gate(args.max_drop, args.alpha)
    result = compare(load_records(args.base), load_records(args.new), gate, mid_p=args.mid_p)
    lines = [verdict(r, gate) for _, r in result.iterrows()]
    print("\n".join(lines))
    out = args.out or Path("reports") / f"compare-{Path(args.base).name}-vs-{Path(args.new).name}"
    check_writable_dir(out, "report directory")
    title = f"thinkbench compare: {Path(args.base).name} → {Path(args.new).name}"
    note = (f"Paired over the same problems (seeds averaged). Gate: fail when new − base < −{gate.max_drop:g} "
            f"and the Holm-adjusted p < {gate.alpha:g}.")
    md = f"# {title}\n\n{note}\n\n{table(result)}"
    atomic_write(out / "compare.md", md.encode())
    rows = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in lines)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(note)}</p><ul>{rows}</ul>"
            + result.to_html(index=False, border=0) + "</body></html>")
    atomic_write(out / "compare.html", page.encode())
    failed = int(result["fails"].sum())
    print(f"{failed} of {len(result)} comparisons fail the gate; report: {out / 'compare.html'}")
    return 1 if failed else 0


def add(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("compare", help="paired regression test of run NEW against run BASE (exit 1 on a drop)")
    c.add_argument("base", help="the reference run directory")
    c.add_argument("new", help="the run directory to test")
    c.add_argument("--max-drop", type=float, default=0.0, help="allowed accuracy drop (default 0)")
    c.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm (default 0.05)")
    c.add_argument("--mid-p", action="store_true", help="McNemar's mid-p instead of the exact test")
    c.add_argument("--out", type=Path, help="report directory (default: reports/compare-BASE-vs-NEW)")
    c.set_defaults(fn=main)
