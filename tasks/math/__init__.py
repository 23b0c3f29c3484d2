"""Math tasks: the testbed's addition, GSM8K, GSM-Symbolic, MATH, MATH-500, AIME."""
from harness.registry import TASKS

TASKS.lazy("addition", "tasks.math.addition")
TASKS.lazy("gsm8k", "tasks.math.gsm8k")
TASKS.lazy("gsm_symbolic", "tasks.math.gsm_symbolic")
for _name in ("math", "math500", "aime"):
    TASKS.lazy(_name, "tasks.math.competition")
