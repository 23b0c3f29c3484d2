"""Math tasks: the testbed's addition, GSM8K, GSM-Symbolic, MATH, MATH-500, AIME."""
from tasks.math import addition, competition, gsm8k, gsm_symbolic  # noqa: F401
