"""Code tasks: HumanEval and MBPP, checked in the sandbox."""
from harness.registry import TASKS

TASKS.lazy("humaneval", "tasks.code.humaneval")
TASKS.lazy("mbpp", "tasks.code.mbpp")
