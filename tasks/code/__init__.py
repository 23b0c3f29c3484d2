"""Code tasks: HumanEval and MBPP, checked in the sandbox."""
from tasks.code import humaneval, mbpp  # noqa: F401
