"""thinkbench as an lm-eval model: `--model thinkbench`, any thinkbench method behind
lm-eval's `generate_until` (`thinkbench lm-eval ...` registers it and runs lm-eval).

model_args: `checkpoint` (a directory or alias; or lm-eval's name for it, `pretrained`, which
lm-eval names its output folder after), `method` (default greedy), `budget` (default 1),
`verifier` (a verifier name), `backend` (default hf), `temperature`/`top_p` (sampling methods;
default 1.0/1.0), `seed`, `task` (the thinkbench task whose `extract` the method votes with;
default `lm_eval:<the request's task>`, i.e. lm-eval's own filter pipeline), `include_path`
(where that lm-eval task's YAML lives), and any field of the method's, the backend's or the
verifier's typed config (`expansions=4`, `dtype=float32`, ...).

Decoding: lm-eval's `until` and `max_gen_toks` of each request are the stop strings and token
limit; the method decides the temperature (greedy methods decode at 0; lm-eval's `do_sample` and
`temperature` are ignored). What is returned: lm-eval scores the continuation text with its
filters, so each request gets a real completion whose extracted answer is the method's answer —
for a pooled method (majority, best_of_n, ...) the first sample of the pool that gave the
answer the method picked (the vote's answer, not one random sample); for other methods the
completion behind the answer. It is cut at `until` as lm-eval's own models cut. The model never
sees lm-eval's targets: oracle verifiers and oracle methods are refused.

loglikelihood requests (multiple-choice, perplexity) are refused: a reasoning method produces
text, not the log-probabilities of given continuations.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import postprocess_generated_text

from harness.checkpoint import resolve_checkpoint
from harness.config import make_config
from harness.contracts import Problem, Sampling, TaskBase, Verdict
from harness.matrix import build_task
from harness.methods import SamplePool, SolveContext
from harness.registry import BACKENDS, METHODS, VERIFIERS, ConfigError, load_plugins

ORACLES = ("oracle",)  # verifiers that read the reference, which an lm-eval model must not see


class HiddenReference(TaskBase):
    """A task as an lm-eval model sees it: its extraction, voting keys and steps, but no
    reference (lm-eval scores the answer afterwards), so every check says so and is False."""

    def __init__(self, task: Any) -> None:
        self.inner = task
        self.name = task.name
        self.step_separator = task.step_separator

    def prompt(self, problem: Problem) -> str | list[dict]:
        return problem.prompt

    def extract(self, completion: str) -> str | None:
        return self.inner.extract(completion)

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        return Verdict(False, "reference hidden: lm-eval scores this answer")

    def canonical(self, answer: str) -> str:
        return self.inner.canonical(answer)

    def voting_keys(self, answers: list[str | None], problem: Problem) -> list[str | None]:
        return self.inner.voting_keys(answers, problem)

    def steps(self, completion: str) -> list[str]:
        return self.inner.steps(completion)


def _split(fields: dict[str, type | None], params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Route each extra model_arg to the one typed config that has a field of that name."""
    out: dict[str, dict[str, Any]] = {k: {} for k in fields}
    for key, value in params.items():
        owners = [k for k, cls in fields.items() if cls is not None and key in {f.name for f in dataclasses.fields(cls)}]
        if len(owners) != 1:
            known = sorted({f.name for cls in fields.values() if cls is not None for f in dataclasses.fields(cls)})
            why = "belongs to several configs" if owners else f"is no field of {', '.join(fields)} (known: {', '.join(known) or 'none'})"
            raise ConfigError(f"thinkbench model_args: {key!r} {why}")
        out[owners[0]][key] = value
    return out


