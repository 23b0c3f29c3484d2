"""Monte-Carlo vs exact process labels on the testbed: label agreement, PRM AUROC, search.

    python benchmarks/process_labels.py [--problems 200] [--samples 4] [--rollouts 4]
        [--steps 300] [--eval-problems 60] [--test-problems 150] [--out DIR] [--smoke]

1. Samples `samples` solutions for each of `problems` train problems from the testbed policy and
   labels every step twice: by `rollouts` Monte-Carlo rollouts per step prefix (Math-Shepherd)
   and exactly (`Task.step_labels`: a step is right iff it and every step before it is).
   Agreement of the MC label with the exact one at three readings of the MC fraction (any
   rollout won / at least half / all), with MC false positives and negatives, on the steps MC
   estimates (every step but the last, whose MC label is the solution's outcome).
2. Trains one PRM on each label set: the same solutions, the same initialisation (the policy),
   the same steps and seed; only the labels differ.
3. Step AUROC of both PRMs on held-out solutions against exact step correctness and against MC
   labels of the same held-out steps.
4. best_of_n@16 and beam@4,16 (PRM aggregate min) with each PRM on `test_problems` test
   problems, through the harness's public interface (parse_matrix + run_matrix), with one
   sample, majority and oracle best-of-n (coverage) from the same sample pool as references.
Prints one table and the wall time. About 10 minutes on one core at the defaults.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from baselines.train.prm import (
    LabeledSolution,
    ValueModelConfig,
    exact_labels,
    rollout_labels,
    sample_solutions,
    step_auroc,
    train_value_model,
)
from baselines.verifiers.value_model import PRMConfig, ValueModelVerifier
from harness.backends.hf import HFPolicy
from harness.checkpoint import resolve_checkpoint
from harness.contracts import Cost
from harness.matrix import parse_matrix
from harness.registry import load_plugins
from harness.report.stats import wilson
from harness.runner import run_matrix
from tasks.math.addition import AdditionTask

# How the MC fraction of winning rollouts is read as a hard label.
THRESHOLDS: dict[str, float] = {"any rollout wins (>0)": 1e-9, "at least half (>=0.5)": 0.5, "all win (=1)": 1.0}


@dataclass(frozen=True)
class Agreement:
    """MC hard labels at one threshold against exact labels, over one set of steps."""

    reading: str
    steps: int
    agreement: float
    false_pos: int   # MC says the prefix can still win; exactly, it is already wrong
    false_neg: int   # MC says the prefix is doomed; exactly, it is right
    exact_pos: int   # steps whose prefix is exactly right


@dataclass
class LabelSets:
    """The same sampled solutions under both label sources, and what each source cost."""

    mc: list[LabeledSolution]
    exact: list[LabeledSolution]
    sample_cost: Cost
    rollout_cost: Cost


def label_both(policy, task, problems, *, samples: int, rollouts: int, seed: int, max_tokens: int = 64
               ) -> LabelSets:
    """Sample solutions once and label them by MC rollouts and by the task's step checker."""
    sampled, sample_cost = sample_solutions(policy, task, problems, samples=samples, max_tokens=max_tokens, seed=seed)
    mc, rollout_cost = rollout_labels(policy, task, sampled, rollouts=rollouts, max_tokens=max_tokens, seed=seed + 1)
    return LabelSets(mc, exact_labels(task, sampled), sample_cost, rollout_cost)


def agreement(labels: LabelSets, reading: str, threshold: float) -> Agreement:
    """Agreement at `threshold` on the steps MC estimates (all but each solution's last)."""
    pairs = [(m >= threshold, e > 0.5) for ms, es in zip(labels.mc, labels.exact)
             for m, e in zip(ms.soft[:-1], es.soft[:-1])]
    n = len(pairs)
    return Agreement(reading, n, sum(m == e for m, e in pairs) / n if n else float("nan"),
                     sum(m and not e for m, e in pairs), sum(e and not m for m, e in pairs), sum(e for _, e in pairs))


def outcome_vs_process(labels: LabelSets) -> tuple[int, int]:
    """Solutions with the right answer through a wrong step, and with every step right but a
    wrong outcome (where the last step's MC label, the outcome, and its exact label differ)."""
    lucky = sum(s.correct and e.soft[-1] == 0.0 for s, e in zip(labels.mc, labels.exact))
    unlucky = sum(not s.correct and e.soft[-1] == 1.0 for s, e in zip(labels.mc, labels.exact))
    return lucky, unlucky


def within_problem_auroc(solution_scores: list[float], solutions: list[LabeledSolution]) -> float:
    """P(a right solution outscores a wrong one of the SAME problem), ties half: what reranking
    needs (a pooled AUROC also rewards telling easy problems from hard ones)."""
    by_problem: dict[str, list[tuple[float, bool]]] = {}
    for score, s in zip(solution_scores, solutions):
        by_problem.setdefault(s.problem.id, []).append((score, s.correct))
    wins = pairs = 0.0
    for group in by_problem.values():
        for a, ok_a in group:
            for b, ok_b in group:
                if ok_a and not ok_b:
                    pairs += 1
                    wins += (a > b) + 0.5 * (a == b)
    return wins / pairs if pairs else float("nan")


