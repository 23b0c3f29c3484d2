"""Verifier-guided methods: consistency with the pooled estimators, and scripted cases where
the right choice is known."""
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from harness.contracts import Completion, Cost, PolicyBase, Problem, Sampling, VerifierBase, VerifierConfig
from harness.matrix import parse_matrix
from harness.methods import SolveContext
from harness.registry import METHODS, VERIFIERS
from harness.runner import run_matrix
from tasks.math.addition import AdditionTask


@VERIFIERS.register("test_constant", config=VerifierConfig)
class ConstantVerifier(VerifierBase):
    """Scores every step 1.0: weighted best-of-n becomes a plain vote."""

    aggregate = "last"

    def __init__(self, task, cfg: VerifierConfig) -> None:
        pass

    def score_many(self, problems, steps):
        return [[1.0] * len(s) for s in steps], [Cost() for _ in steps]


def matrix(ckpt: Path, methods: list) -> object:
    return parse_matrix({"tasks": [{"name": "addition", "n_problems": 8}],
                         "checkpoints": [{"name": "tiny", "path": str(ckpt)}], "methods": methods,
                         "budgets": [1, 2, 4], "generation": {"temperature": 1.0, "max_tokens": 40}},
                        "search.yaml")


def test_best_of_n_with_the_oracle_is_coverage(tiny_ckpt: Path, tmp_path: Path) -> None:
    run_matrix(matrix(tiny_ckpt, ["oracle_best_of_n", {"name": "best_of_n", "verifier": "oracle"},
                                  "majority", {"name": "weighted_best_of_n", "verifier": "test_constant"},
                                  {"name": "best_of_n", "verifier": "test_constant"}]),
               tmp_path / "r", quiet=True)
    df = pd.read_parquet(tmp_path / "r" / "records")
    wide = df.pivot_table(index=["problem_id", "budget"], columns="method", values="correct")
    assert (wide["best_of_n(verifier=oracle)"] - wide["oracle_best_of_n"]).abs().max() < 1e-12
    at_n = wide.xs(4, level="budget")
    assert (at_n["weighted_best_of_n(verifier=test_constant)"] - at_n["majority"]).abs().max() < 1e-12

    from harness.report import write_report
    from harness.report.stats import aggregate, envelope

    write_report(tmp_path / "r", tmp_path / "rep")
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert "Compute-optimal envelope vs best-of-N" in summary
    assert "| best_of_n(verifier=test_constant)@4 |" in summary
    assert "compute-optimal envelope" in (tmp_path / "rep" / "index.html").read_text()
    front = envelope(aggregate(df))
    assert front["flops"].is_monotonic_increasing and front["accuracy"].is_monotonic_increasing
    assert not any("oracle" in m for m in front["method"])  # bounds, not contenders


def test_a_method_that_needs_a_verifier_says_so(tiny_ckpt: Path) -> None:
    from harness.registry import ConfigError

    with pytest.raises(ConfigError, match="needs a verifier"):
        matrix(tiny_ckpt, ["best_of_n"])
    with pytest.raises(ConfigError, match="unknown verifier 'nope'"):
        matrix(tiny_ckpt, [{"name": "best_of_n", "verifier": "nope"}])
    with pytest.raises(ConfigError, match="verifier.*unknown field 'aggregat'"):
        matrix(tiny_ckpt, [{"name": "best_of_n", "verifier": {"name": "prm", "path": str(tiny_ckpt), "aggregat": "min"}}])
    with pytest.raises(ConfigError, match="no such directory"):
        matrix(tiny_ckpt, [{"name": "best_of_n", "verifier": {"name": "prm", "path": "/nope"}}])


def continue_script(rest: str, *, max_tokens: int, stop) -> Completion:
    """How a real policy returns `rest` (one character = one token): cut at the first stop
    string (left out of the text, as vLLM and OpenAI do) or at max_tokens, else EOS."""
    hits = [(rest.find(s), s) for s in stop if s in rest]
    cut, matched = min(hits) if hits else (len(rest), None)
    if cut > max_tokens:
        return Completion(rest[:max_tokens], max_tokens, 0.0, "length")
    return Completion(rest[:cut], cut + (len(matched) if matched else 1), 0.0, "stop", matched)


