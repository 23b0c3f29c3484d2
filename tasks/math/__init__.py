"""Math tasks: procedural arithmetic (the testbed's task) and GSM8K."""
from tasks.math import addition, gsm8k  # noqa: F401