@register_model("thinkbench")
class ThinkbenchLM(LM):
    """An lm-eval model whose generate_until runs a thinkbench method."""

    def __init__(self, checkpoint: str | None = None, method: str = "greedy", budget: int = 1, verifier: str | None = None,
                 backend: str = "hf", temperature: float = 1.0, top_p: float = 1.0, seed: int = 0,
                 task: str | None = None, include_path: str | None = None,
                 # lm-eval passes its --batch_size/--max_batch_size; the backend batches by its own config.
                 batch_size: Any = None,
                 max_batch_size: Any = None, device: str | None = None, pretrained: str | None = None,
                 **params: Any) -> None:
        super().__init__()
        if (checkpoint is None) == (pretrained is None):
            raise ConfigError("thinkbench model_args: name the model with checkpoint=DIR (or lm-eval's pretrained=DIR), once")
        checkpoint = checkpoint or pretrained
        load_plugins()
        self.method = METHODS.get(method)
        if method.startswith("oracle") or verifier in ORACLES:
            raise ConfigError(f"thinkbench model_args: {method if method.startswith('oracle') else verifier!r} "
                              "reads the reference answer, which an lm-eval model never sees")
        if self.method.needs_verifier and verifier is None:
            raise ConfigError(f"thinkbench model_args: method {method!r} needs a verifier (verifier=...)")
        backend_cls = BACKENDS.config(backend)
        verifier_cls = VERIFIERS.config(verifier) if verifier else None
        if device is not None:  # lm-eval's --device
            params.setdefault("device", device)
        routed = _split({"method": self.method.config, "backend": backend_cls, "verifier": verifier_cls}, params)
        self.method_config = make_config(self.method.config, routed["method"], "thinkbench model_args (method)")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise ConfigError(f"thinkbench model_args: budget must be a positive integer, got {budget!r}")
        self.budget = budget if self.method.uses_budget else 1
        why = self.method_config.budget_error(self.budget)
        if why:
            raise ConfigError(f"thinkbench model_args: budget {self.budget}: {why}")
        self.verifier_name = verifier
        self.verifier_config = make_config(verifier_cls, routed["verifier"], "thinkbench model_args (verifier)") \
            if verifier_cls else None
        path = resolve_checkpoint(str(checkpoint))
        self.policy = BACKENDS.get(backend)(path, make_config(backend_cls, routed["backend"],
                                                              "thinkbench model_args (backend)"))
        self.temperature = 0.0 if self.method.greedy else float(temperature)
        self.top_p = 1.0 if self.method.greedy else float(top_p)
        self.seed = seed
        self.task_name = task
        self.include_path = include_path
        self._tasks: dict[str, Any] = {}

    def _task(self, lm_task: str | None) -> HiddenReference:
        name = self.task_name or f"lm_eval:{lm_task}"
        if name not in self._tasks:
            params = {"include_path": self.include_path} if name.startswith("lm_eval:") and self.include_path else {}
            self._tasks[name] = HiddenReference(build_task(name, params))
        return self._tasks[name]

    def generate_until(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[str]:
        """One continuation per request, grouped by (task, generation settings)."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, req in enumerate(requests):
            gen = req.args[1] if len(req.args) > 1 else {}
            until = gen.get("until", [])
            until = (until,) if isinstance(until, str) else tuple(until)
            groups[(req.task_name, until, int(gen.get("max_gen_toks", 256)))].append(i)
        out: list[str] = [""] * len(requests)
        for (lm_task, until, max_tokens), idx in groups.items():
            task = self._task(lm_task)
            problems = [Problem(id=str(i), prompt=requests[i].args[0], reference=None) for i in idx]
            texts = self._solve(task, problems, Sampling(self.temperature, self.top_p, max_tokens, until))
            for i, text in zip(idx, texts):
                out[i] = postprocess_generated_text(text, list(until), None)
        return out

    def _solve(self, task: HiddenReference, problems: list[Problem], sampling: Sampling) -> list[str]:
        """The method's answers, as the completion texts lm-eval's filters extract them from."""
        pool = SamplePool(self.budget, self.seed, sampling) if self.method.pooled else None
        verifier = VERIFIERS.get(self.verifier_name)(task, self.verifier_config) if self.verifier_name else None
        self.policy.reset_cache()
        ctx = SolveContext(self.policy, task, self.seed, sampling, pool, verifier, self.method_config)
        attempts = {a.problem_id: a for a in self.method.solve(ctx, problems, self.budget)}
        texts = []
        for p in problems:
            a = attempts.get(p.id)
            if a is None:
                texts.append("")
                continue
            text = a.traces[0] if a.traces else ""
            if pool is not None and a.answer is not None:
                # The vote's answer, in the words of a sample that gave it.
                text = next((s.completion.text for s in pool.drawn[p.id][0] if s.answer == a.answer), text)
            texts.append(text)
        return texts

    def loglikelihood(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise ConfigError(f"the thinkbench model answers generate_until requests only; task "
                          f"{requests[0].task_name if requests else '?'} asks for loglikelihood (multiple-choice "
                          "or perplexity), which scores given continuations, not a method's answer")

    def loglikelihood_rolling(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[float]:
        return self.loglikelihood(requests)  # type: ignore[return-value]
