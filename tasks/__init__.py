"""Task definitions. Importing this package registers every task with `harness.registry.TASKS`."""
from harness.registry import TASKS
from tasks import code, logic, math  # noqa: F401

# lm-eval's tasks: imported (with lm-eval) only when a matrix names `lm_eval:<task>`.
TASKS.lazy_family("lm_eval", "tasks.lm_eval_tasks", requires=("lm_eval",), extra="lmeval")