def prm_aurocs(path: Path, task, held: LabelSets) -> dict[str, float]:
    """A PRM's held-out step AUROC against exact labels and against MC hard labels (>0), and
    its within-problem outcome AUROC with the min aggregate (as the search below uses it)."""
    v = ValueModelVerifier(task, PRMConfig(path=str(path), aggregate="min"))
    scores, _ = v.score_many([s.problem for s in held.mc], [s.steps for s in held.mc])
    return {"exact": step_auroc(scores, held.exact), "mc": step_auroc(scores, held.mc),
            "within": within_problem_auroc([v.solution_score(sc) for sc in scores], held.mc)}


def search_matrix(policy_path: str, prms: dict[str, Path], n_problems: int, bon_budget: int,
                  beam_budgets: list[int]) -> dict:
    """The matrix: best-of-N and beam with each PRM, plus one sample, majority and coverage
    (oracle best-of-N) as references."""
    methods: list = [{"name": "sample"}, {"name": "majority", "budgets": [bon_budget]},
                     {"name": "oracle_best_of_n", "budgets": [bon_budget]}]
    for name, path in prms.items():
        verifier = {"name": "prm", "path": str(path), "aggregate": "min"}
        methods.append({"name": "best_of_n", "label": f"best_of_n(prm-{name})", "budgets": [bon_budget],
                        "verifier": verifier})
        methods.append({"name": "beam", "label": f"beam(prm-{name})", "budgets": beam_budgets, "verifier": verifier})
    return {"name": "process_labels", "tasks": [{"name": "addition", "params": {"digits": 4}, "split": "test",
                                                 "n_problems": n_problems}],
            "checkpoints": [{"name": "testbed", "path": policy_path}], "methods": methods, "seeds": [0],
            "generation": {"temperature": 1.0, "max_tokens": 64}}


def search_table(run_dir: Path) -> pd.DataFrame:
    """Accuracy (with a 95 % Wilson interval) and generated tokens per problem per method × budget."""
    df = pd.read_parquet(run_dir / "records")
    rows = []
    for (method, budget), g in df.groupby(["method", "budget"]):
        acc = float(g["correct"].mean())
        lo, hi = wilson(acc * len(g), len(g))
        rows.append({"method": method, "budget": int(budget), "accuracy": acc, "ci_low": lo, "ci_high": hi,
                     "gen_tokens": float(g["generated_tokens"].mean()), "problems": len(g),
                     "errors": int(g["error"].notna().sum())})
    return pd.DataFrame(rows).sort_values(["method", "budget"]).reset_index(drop=True)


def run(policy_path: str, out: Path, *, problems: int, samples: int, rollouts: int, steps: int,
        eval_problems: int, test_problems: int, bon_budget: int, beam_budgets: list[int], seed: int = 0,
        cfg: ValueModelConfig | None = None, quiet: bool = False) -> dict:
    """The whole comparison; returns every number it prints (see the module docstring)."""
    task = AdditionTask(digits=4)
    policy = HFPolicy(policy_path)
    t0 = time.perf_counter()
    train = label_both(policy, task, task.problems("train", problems, seed), samples=samples, rollouts=rollouts,
                       seed=seed)
    label_wall = time.perf_counter() - t0
    cfg = replace(cfg or ValueModelConfig(), steps=steps, seed=seed, problems=problems, samples=samples, rollouts=rollouts)
    prms, train_wall = {}, {}
    for name, sols, cost in (("mc", train.mc, train.sample_cost + train.rollout_cost),
                             ("exact", train.exact, train.sample_cost)):
        t = time.perf_counter()
        prms[name] = train_value_model(sols, task, policy_path, out / f"prm-{name}",
                                       replace(cfg, labels=name), cost, init_from=policy_path)
        train_wall[name] = time.perf_counter() - t
    held = label_both(policy, task, task.problems("test", eval_problems, seed + 1), samples=samples,
                      rollouts=rollouts, seed=seed + 1)
    aurocs = {name: prm_aurocs(path, task, held) for name, path in prms.items()}
    t = time.perf_counter()
    result = run_matrix(parse_matrix(search_matrix(policy_path, prms, test_problems, bon_budget, beam_budgets),
                                     "process_labels"), out / "run", quiet=quiet)
    if result.failed:
        raise RuntimeError(f"{result.failed} search cells failed: see {out / 'run' / 'failures'}")
    return {"train": train, "held": held, "label_wall_s": label_wall, "train_wall_s": train_wall,
            "agreement": [agreement(train, r, th) for r, th in THRESHOLDS.items()],
            "held_agreement": [agreement(held, r, th) for r, th in THRESHOLDS.items()],
            "outcome_vs_process": outcome_vs_process(train), "aurocs": aurocs,
            "mc_soft_auroc": step_auroc([[x for x in s.soft[:-1]] for s in train.mc],
                                        [replace(e, soft=e.soft[:-1]) for e in train.exact]),
            "search": search_table(out / "run"), "search_wall_s": time.perf_counter() - t}