class ScriptedPolicy(PolicyBase):
    """Root: alternating 'good'/'bad' first steps; then the answer each branch leads to; then EOS.
    Honours the policy contract: stop strings, max_tokens, and partial assistant turns."""

    params = 1

    def __init__(self, problem: Problem, sep: str = "\n", filler: int = 0, filler_text: str = "work",
                 ending: str = "") -> None:
        self.right, self.wrong, self.sep = problem.reference, str(int(problem.reference) + 1), sep
        self.filler, self.filler_text = filler, filler_text  # steps between the first and the answer
        self.ending = ending  # what it writes after the answer line, before EOS
        self.calls: list[dict] = []

    def rest(self, lines: list[str], i: int) -> str:
        """The rest of sample i's solution after the steps so far."""
        if not lines:
            lines = ["good" if i % 2 == 0 else "bad"]
            return lines[0] + self.sep + self.rest(lines, i)
        if len(lines) > self.filler + 1:
            return ""
        answer = f"A={self.right if lines[0] == 'good' else self.wrong}"
        return self.sep.join([self.filler_text] * (self.filler + 1 - len(lines)) + [answer]) + self.ending

    def generate(self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=64, stop=(), seed=None):
        out = []
        for prompt in prompts:
            partial = prompt[-1]["content"] if isinstance(prompt, list) else ""
            lines = [x for x in partial.split(self.sep) if x]  # the steps so far
            out.append([continue_script(self.rest(lines, i), max_tokens=max_tokens, stop=stop) for i in range(n)])
        self.calls.append({"stop": list(stop), "max_tokens": max_tokens, "texts": [c.text for x in out for c in x]})
        return out, [Cost(generated_tokens=sum(c.tokens for c in x)) for x in out]


class PrefersVerifier(VerifierBase):
    aggregate = "min"

    def __init__(self, liked: str) -> None:
        self.liked = liked

    def score_many(self, problems: Sequence[Problem], steps):
        return ([[0.9 if s[0] == self.liked else 0.1] * len(s) for s in steps],
                [Cost(prompt_tokens=1) for _ in steps])


@pytest.mark.parametrize("method", ["beam", "dvts", "lookahead", "mcts"])
@pytest.mark.parametrize("liked,expect", [("good", True), ("bad", False)])
def test_search_follows_the_verifier(method: str, liked: str, expect: bool) -> None:
    task = AdditionTask(digits=3)
    problem = task.problems("test", 1, 0)[0]
    ctx = SolveContext(ScriptedPolicy(problem), task, 0, Sampling(), verifier=PrefersVerifier(liked),
                       config=METHODS.config(method)())
    (attempt,) = METHODS.get(method).solve(ctx, [problem], 4)
    assert task.check(attempt.answer, problem).correct is expect
    assert attempt.traces[0].startswith(liked)
    assert attempt.cost.generated_tokens > 0 and attempt.cost.prompt_tokens > 0  # verifier counted


@pytest.mark.parametrize("method", ["beam", "dvts", "lookahead", "mcts"])
@pytest.mark.parametrize("max_steps", [2, 20])
def test_the_trace_is_what_the_policy_wrote(method: str, max_steps: int) -> None:
    """A policy that ends its solution with a newline before EOS (as the testbed does): the
    search's trace keeps it (was: dropped, so trainers learned text the policy never writes)."""
    task = AdditionTask(digits=3)
    problem = task.problems("test", 1, 0)[0]
    policy = ScriptedPolicy(problem, filler=1, ending="\n")
    config = METHODS.config(method)(**({} if method == "mcts" else {"max_steps": max_steps}))
    ctx = SolveContext(policy, task, 0, Sampling(), verifier=PrefersVerifier("good"), config=config)
    (attempt,) = METHODS.get(method).solve(ctx, [problem], 4)
    assert attempt.traces[0] == f"good\nwork\nA={problem.reference}\n"


