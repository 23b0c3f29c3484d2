"""`thinkbench compare BASE NEW`: paired regression test between two runs; exit 1 when the gate
fails (a significant drop beyond `--max-drop`, or, with `--require-non-inferiority`, a drop not
shown to be within it; or a comparison missing or failed in the new run), else 0."""
from __future__ import annotations

import argparse
import html
from pathlib import Path

from harness.files import atomic_write, check_writable_dir
from harness.report.compare import Comparison, Gate, compare, verdict
from harness.store import load_failures, load_records


def table(result: Comparison) -> str:
    """The comparisons as a Markdown table."""
    g = result.gate
    head = (f"| task | method@budget | n | base | new | new − base [{g.level} CI] | test (one-sided) | p | Holm p "
            "| verdict |\n|---|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {r.task} | {r.method}@{r.budget} | {r.n} | {r.base:.3f} | {r.new:.3f} | "
        f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.test} | {r.p:.3g} | {r.p_holm:.3g} | "
        f"{'FAIL' if r.fails else 'ok'} |\n" for r in result.table.itertuples())


def unmatched_lines(result: Comparison) -> list[str]:
    """One line per comparison that could not be made (FAIL when it counts against the gate)."""
    return [f"{'FAIL' if r.fails else 'note'}  {r.comparison}: {r.why}"
            + ("" if r.fails or "only in the new run" in r.why else " (allowed: --allow-missing)")
            for r in result.unmatched.itertuples()]


def main(args: argparse.Namespace) -> int:
    gate = Gate(args.max_drop, args.alpha, "non-inferiority" if args.require_non_inferiority else "drop",
                args.allow_missing)
    result = compare(load_records(args.base), load_records(args.new), gate,
                     load_failures(args.base), load_failures(args.new))
    k = len(result.table)
    lines = [verdict(r, gate, k) for _, r in result.table.iterrows()] + unmatched_lines(result) \
        + [f"note  {n}" for n in result.notes]
    print(f"rule: {gate.says()}; intervals are {gate.level} (their ends are the one-sided tests at alpha, "
          "before Holm)")
    print("\n".join(lines))
    out = args.out or Path("reports") / f"compare-{Path(args.base).name}-vs-{Path(args.new).name}"
    check_writable_dir(out, "report directory")
    title = f"thinkbench compare: {Path(args.base).name} → {Path(args.new).name}"
    note = (f"Paired over the same problems (seeds averaged). Gate: {gate.says()}. Intervals are {gate.level}: "
            f"their ends are the one-sided tests at alpha {gate.alpha:g} before Holm. 0/1 scores: "
            "continuity-corrected score test (Tango); fractions: paired t.")
    missing = result.unmatched
    md_missing = ("\n\n## Not compared\n\n" + "".join(f"- {'FAIL' if r.fails else 'note'}: {r.comparison}: {r.why}\n"
                                                      for r in missing.itertuples())) if len(missing) else ""
    md_notes = ("\n\n## Notes\n\n" + "".join(f"- {n}\n" for n in result.notes)) if result.notes else ""
    failed = result.failures
    head = f"**{failed} of {k + int(missing['fails'].sum())} comparisons fail the gate.**"
    md = f"# {title}\n\n{note}\n\n{head}\n\n{table(result)}{md_missing}{md_notes}"
    atomic_write(out / "compare.md", md.encode())
    rows = "".join(f"<li><code>{html.escape(line)}</code></li>" for line in lines)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(note)}</p><p><b>{html.escape(head.strip('*'))}</b></p>"
            f"<ul>{rows}</ul>" + result.table.drop(columns=["sd"]).to_html(index=False, border=0)
            + (missing.to_html(index=False, border=0) if len(missing) else "") + "</body></html>")
    atomic_write(out / "compare.html", page.encode())
    print(f"{failed} of {k + int(missing['fails'].sum())} comparisons fail the gate; report: {out / 'compare.html'}")
    return 1 if failed else 0


def add(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "compare", help="paired regression test of run NEW against run BASE (exit 1 when the gate fails)",
        description="Pair the two runs problem by problem and test each (task, method, budget). Default rule "
                    "(drop): fail when new − base is significantly below −MAX_DROP, a one-sided test of "
                    "H0: new − base ≥ −MAX_DROP at ALPHA, Holm over comparisons (a true drop of exactly "
                    "MAX_DROP fails at most ALPHA of the time; --max-drop 0: any significant drop fails). "
                    "--require-non-inferiority: pass only when new − base is significantly above −MAX_DROP. "
                    "Intervals are (1 − 2·ALPHA): their ends are the one-sided tests. A comparison of the base "
                    "run missing or failed in the new run fails the gate unless --allow-missing.")
    c.add_argument("base", help="the reference run directory")
    c.add_argument("new", help="the run directory to test")
    c.add_argument("--max-drop", type=float, default=0.0,
                   help="allowed accuracy drop, a fraction in [0, 1) (default 0: any significant drop fails)")
    c.add_argument("--alpha", type=float, default=0.05,
                   help="one-sided significance level, Holm over comparisons (default 0.05)")
    c.add_argument("--require-non-inferiority", action="store_true",
                   help="strict rule: pass only when the drop is shown to be within --max-drop "
                        "(the interval's lower end above −MAX_DROP)")
    c.add_argument("--allow-missing", action="store_true",
                   help="comparisons missing or failed in either run are listed but do not fail the gate")
    c.add_argument("--out", type=Path, help="report directory (default: reports/compare-BASE-vs-NEW)")
    c.set_defaults(fn=main)