def report(r: dict, args: argparse.Namespace, wall: float) -> None:
    """Print the numbers as Markdown tables."""
    train: LabelSets = r["train"]
    n_steps = sum(len(s.steps) for s in train.mc)
    print(f"\n## Labels: {len(train.mc)} sampled solutions of {args.problems} train problems, {n_steps} steps "
          f"({args.rollouts} rollouts per step prefix for MC)")
    print(f"label cost: sampling {train.sample_cost.generated_tokens} generated tokens "
          f"({train.sample_cost.flops:.3g} FLOPs); MC rollouts +{train.rollout_cost.generated_tokens} "
          f"({train.rollout_cost.flops:.3g} FLOPs, "
          f"{(train.sample_cost.flops + train.rollout_cost.flops) / max(train.sample_cost.flops, 1):.1f}x "
          f"the exact labels' cost); labelling wall {r['label_wall_s']:.0f} s")
    print("\n| MC hard label | steps | agreement with exact | MC false positives | MC false negatives | "
          "exactly right steps |\n|---|---|---|---|---|---|")
    for a, h in zip(r["agreement"], r["held_agreement"]):
        print(f"| {a.reading} | {a.steps} | {a.agreement:.3f} (held-out {h.agreement:.3f}) | {a.false_pos} | "
              f"{a.false_neg} | {a.exact_pos} |")
    lucky, unlucky = r["outcome_vs_process"]
    print(f"\nMC soft label as a score of exact step correctness: AUROC {r['mc_soft_auroc']:.3f}. "
          f"Last step (MC label = outcome): {lucky} right answers through a wrong step, "
          f"{unlucky} wrong outcomes with every step right.")
    held: LabelSets = r["held"]
    print(f"\n## PRMs ({args.steps} steps each, from the policy's weights; held-out: {len(held.mc)} solutions, "
          f"{sum(len(s.steps) for s in held.mc)} steps)\n")
    print("| PRM trained on | train wall s | step AUROC vs exact | step AUROC vs MC (>0) | "
          "within-problem outcome AUROC (min) |\n|---|---|---|---|---|")
    for name, a in r["aurocs"].items():
        print(f"| {name} labels | {r['train_wall_s'][name]:.0f} | {a['exact']:.3f} | {a['mc']:.3f} | "
              f"{a['within']:.3f} |")
    print(f"\n## Search on {args.test_problems} test problems (PRM aggregate min; search wall "
          f"{r['search_wall_s']:.0f} s)\n")
    print("| method | budget | accuracy | 95 % CI | generated tokens / problem |\n|---|---|---|---|---|")
    for row in r["search"].itertuples():
        print(f"| {row.method} | {row.budget} | {row.accuracy:.3f} | [{row.ci_low:.3f}, {row.ci_high:.3f}] | "
              f"{row.gen_tokens:.0f} |" + (f" {row.errors} errors" if row.errors else ""))
    print(f"\ntotal wall time {wall:.0f} s ({os.environ.get('OMP_NUM_THREADS', 'all')} threads)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", default="testbed")
    ap.add_argument("--problems", type=int, default=200, help="train problems whose samples are labelled")
    ap.add_argument("--samples", type=int, default=4, help="sampled solutions per problem")
    ap.add_argument("--rollouts", type=int, default=4, help="MC rollouts per step prefix")
    ap.add_argument("--steps", type=int, default=300, help="PRM training steps (each PRM)")
    ap.add_argument("--eval-problems", type=int, default=60, help="held-out problems for AUROC")
    ap.add_argument("--test-problems", type=int, default=150, help="test problems for best-of-N and beam")
    ap.add_argument("--bon-budget", type=int, default=16)
    ap.add_argument("--beam-budgets", default="4,16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="keep the PRMs and the run here (a new or empty directory)")
    ap.add_argument("--smoke", action="store_true", help="seconds, not minutes: 2 problems of each kind, 2 PRM steps")
    args = ap.parse_args(argv)
    if args.smoke:
        args.problems = args.samples = args.eval_problems = args.test_problems = args.steps = args.bon_budget = 2
        args.rollouts, args.beam_budgets = 1, "4"
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))  # one core unless told otherwise
    load_plugins()
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"--out {args.out}: not empty (the PRMs are retrained, so an old run's cells must not be reused)")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="process_labels-") as tmp:
        out = args.out or Path(tmp)
        r = run(resolve_checkpoint(args.policy), out, problems=args.problems, samples=args.samples,
                rollouts=args.rollouts, steps=args.steps, eval_problems=args.eval_problems,
                test_problems=args.test_problems, bon_budget=args.bon_budget,
                beam_budgets=[int(b) for b in args.beam_budgets.split(",")], seed=args.seed)
        report(r, args, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
