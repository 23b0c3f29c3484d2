"""`lm_eval:<task>`: any lm-eval `generate_until` task as a thinkbench task, scored as lm-eval scores it.

lm-eval's TaskManager loads the task (its built-in YAMLs, plus `include_path` for local ones; a
YAML with `dataset_path: json` and `dataset_kwargs: {data_files: ...}` runs offline). Then:

- problems: the task's docs in lm-eval's order (`test`: the split lm-eval evaluates, its test
  split or else its validation split; `validation`, `train`: those splits); n = lm-eval's
  `--limit` (the first n docs). The id is the doc_id, so records pair with an import of
  lm-eval's own samples (`thinkbench import-lm-eval`);
- prompt: lm-eval's context for the doc (`fewshot_context`: description, few-shot examples drawn
  with lm-eval's default seed 1234, then `doc_to_text`), plain text, no chat template;
  reference: `doc_to_target`;
- extract: the completion cut at the first of the task's `until` strings (what lm-eval's models
  return), then the task's filter pipeline (`filter`: its name; default the first, e.g.
  gsm8k's `strict-match`). A regex filter's fallback (`[invalid]`) is "no answer" (None);
- check: the task's own `process_results` with the task's metric (`metric`; default the first
  of its metric_list): correct when it is 1 (exact_match, acc; a graded metric counts only a
  perfect score). No answer is scored as lm-eval scores the fallback text.

Stop strings and the token limit: the Task contract has no stop strings, so the runner decodes
with the matrix's `generation:` settings. `stop` and `max_tokens` here say what the task asks
for (lm-eval's `until` and `max_gen_toks`); set `generation: {stop: [...], max_tokens: N}` to
them to spend what lm-eval spends. The answer does not depend on it: extract cuts at `until`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config import make_config
from harness.contracts import Problem, TaskBase, Verdict
from harness.lm_eval_tasks_index import task_manager
from harness.registry import TASKS, ConfigError

DEFAULT_FEWSHOT_SEED = 1234  # lm-eval's simple_evaluate default (lm_eval.defaults.DEFAULT_OTHER_SEED)


@dataclass(frozen=True)
class LMEvalParams:
    """The knobs of `lm_eval:<task>` (a matrix task's `params`)."""

    include_path: str | None = None  # a directory of task YAMLs (local tasks)
    filter: str | None = None        # the filter pipeline that extracts the answer (default: the first)
    metric: str | None = None        # the metric that decides `correct` (default: the first)
    num_fewshot: int | None = None   # lm-eval's --num_fewshot (default: the task's, else 0)


def load_lm_eval_task(name: str, params: LMEvalParams) -> Any:
    """The lm-eval Task object `name`, with its few-shot settings set as simple_evaluate sets them."""
    manager = task_manager(params.include_path, [name])
    try:
        loaded = manager.load([name])
    except Exception as e:  # noqa: BLE001 - lm-eval raises KeyError/ValueError/... for unknown names
        where = f" (include_path {params.include_path})" if params.include_path else ""
        raise ConfigError(f"lm_eval:{name}: lm-eval cannot load the task{where}: "
                          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    tasks = loaded["tasks"]
    if loaded["groups"] or len(tasks) != 1:
        raise ConfigError(f"lm_eval:{name}: a group or tag of {len(tasks)} tasks; name one of them "
                          f"({', '.join(sorted(tasks)[:5])})")
    task = next(iter(tasks.values()))
    if task.get_config("output_type") != "generate_until":
        raise ConfigError(f"lm_eval:{name}: output_type {task.get_config('output_type')!r}; thinkbench "
                          "methods generate text, so only generate_until tasks can be thinkbench tasks")
    if params.num_fewshot is not None:
        task.set_config(key="num_fewshot", value=params.num_fewshot)
    elif task.get_config("num_fewshot") is None:
        task.set_config(key="num_fewshot", value=0)
    task.set_fewshot_seed(seed=DEFAULT_FEWSHOT_SEED)
    return task


class LMEvalTask(TaskBase):
    """An lm-eval generate_until task: lm-eval's prompts, filters and metric."""

    def __init__(self, task: str, params: LMEvalParams) -> None:
        self.name = f"lm_eval:{task}"
        self.params = params
        self.lm_task = load_lm_eval_task(task, params)
        ensembles = {f.name: f for f in getattr(self.lm_task, "_filters", [])}
        chosen = params.filter or next(iter(ensembles), None)
        if chosen not in ensembles:
            raise ConfigError(f"{self.name}: params.filter: unknown filter {chosen!r} "
                              f"(known: {', '.join(ensembles) or 'none'})")
        self.filter_name = chosen
        # Each step is a factory (lm-eval builds a fresh Filter per application).
        self._steps = list(ensembles[chosen].filters)
        fallbacks = [getattr(step(), "fallback", None) for step in self._steps]
        self.fallback = next((f for f in fallbacks if isinstance(f, str)), None)
        metrics = list(self.lm_task._metric_fn_list)
        self.metric = params.metric or (metrics[0] if metrics else None)
        if self.metric not in metrics:
            raise ConfigError(f"{self.name}: params.metric: unknown metric {self.metric!r} "
                              f"(known: {', '.join(metrics) or 'none'})")
        gen = self.lm_task.get_config("generation_kwargs") or {}
        until = gen.get("until", [])
        self.stop: tuple[str, ...] = tuple([until] if isinstance(until, str) else until)
        self.max_tokens: int = int(gen.get("max_gen_toks", 256))

    def _docs(self, split: str) -> list[tuple[int, Any]]:
        t = self.lm_task
        if split == "test":
            return list(enumerate(t.eval_docs))
        has = {"validation": t.has_validation_docs, "train": t.has_training_docs}.get(split)
        if has is None:
            raise ConfigError(f"{self.name}: unknown split {split!r} (known: test, validation, train)")
        if not has():
            raise ConfigError(f"{self.name}: the lm-eval task has no {split} split")
        return list(enumerate(t.validation_docs() if split == "validation" else t.training_docs()))

    splits = ("test", "validation", "train")

    def available(self, split: str, n: int) -> tuple[int, bool]:
        """How many of `n` docs the split has (a ConfigError when the task lacks the split)."""
        return min(n, len(self._docs(split))), True

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        """The first n docs of `split` in lm-eval's order (`seed` does not reorder a dataset)."""
        t = self.lm_task
        docs = self._docs(split)
        if n is not None and n > len(docs):
            raise ConfigError(f"{self.name}: n_problems {n} is more than the {split} split holds ({len(docs)} docs)")
        docs = docs[:n] if n is not None else docs
        shots = t.get_config("num_fewshot") or 0
        out = []
        for doc_id, doc in docs:
            context = t.fewshot_context(doc, num_fewshot=shots, gen_prefix=t.doc_to_prefix(doc))
            if not isinstance(context, str):
                raise ConfigError(f"{self.name}: doc {doc_id} has a multi-input context; not supported")
            target = t.doc_to_target(doc)
            out.append(Problem(id=str(doc_id), prompt=context, reference=target,
                               meta={"doc": doc, "doc_id": doc_id}))
        return out

    def cut(self, completion: str) -> str:
        """The completion up to the first stop string, as lm-eval's models return it (lm-eval's
        own post-processing, so the cut is the one its `hf` and `vllm` models make)."""
        from lm_eval.models.utils import postprocess_generated_text

        return postprocess_generated_text(completion, list(self.stop), None)

    def extract(self, completion: str) -> str | None:
        resps: Any = [[self.cut(completion)]]
        for step in self._steps:
            # No doc here: filters that read the doc are not supported. Some filters return
            # iterators (take_first a map), as FilterEnsemble tolerates between steps.
            resps = list(step().apply(resps, [{}]))
        found = resps[0]
        while isinstance(found, list):  # a pipeline without take_first keeps a list
            found = found[0] if found else None
        if found is None or found == self.fallback:
            return None
        return str(found)

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        text = answer if answer is not None else self.fallback
        if text is None:
            return Verdict(False, "no answer")
        scores = self.lm_task.process_results(problem.meta["doc"], [text])
        value = scores.get(self.metric)
        if not isinstance(value, (int, float)):
            raise ValueError(f"{self.name}: metric {self.metric!r} gave {value!r}, not a number")
        return Verdict(float(value) >= 1.0, f"{self.metric} {float(value):g}" + (" (no answer)" if answer is None else ""))


@TASKS.register_family("lm_eval")
def lm_eval_task(task: str):
    """Any lm-eval generate_until task (needs the lmeval extra), scored by its filters and metric."""

    def build(**params: Any) -> LMEvalTask:
        cfg = make_config(LMEvalParams, params, f"task 'lm_eval:{task}'.params")
        return LMEvalTask(task, cfg)

    build.__doc__ = f"lm-eval task {task!r}, scored by its own filter pipeline and metric."
    return build

