"""Math answer extraction + checking vs math-verify alone, on tricky (completion, reference) pairs.

Each row of `benchmarks/data/math_pairs.jsonl` is a model-style completion, the reference
answer, the verdict a careful grader gives (`expected`), and where the pair came from
(`source`, `origin`; `note` where the verdict needs a word). On one run this prints the set
size, the agreement with `expected` of

1. thinkbench: `MathTask.extract` then `MathTask.check_many` (math-verify in its worker), and
2. math-verify alone: `verify(parse(f"${reference}$"), parse(completion))` with its default
   extraction configs and timeouts (this script runs in the main thread, where they work),

overall and per source, lists the pairs where the two disagree, and exits 1 if thinkbench
agrees with fewer pairs than math-verify.

    python benchmarks/math_extraction.py [--data FILE] [--show-misses] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import Problem

DATA = Path(__file__).parent / "data" / "math_pairs.jsonl"


@dataclass
class Comparison:
    """Per-pair verdicts of both checkers against the expected ones."""

    rows: list[dict]
    ours: list[bool]
    theirs: list[bool]

    def agreement(self, verdicts: list[bool], source: str | None = None) -> tuple[int, int]:
        """(agreeing pairs, pairs) overall or for one source."""
        idx = [i for i, r in enumerate(self.rows) if source is None or r["source"] == source]
        return sum(verdicts[i] == self.rows[i]["expected"] for i in idx), len(idx)


def load_pairs(path: Path = DATA) -> list[dict]:
    """The pair set, one dict per non-empty JSONL line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def thinkbench_verdicts(rows: list[dict]) -> list[bool]:
    """MathTask's extraction and batched check of every pair."""
    from tasks.math.competition import Math500

    task = Math500(data="unused")
    answers = [task.extract(r["completion"]) for r in rows]
    problems = [Problem(id=str(i), prompt="", reference=r["reference"]) for i, r in enumerate(rows)]
    return [v.correct for v in task.check_many(answers, problems)]


def math_verify_verdicts(rows: list[dict]) -> list[bool]:
    """math-verify alone: default `parse` on the completion, the reference wrapped in `$...$`."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    out = []
    for r in rows:
        gold = r["reference"] if "$" in r["reference"] else f"${r['reference']}$"
        try:
            out.append(bool(verify(parse(gold), parse(r["completion"]))))
        except Exception:  # noqa: BLE001 - math-verify failing on a pair is a False verdict
            out.append(False)
    return out


def compare(rows: list[dict]) -> Comparison:
    """Both checkers' verdicts on `rows`."""
    return Comparison(rows, thinkbench_verdicts(rows), math_verify_verdicts(rows))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="pair set (JSONL)")
    ap.add_argument("--show-misses", action="store_true", help="also list pairs both get wrong")
    ap.add_argument("--smoke", action="store_true", help="a few seconds: the first 12 pairs only")
    args = ap.parse_args(argv)
    if not args.data.is_file():
        print(f"{args.data}: no such pair file", file=sys.stderr)
        return 2
    rows = load_pairs(args.data)[:12 if args.smoke else None]
    cmp = compare(rows)
    sources = sorted({r["source"] for r in rows})
    print(f"{len(rows)} pairs ({sum(r['expected'] for r in rows)} expected equal) from {len(sources)} sources")
    print(f"{'source':<28} {'pairs':>5} {'thinkbench':>11} {'math-verify':>12}")
    for src in [*sources, None]:
        a, n = cmp.agreement(cmp.ours, src)
        b, _ = cmp.agreement(cmp.theirs, src)
        print(f"{src or 'all':<28} {n:>5} {a:>5} {a / n:>5.1%} {b:>6} {b / n:>5.1%}")
    for i, r in enumerate(rows):
        ok_ours, ok_theirs = cmp.ours[i] == r["expected"], cmp.theirs[i] == r["expected"]
        if ok_ours != ok_theirs or (args.show_misses and not ok_ours):
            who = "only thinkbench right" if ok_ours else ("only math-verify right" if ok_theirs else "both wrong")
            print(f"  [{who}] line {i + 1} ({r['source']}): expected {r['expected']}, "
                  f"reference {r['reference']!r}, completion ...{r['completion'][-70:]!r}")
    ours, _ = cmp.agreement(cmp.ours)
    theirs, _ = cmp.agreement(cmp.theirs)
    if ours < theirs:
        print(f"thinkbench agrees with {ours} pairs, math-verify alone with {theirs}: extraction regressed",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
