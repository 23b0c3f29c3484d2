"""`gsm_symbolic`: GSM-Symbolic (Mirzadeh et al. 2024) problems from reasoning-gym's offline
generator — GSM8K templates with new names and numbers, so scores can't come from memory."""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.contracts import Problem
from harness.registry import TASKS, ConfigError
from tasks.math.base import PERCENT_RE, MathTask

PROMPT = "Question: {question}\nAnswer: Let's think step by step."
SPLIT_SEED = {"test": 0, "train": 1_000_003}


@TASKS.register("gsm_symbolic")
@dataclass
class GSMSymbolicTask(MathTask):
    """GSM-Symbolic: templated GSM8K variants, numeric answers, seeded."""

    config: dict = field(default_factory=dict)
    name: str = "gsm_symbolic"

    splits = tuple(SPLIT_SEED)
    procedural = True  # problems are generated: a matrix must say how many (n_problems)

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        from tasks.logic.reasoning_gym import _rg

        if split not in SPLIT_SEED:
            raise ConfigError(f"gsm_symbolic: unknown split {split!r} (known: test, train)")
        if n is None:
            raise ConfigError("gsm_symbolic: a procedural task needs n_problems")
        ds = _rg().create_dataset("gsm_symbolic", seed=seed + SPLIT_SEED[split], size=n, **self.config)
        return [Problem(id=f"gsm_symbolic-{seed}-{split}-{i}", reference=str(e["answer"]),
                        prompt=PROMPT.format(question=e["question"]),
                        meta={"percent": bool(PERCENT_RE.search(e["question"]))})
                for i, e in enumerate(ds)]