@pytest.mark.parametrize("method", ["beam", "dvts", "lookahead", "mcts"])
def test_tree_methods_record_the_tree_they_explored(method: str) -> None:
    """The `tree` column: every node the search proposed, linked to its parent, with the path
    to the answer marked; that path's steps are the answer's trace (the report draws it)."""
    import json

    task = AdditionTask(digits=3)
    problem = task.problems("test", 1, 0)[0]
    policy = ScriptedPolicy(problem, filler=1)
    ctx = SolveContext(policy, task, 0, Sampling(), verifier=PrefersVerifier("bad"),
                       config=METHODS.config(method)())
    (attempt,) = METHODS.get(method).solve(ctx, [problem], 4)
    nodes = json.loads(attempt.tree)["nodes"]
    ids = {n["id"] for n in nodes}
    assert all(n["parent"] in ids for n in nodes if n["parent"] != -1)
    assert any(n["step"] == "good" for n in nodes) and any(n["step"] == "bad" for n in nodes)
    by_id = {n["id"]: n for n in nodes}
    leaf = next(n for n in nodes if n["chosen"] and n["done"]
                and not any(m["parent"] == n["id"] and m["chosen"] for m in nodes))
    path = []
    while leaf["id"] != -1 and leaf["step"]:
        path.append(leaf["step"])
        leaf = by_id.get(leaf["parent"], {"id": -1, "step": ""})
    assert "\n".join(reversed(path)) == attempt.traces[0].rstrip("\n")
    assert path[-1] == "bad"  # the path the verifier preferred


@pytest.mark.parametrize("method", ["beam", "dvts", "lookahead"])
def test_a_solution_longer_than_max_steps_still_gets_its_answer(method: str) -> None:
    """The last allowed step writes to the end, as search-and-learn does (was: no answer)."""
    task = AdditionTask(digits=3)
    problem = task.problems("test", 1, 0)[0]
    policy = ScriptedPolicy(problem, filler=3)  # 5 steps: first, 3 fillers, the answer
    ctx = SolveContext(policy, task, 0, Sampling(), verifier=PrefersVerifier("good"),
                       config=METHODS.config(method)(max_steps=2))
    (attempt,) = METHODS.get(method).solve(ctx, [problem], 4)
    assert task.check(attempt.answer, problem).correct
    assert task.steps(attempt.traces[0]) == ["good", "work", "work", "work", f"A={problem.reference}"]
    assert [c["stop"] for c in policy.calls if c["stop"] == []]  # the last step ran unstopped


def test_lookahead_generates_exactly_k_steps() -> None:
    """Each rollout call writes one step and stops (was: rolled out to EOS, kept k lines)."""
    task = AdditionTask(digits=3)
    problem = task.problems("test", 1, 0)[0]
    policy = ScriptedPolicy(problem, filler=6)
    ctx = SolveContext(policy, task, 0, Sampling(temperature=1.0), verifier=PrefersVerifier("good"),
                       config=METHODS.config("lookahead")(lookahead=1))
    (attempt,) = METHODS.get("lookahead").solve(ctx, [problem], 4)
    assert task.check(attempt.answer, problem).correct
    assert all(c["stop"] == ["\n"] for c in policy.calls)
    assert not any("\n" in t for c in policy.calls for t in c["texts"])
    # Charged: exactly the characters (tokens) of the steps the calls wrote, plus each stop.
    written = sum(len(t) + 1 for c in policy.calls for t in c["texts"] if t)
    assert attempt.cost.generated_tokens == written


class StepsSeen(PrefersVerifier):
    """Records every step list it scores."""

    def __init__(self, liked: str) -> None:
        super().__init__(liked)
        self.seen: list[list[str]] = []

    def score_many(self, problems, steps):
        self.seen += [list(s) for s in steps]
        return super().score_many(problems, steps)


@pytest.mark.parametrize("method", ["beam", "lookahead", "mcts"])
def test_one_step_definition_for_math(method: str) -> None:
    """Math steps are paragraphs everywhere: step search stops at a blank line, and the verifier
    scores the same units that `Task.steps` (pool scoring) gives (was: lines in search)."""
    from tasks.math.gsm8k import GSM8KTask

    task = GSM8KTask()
    assert task.step_separator == "\n\n"
    problem = Problem("p", "What is 3+4?", "7")
    policy = ScriptedPolicy(problem, sep="\n\n", filler=2, filler_text="3+4\nis 7")
    verifier = StepsSeen("good")
    ctx = SolveContext(policy, task, 0, Sampling(temperature=1.0), verifier=verifier,
                       config=METHODS.config(method)())
    (attempt,) = METHODS.get(method).solve(ctx, [problem], 4)
    assert attempt.answer == "7"
    assert task.steps(attempt.traces[0]) == ["good", "3+4\nis 7", "3+4\nis 7", "A=7"]
    assert all(c["stop"] in (["\n\n"], []) for c in policy.calls)
    whole = task.steps(attempt.traces[0])
    assert any(s == whole for s in verifier.seen)
    assert all(s == whole[:len(s)] or s[0] == "bad" for s in verifier.seen)


