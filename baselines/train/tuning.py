"""What the fine-tuning trainers (sft, rft, dpo, grpo, rloo) share.

- `sample`: the base model's own solutions on the task's train split, checked by the task,
  through the `hf` backend (so sampling is counted as every other generation is).
- `trl_args`: TRL's config for a run of `budget` optimizer steps, on CPU or GPU, no files.
- `fit`: run a TRL trainer with the caller's progress bar; returns the tokens it processed.
- `finish`: save the checkpoint atomically with its cost in thinkbench.json.

Cost (DESIGN.md, "Compute accounting"): training is 6 · params · tokens processed; a forward
pass that only scores (a DPO or KL reference model) is 2 · params · tokens; sampling the data
is whatever the generations cost (2 · params · computed tokens). TRL leaves `total_flos` at 0
for GRPO and RLOO, so nothing here reads it: tokens are counted and FLOPs derived.
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from harness.checkpoint import read_info, resolve_checkpoint, save_checkpoint
from harness.compute import inference_flops, training_flops
from harness.config import make_config
from harness.contracts import Cost, Problem, Sampling, TrainedCheckpoint, TrainerConfig, VerifierConfig
from harness.methods import SamplePool, SolveContext, extract_and_check
from harness.registry import BACKENDS, METHODS, VERIFIERS

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TuneConfig(TrainerConfig):
    """Knobs every fine-tuning trainer has. `budget` (the trainer's argument) is the number of
    optimizer steps; these say on what data and how fast."""

    problems: int = 512       # train-split problems the data comes from
    batch: int = 16           # sequences (or prompts × generations for RL) per optimizer step
    lr: float = 1e-4
    max_tokens: int = 128     # longest sampled solution
    temperature: float = 1.0  # sampling temperature for the data (and RL rollouts)

    def validate(self) -> None:
        if min(self.problems, self.batch, self.max_tokens) < 1:
            raise ValueError("problems, batch and max_tokens must be >= 1")
        if self.lr <= 0 or self.temperature <= 0:
            raise ValueError("lr and temperature must be > 0")


@dataclass(frozen=True)
class DataConfig(TuneConfig):
    """Where training solutions come from: `samples` per problem, drawn by plain sampling or,
    with `search`, by a registered test-time method at `search_budget` (one solution per problem
    per run, `samples` runs with different seeds), scored by `verifier` at `verifier_path` when
    the method needs one. Search-made data is what OpenR, ReST-MCTS* and LLaMA-Berry train on."""

    samples: int = 8
    search: str = ""          # a test-time method (beam, mcts, best_of_n, ...); "": plain sampling
    search_budget: int = 4
    verifier: str = ""        # the search's verifier (prm, orm, judge); "": none
    verifier_path: str = ""   # its checkpoint (`testbed/prm`, a directory, a hub id)

    def validate(self) -> None:
        super().validate()
        if self.samples < 1 or self.search_budget < 1:
            raise ValueError("samples and search_budget must be >= 1")
        if self.search:
            method = METHODS.get(self.search)  # an unknown name: one error naming the known ones
            if method.needs_verifier and not self.verifier:
                raise ValueError(f"search {self.search!r} needs a verifier (verifier: prm, verifier_path: ...)")
            why = method.config().budget_error(self.search_budget) if method.uses_budget else None
            if why:
                raise ValueError(f"search_budget: {why}")
        if self.verifier:
            VERIFIERS.get(self.verifier)


@dataclass
class Sampled:
    """One sampled solution of a train problem and whether the task's checker accepts it."""

    problem: Problem
    text: str
    correct: bool


def sample(policy: Any, task: Any, problems: list[Problem], k: int, cfg: TuneConfig, seed: int
           ) -> tuple[list[list[Sampled]], Cost]:
    """`k` solutions per problem from `policy` (by `cfg.search` when it names one), each
    checked; one list per problem. A check that raises counts the sample as wrong (it never
    enters training as correct)."""
    if getattr(cfg, "search", ""):
        return search(policy, task, problems, k, cfg, seed)
    outs, costs = policy.generate([task.prompt(p) for p in problems], n=k, temperature=cfg.temperature,
                                  max_tokens=cfg.max_tokens, seed=seed)
    texts = [[c.text for c in comps] for comps in outs]
    flat = [(p, t) for p, ts in zip(problems, texts) for t in ts]
    it = iter(checked(task, [p for p, _ in flat], [t for _, t in flat]))
    pools = [[Sampled(p, t, next(it)) for t in ts] for p, ts in zip(problems, texts)]
    return pools, sum(costs, Cost())


def checked(task: Any, problems: list[Problem], texts: list[str]) -> list[bool]:
    """Whether the task's checker accepts each text; one that cannot be extracted or checked
    counts as wrong (it never enters training as correct)."""
    _, verdicts, errors = extract_and_check(task, problems, texts)
    return [bool(v.correct) and e is None for v, e in zip(verdicts, errors)]


def build_verifier(task: Any, name: str, path: str, where: str) -> Any:
    """A registered verifier on `task`, its checkpoint at `path` ("" for none)."""
    cfg = make_config(VERIFIERS.config(name) or VerifierConfig,
                      {"path": resolve_checkpoint(path)} if path else {}, where)
    return VERIFIERS.get(name)(task, cfg)


def search(policy: Any, task: Any, problems: list[Problem], k: int, cfg: DataConfig, seed: int
           ) -> tuple[list[list[Sampled]], Cost]:
    """`k` runs of the test-time method `cfg.search` over the problems (seeds seed..seed+k-1):
    each run's final solution per problem, checked; the cost is everything the runs spent,
    the verifier's included. A problem the method returns nothing for gets no sample."""
    method = METHODS.get(cfg.search)
    verifier = (build_verifier(task, cfg.verifier, cfg.verifier_path, f"{cfg.search} verifier {cfg.verifier!r}")
                if cfg.verifier else None)
    sampling = Sampling(temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    pools: list[list[Sampled]] = [[] for _ in problems]
    cost = Cost()
    for run in range(k):
        policy.reset_cache()
        if verifier is not None:
            verifier.reset_cache()
        pool = SamplePool(cfg.search_budget, seed + run, sampling) if method.pooled else None
        ctx = SolveContext(policy, task, seed + run, sampling, pool, verifier, method.config())
        by_id = {a.problem_id: a for a in method.solve(ctx, problems, cfg.search_budget)}
        found = [(i, p, by_id[p.id]) for i, p in enumerate(problems) if p.id in by_id]
        cost = sum((a.cost for _, _, a in found), cost)
        kept = [(i, p, a.traces[0]) for i, p, a in found if a.traces and a.error is None]
        for (i, p, text), ok in zip(kept, checked(task, [p for _, p, _ in kept], [t for _, _, t in kept])):
            pools[i].append(Sampled(p, text, ok))
    return pools, cost


def load_policy(path: str | Path) -> Any:
    """The `hf` backend on `path` with default settings (plain prompts, as trainers feed them)."""
    return BACKENDS.get("hf")(str(path))


def trl_args(config_cls: type, cfg: TuneConfig, budget: int, seed: int, workdir: Path, **extra: Any) -> Any:
    """TRL's config for `budget` optimizer steps: seeded, no checkpoints or logs written, CPU
    unless a GPU is present (bf16 there when it is supported)."""
    import datasets
    import torch

    datasets.disable_progress_bars()  # TRL's dataset maps would draw bars under ours
    gpu = torch.cuda.is_available()
    return config_cls(output_dir=str(workdir), max_steps=budget, per_device_train_batch_size=cfg.batch,
                      learning_rate=cfg.lr, seed=seed, data_seed=seed, use_cpu=not gpu,
                      bf16=gpu and torch.cuda.is_bf16_supported(), report_to=[], save_strategy="no",
                      logging_steps=max(1, budget // 10), disable_tqdm=True, dataloader_num_workers=0,
                      **extra)


def fit(trainer: Any, name: str, budget: int, progress: Progress | None) -> int:
    """Run a TRL trainer for its `max_steps`, reporting each step; returns the tokens it processed
    (prompt and completion, padding excluded)."""
    from transformers import PrinterCallback, TrainerCallback

    class Report(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if progress:
                loss = next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None)
                shown = f" · loss {float(loss):.3f}" if loss is not None else ""
                progress(f"training {name}{shown}", state.global_step, budget)

    trainer.remove_callback(PrinterCallback)  # its log dicts would bury the path printed last
    trainer.add_callback(Report())
    trainer.train()
    return int(trainer.state.num_input_tokens_seen)


def workdir() -> tempfile.TemporaryDirectory:
    """A scratch output_dir for TRL (it writes nothing there with our args, but wants one)."""
    return tempfile.TemporaryDirectory(prefix="thinkbench-trl-")


def finish(name: str, base: Path, model: Any, tokenizer: Any, out: Path, cfg: TrainerConfig, *, budget: int,
           seed: int, task: Any, train_tokens: int, scored_tokens: int = 0, data: Cost = Cost(),
           started: float, extra: dict | None = None) -> TrainedCheckpoint:
    """Save the trained model to `out` with what it cost, and return it as a TrainedCheckpoint.

    `train_tokens` went through forward and backward (6 · params each); `scored_tokens` through
    a forward pass only (a reference model: 2 · params each); `data` is the sampling that made
    the training data. The checkpoint's `train_flops` adds its base's; `post_train_flops` adds
    the base's post-training, so a chain (sft, then grpo) carries everything spent on it."""
    params = sum(p.numel() for p in model.parameters())
    stage = training_flops(params, train_tokens) + inference_flops(params, scored_tokens)
    added = stage + data.flops
    base_info = read_info(base)
    info = {"trainer": name, "config": asdict(cfg), "base": str(base), "task": getattr(task, "name", str(task)),
            "budget": budget, "seed": seed, "params": params, "train_tokens": train_tokens,
            "scored_tokens": scored_tokens, "stage_flops": stage, "data_flops": data.flops,
            "data_generated_tokens": data.generated_tokens,
            "post_train_flops": float(base_info.get("post_train_flops", 0.0)) + added,
            "train_flops": float(base_info.get("train_flops", 0.0)) + added,
            "train_wall_s": time.perf_counter() - started} | (extra or {})
    save_checkpoint(model, tokenizer, out, info)
    print(f"{name}: {budget} steps, {train_tokens} training tokens, {added:.3g} FLOPs "
          f"({data.flops:.3g} of them sampling data), {info['train_wall_s']:.0f} s", file=sys.stderr)
    return TrainedCheckpoint(out, Cost(generated_tokens=data.generated_tokens, flops=added,
                                       wall_s=info["train_wall_s"]), info)


def load_model(base: Path) -> tuple[Any, Any]:
    """The base causal LM (fp32, eager attention: what trains fastest at testbed size on CPU)
    and its tokenizer, with a pad token."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base, dtype="float32", attn_implementation="eager")
    return model, tokenizer


def sft_steps(model: Any, tokenizer: Any, examples: list[tuple[str, str]], cfg: TuneConfig, steps: int,
              seed: int, name: str, progress: Progress | None) -> int:
    """`steps` optimizer steps of TRL's SFTTrainer on (prompt, completion) pairs, loss on the
    completion only (EOS appended), cycling through the data as often as needed. Returns the
    tokens processed."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if not examples:
        raise ValueError(f"{name}: no training examples (nothing to fine-tune on)")
    data = Dataset.from_list([{"prompt": p, "completion": c} for p, c in examples])
    with workdir() as tmp:
        args = trl_args(SFTConfig, cfg, steps, seed, Path(tmp), include_num_input_tokens_seen="non_padding",
                        completion_only_loss=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
        return fit(trainer, name, steps, progress)


@dataclass(frozen=True)
class RLConfig(TuneConfig):
    """Online RL with the task's checker as the reward: `batch` completions per step, in
    groups of `generations` per prompt; `beta` is the KL penalty to the base (0: none, and no
    reference model is run)."""

    generations: int = 8
    beta: float = 0.0
    lr: float = 1e-5
    # The reward: the task's checker (1/0), or a learned `verifier` at `verifier_path` (a PRM or
    # ORM's solution score), as Math-Shepherd trains with its PRM. A learned reward can be gamed;
    # the evaluation's checker shows whether it was.
    reward: Literal["checker", "verifier"] = "checker"
    verifier: str = ""
    verifier_path: str = ""

    def validate(self) -> None:
        super().validate()
        if self.generations < 2 or self.batch % self.generations:
            raise ValueError(f"generations must be >= 2 and divide batch ({self.batch})")
        if self.beta < 0:
            raise ValueError("beta must be >= 0")
        if self.reward == "verifier" and not (self.verifier and self.verifier_path):
            raise ValueError("reward 'verifier' needs verifier (prm, orm) and verifier_path")


def checker_reward(task: Any, problems: list[Problem]) -> Callable[..., list[float]]:
    """A TRL reward function: 1.0 when the task's checker accepts the completion's answer, else
    0.0 (an answer the checker cannot judge scores 0, and the step goes on)."""
    by_id = {p.id: p for p in problems}

    def reward(prompts: list[str], completions: list[str], problem_id: list[str], **_: Any) -> list[float]:
        return [float(ok) for ok in checked(task, [by_id[i] for i in problem_id], completions)]

    reward.__name__ = "correct"
    return reward


def verifier_reward(task: Any, problems: list[Problem], cfg: RLConfig) -> tuple[Callable[..., list[float]], list[Cost]]:
    """A TRL reward function from a learned verifier: its solution score of the completion's
    steps (0 for a completion with none). The second value collects what scoring cost."""
    verifier = build_verifier(task, cfg.verifier, cfg.verifier_path, f"reward verifier {cfg.verifier!r}")
    by_id = {p.id: p for p in problems}
    spent: list[Cost] = []

    def reward(prompts: list[str], completions: list[str], problem_id: list[str], **_: Any) -> list[float]:
        steps = [task.steps(c) for c in completions]
        verifier.reset_cache()
        scores, costs = verifier.score_many([by_id[i] for i in problem_id], steps)
        spent.extend(costs)
        return [float(verifier.solution_score(s)) if st else 0.0 for s, st in zip(scores, steps)]

    reward.__name__ = cfg.verifier
    return reward, spent


def rl_train(name: str, config_cls: type, trainer_cls: type, base: Path, task: Any, budget: int, seed: int,
             cfg: RLConfig, out: Path, progress: Progress | None, **extra: Any) -> TrainedCheckpoint:
    """`budget` steps of a TRL online-RL trainer (GRPO, RLOO) rewarded by the task's checker.

    Cost: every token of every rollout is sampled (2 · params), then trained on (6 · params),
    and scored by the reference model when `beta` > 0 (2 · params). One optimisation pass per
    batch of rollouts (TRL's `num_iterations=1`), so no extra old-policy forward pass."""
    from datasets import Dataset

    started = time.perf_counter()
    problems = task.problems("train", cfg.problems, seed)
    data = Dataset.from_list([{"prompt": task.prompt(p), "problem_id": p.id} for p in problems])
    model, tokenizer = load_model(base)
    with workdir() as tmp:
        args = trl_args(config_cls, cfg, budget, seed, Path(tmp), num_generations=cfg.generations,
                        max_completion_length=cfg.max_tokens, temperature=cfg.temperature, beta=cfg.beta,
                        num_iterations=1, **extra)
        spent: list[Cost] = []
        if cfg.reward == "verifier":
            reward, spent = verifier_reward(task, problems, cfg)
        else:
            reward = checker_reward(task, problems)
        trainer = trainer_cls(model=model, reward_funcs=reward, args=args, train_dataset=data,
                              processing_class=tokenizer)
        tokens = fit(trainer, name, budget, progress)
    params = sum(p.numel() for p in model.parameters())
    # The samples RL learns from, and what a learned reward spent scoring them.
    rollouts = sum(spent, Cost(flops=inference_flops(params, tokens)))
    rewards = [h[k] for h in trainer.state.log_history for k in ("reward",) if k in h]
    return finish(name, base, model, tokenizer, out, cfg, budget=budget, seed=seed, task=task,
                  train_tokens=tokens, scored_tokens=tokens if cfg.beta > 0 else 0, data=rollouts,
                  started=started, extra={"rollout_tokens": tokens, "reward_log": rewards})
