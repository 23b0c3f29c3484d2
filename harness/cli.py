"""`thinkbench` command line: quickstart, bootstrap, run, report, score, tasks, methods."""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from harness.registry import ConfigError

EVAL_PROBLEMS = 200


def _bootstrap(out: Path | None, steps: int | None, force: bool) -> Path:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness.testbed import TestbedConfig, default_dir, train_testbed

    cfg = TestbedConfig() if steps is None else replace(TestbedConfig(), steps=steps)
    out = out or default_dir(cfg)
    final = out / "final"
    info = final / "thinkbench.json"
    if info.is_file() and not force and json.loads(info.read_text()).get("testbed") == json.loads(
            json.dumps(cfg.__dict__)):
        print(f"testbed: reusing {final}", file=sys.stderr)
        return final
    print(f"testbed: training a {cfg.layers}-layer, {cfg.hidden}-wide Llama on {cfg.digits}-digit "
          f"addition for {cfg.steps} steps into {out}", file=sys.stderr)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn()) as bar:
        job = bar.add_task("training testbed", total=cfg.steps)
        train_testbed(out, cfg, lambda step, loss: bar.update(
            job, completed=step, description=f"training testbed · loss {loss:.3f}"))
    _evaluate_checkpoints(out, cfg.digits)
    return final


def _evaluate_checkpoints(out: Path, digits: int) -> None:
    """Greedy accuracy of every saved checkpoint on held-out problems (printed, and kept)."""
    from harness.backends.hf import HFPolicy
    from tasks.math.addition import AdditionTask

    task = AdditionTask(digits=digits)
    problems = task.problems("test", EVAL_PROBLEMS, seed=0)
    for ckpt in sorted(out.glob("*/thinkbench.json"), key=lambda p: json.loads(p.read_text())["step"]):
        policy = HFPolicy(ckpt.parent)
        outs, _ = policy.generate([task.prompt(p) for p in problems], temperature=0.0, max_tokens=64)
        acc = sum(task.check(task.extract(o[0].text), p).correct for o, p in zip(outs, problems)) / len(problems)
        info = json.loads(ckpt.read_text()) | {"greedy_accuracy_test": acc, "eval_problems": len(problems)}
        ckpt.write_text(json.dumps(info, indent=2))
        print(f"  {ckpt.parent.name:>10}: step {info['step']:>5}, {info['train_flops']:.3g} training FLOPs, "
              f"greedy accuracy {acc:.3f} on {len(problems)} held-out problems", file=sys.stderr)


def cmd_bootstrap(args: argparse.Namespace) -> int:
    final = _bootstrap(args.out, args.steps, args.force)
    print(final)
    return 0