def test_tree_searches_on_the_testbed_are_seeded(tiny_ckpt: Path, tmp_path: Path) -> None:
    methods = [{"name": name, "verifier": "oracle", "budgets": [4]} for name in ("beam", "dvts", "lookahead", "mcts")]
    m = matrix(tiny_ckpt, methods)
    run_matrix(m, tmp_path / "a", quiet=True)
    run_matrix(m, tmp_path / "b", quiet=True)
    a = pd.read_parquet(tmp_path / "a" / "records").sort_values(["method", "problem_id"])
    b = pd.read_parquet(tmp_path / "b" / "records").sort_values(["method", "problem_id"])
    assert a["error"].isna().all() and a["method"].nunique() == 4
    assert a["answer"].tolist() == b["answer"].tolist() and a["trace"].tolist() == b["trace"].tolist()
    assert (a["generated_tokens"] > 0).all()


class RevisingPolicy(PolicyBase):
    """Answers wrong at first, right once asked to revise (to test self_refine's loop)."""

    params = 1

    def __init__(self, problem: Problem) -> None:
        self.right, self.wrong = problem.reference, str(int(problem.reference) + 1)

    def generate(self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=64, stop=(), seed=None):
        texts = [f"A={self.right if 'corrected' in p else self.wrong}" for p in prompts]
        return [[Completion(t, 3, 0.0, "stop")] * n for t in texts], [Cost(generated_tokens=3 * n) for _ in prompts]


def test_self_refine_revises_for_its_budget() -> None:
    task = AdditionTask(digits=3)
    problem = task.problems("test", 1, 0)[0]
    ctx = SolveContext(RevisingPolicy(problem), task, 0, Sampling(), config=METHODS.config("self_refine")())
    method = METHODS.get("self_refine")
    (draft,) = method.solve(ctx, [problem], 1)
    (revised,) = method.solve(ctx, [problem], 3)
    assert not task.check(draft.answer, problem).correct
    assert task.check(revised.answer, problem).correct
    assert revised.cost.generated_tokens == 3 * draft.cost.generated_tokens


def test_borda_counts_ranks_not_the_single_best() -> None:
    from baselines.search.borda import borda_pick

    keys, correct = ["a", "a", "a", "a", "b"], [True] * 4 + [False]
    # b has the single highest score (best-of-n would pick it); a's four candidates outrank
    # each other for 0+1+2+3 = 6 points against b's 4.
    assert borda_pick(keys, [0.5, 0.6, 0.7, 0.8, 0.95], correct, range(5)) == ("a", 1.0)
    # a: 1 + 2 = 3 points (a2 beats a1; both beat c), b: 3 — a tie splits the credit.
    assert borda_pick(["a", "a", "b", "c"], [0.2, 0.3, 0.9, 0.1], [True, True, False, False], range(4)) == ("a", 0.5)


def test_judge_scores_with_a_policy(tiny_ckpt: Path) -> None:
    task = AdditionTask(digits=4)
    problems = task.problems("test", 2, 0)
    judge = VERIFIERS.get("judge")(task, VERIFIERS.config("judge")(path=str(tiny_ckpt), n=3))
    scores, costs = judge.score_many(problems, [["1+2+0=3", "A=3"], ["A=5"]])
    assert [len(s) for s in scores] == [2, 1] and scores[0][0] == 0.5
    assert all(0.0 <= s[-1] <= 1.0 for s in scores)
    assert all(c.generated_tokens > 0 for c in costs)


def test_pooled_verifier_methods_run_on_the_testbed(tiny_ckpt: Path, tmp_path: Path) -> None:
    run_matrix(matrix(tiny_ckpt, [{"name": "borda", "verifier": "oracle"}, "self_refine"]), tmp_path / "p", quiet=True)
    df = pd.read_parquet(tmp_path / "p" / "records")
    assert df["error"].isna().all() and set(df["method"]) == {"borda(verifier=oracle)", "self_refine"}
