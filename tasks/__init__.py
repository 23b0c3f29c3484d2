"""Task definitions. Importing this package registers every task with `harness.registry.TASKS`."""
from tasks import math  # noqa: F401