def cmd_train_verifier(args: argparse.Namespace) -> int:
    """Label step prefixes by Monte-Carlo rollouts of the policy, train a PRM/ORM, report AUROC."""
    from baselines.train.prm import ValueModelConfig, mc_labels, step_auroc, train_value_model
    from baselines.verifiers.value_model import ValueModelVerifier
    from harness.backends.hf import HFPolicy
    from harness.matrix import build_task, resolve_checkpoint

    policy_path = resolve_checkpoint(args.policy)
    out = args.out or Path(policy_path).parent / args.kind
    task = build_task(args.task, {})
    policy = HFPolicy(policy_path)
    t0 = time.perf_counter()
    solutions, label_cost = mc_labels(policy, task, task.problems("train", args.problems, args.seed),
                                      samples=args.samples, rollouts=args.rollouts, seed=args.seed)
    print(f"labelled {len(solutions)} solutions ({sum(len(s.steps) for s in solutions)} steps) with "
          f"{args.rollouts} rollouts per step prefix: {label_cost.generated_tokens:.0f} generated tokens, "
          f"{label_cost.flops:.3g} FLOPs, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    cfg = replace(ValueModelConfig(), steps=args.steps, target=args.kind, seed=args.seed)
    path = train_value_model(solutions, task, policy_path, out, cfg, label_cost, init_from=policy_path)
    info = json.loads((path / "thinkbench.json").read_text())
    held, _ = mc_labels(policy, task, task.problems("test", args.eval_problems, args.seed + 1),
                        samples=args.samples, rollouts=args.rollouts, seed=args.seed + 1)
    verifier = ValueModelVerifier(task, path)
    scores, _ = verifier.score_many([s.problem for s in held], [s.steps for s in held])
    auroc = step_auroc(scores if args.kind == "prm" else [sc[-1:] for sc in scores],
                       held if args.kind == "prm" else [replace(s, soft=s.soft[-1:]) for s in held])
    info |= {"heldout_auroc": auroc, "heldout_solutions": len(held)}
    (path / "thinkbench.json").write_text(json.dumps(info, indent=2))
    print(f"trained {args.kind} ({info['params']} params, {info['train_flops']:.3g} FLOPs, "
          f"{info['train_wall_s']:.0f} s); held-out {'step' if args.kind == 'prm' else 'outcome'} "
          f"AUROC {auroc:.3f} on {len(held)} solutions", file=sys.stderr)
    print(path)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from harness.matrix import load_matrix
    from harness.runner import run_matrix

    matrix = load_matrix(args.matrix)
    out = args.out or Path("runs") / matrix.name
    result = run_matrix(matrix, out, quiet=args.quiet)
    print(f"{out}: ran {result.ran} cells ({result.rows} records), {result.skipped} already finished, "
          f"{result.wall_s:.1f} s")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import write_report

    out = args.out or Path("reports") / Path(args.run).name
    index = write_report(args.run, out)
    print((Path(out) / "summary.md").read_text())
    print(f"report: {index}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from harness.paths import project_root

    t0 = time.perf_counter()
    _bootstrap(None, None, False)
    matrix = project_root() / "examples" / "quickstart.yaml"
    cmd_run(argparse.Namespace(matrix=str(matrix), out=Path("runs/quickstart"), quiet=False))
    cmd_report(argparse.Namespace(run="runs/quickstart", out=Path("reports/quickstart")))
    print(f"quickstart finished in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from harness.score import score

    try:
        ks = tuple(int(k) for k in args.k.split(",") if k.strip())
    except ValueError:
        raise ConfigError(f"--k: expected comma-separated integers, got {args.k!r}") from None
    summary = score(args.task, args.completions, data=args.data, ks=ks, split=args.split, n=args.n,
                    seed=args.seed)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text("".join(json.dumps(v) + "\n" for v in summary.verdicts))
        tmp.replace(args.out)
    scored = sum(v["correct"] is not None for v in summary.verdicts)
    print(f"{args.task}: {scored} completions of {summary.problems} problems scored, "
          f"accuracy {summary.accuracy:.4f}" + (f", {summary.malformed} malformed rows" if summary.malformed else ""))
    for k, value in summary.pass_at.items():
        print(f"  pass@{k}: {value:.4f}")
    return 1 if summary.malformed else 0


def cmd_list(args: argparse.Namespace) -> int:
    from harness.registry import METHODS, TASKS, load_plugins

    load_plugins()
    if args.command == "tasks":
        for name, cls in TASKS.items():
            print(f"{name:<20} {(cls.__doc__ or '').strip().splitlines()[0]}")
        for prefix, factory in TASKS.families():
            print(f"{prefix + ':<name>':<20} {(factory.__doc__ or '').strip().splitlines()[0]}")
    else:
        for name, m in METHODS.items():
            kind = "pooled" if m.pooled else ("budget: n/a" if not m.uses_budget else "")
            print(f"{name:<20} {m.doc}" + (f"  [{kind}]" if kind else ""))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="thinkbench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="bootstrap the testbed, run examples/quickstart.yaml, write the report")
    q.set_defaults(fn=cmd_quickstart)
    b = sub.add_parser("bootstrap", help="train (or reuse) the tiny testbed model; prints its path last")
    b.add_argument("--out", type=Path, help="directory for the checkpoints (default: the cache)")
    b.add_argument("--steps", type=int, help="training steps (default: the testbed's)")
    b.add_argument("--force", action="store_true", help="retrain even if a checkpoint exists")
    b.set_defaults(fn=cmd_bootstrap)
    tv = sub.add_parser("train-verifier", help="train a PRM/ORM from Monte-Carlo rollouts; prints its path last")
    tv.add_argument("--kind", choices=["prm", "orm"], default="prm")
    tv.add_argument("--policy", default="testbed", help="policy checkpoint (default: the testbed)")
    tv.add_argument("--task", default="addition", help="task whose train split is labelled")
    tv.add_argument("--out", type=Path, help="checkpoint directory (default: next to the policy)")
    tv.add_argument("--problems", type=int, default=200, help="train problems to label")
    tv.add_argument("--samples", type=int, default=4, help="sampled solutions per problem")
    tv.add_argument("--rollouts", type=int, default=4, help="rollouts per step prefix")
    tv.add_argument("--steps", type=int, default=300, help="training steps")
    tv.add_argument("--eval-problems", type=int, default=60, help="held-out problems for AUROC")
    tv.add_argument("--seed", type=int, default=0)
    tv.set_defaults(fn=cmd_train_verifier)
    r = sub.add_parser("run", help="run a matrix YAML (finished cells are skipped)")
    r.add_argument("matrix")
    r.add_argument("--out", type=Path, help="run directory (default: runs/<matrix name>)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(fn=cmd_run)
    rep = sub.add_parser("report", help="build the HTML report and summary.md of a run")
    rep.add_argument("run")
    rep.add_argument("--out", type=Path, help="report directory (default: reports/<run name>)")
    rep.set_defaults(fn=cmd_report)
    sc = sub.add_parser("score", help="score completions made elsewhere (verdicts, accuracy, pass@k)")
    sc.add_argument("--task", required=True, help="a registered task name, e.g. gsm8k, humaneval, rg:maze")
    sc.add_argument("--data", help="the task's data file in its own format (default: its own source)")
    sc.add_argument("--completions", required=True, type=Path, help="JSONL of {problem_id|task_id, completion}")
    sc.add_argument("--k", default="1", help="pass@k values, comma-separated (default 1)")
    sc.add_argument("--out", type=Path, help="write one verdict row per completion here (JSONL)")
    sc.add_argument("--split", default="test", help="split of the task (default test)")
    sc.add_argument("--n", type=int, help="number of problems (procedural tasks)")
    sc.add_argument("--seed", type=int, default=0, help="problem seed (procedural tasks)")
    sc.set_defaults(fn=cmd_score)
    for name in ("tasks", "methods"):
        sub.add_parser(name, help=f"list registered {name}").set_defaults(fn=cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as e:
        print(f"thinkbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("thinkbench: interrupted (finished cells are kept; rerun to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
