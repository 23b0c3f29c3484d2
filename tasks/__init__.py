"""Task definitions. Importing this package registers every task with `harness.registry.TASKS`."""
from tasks import code, logic, math  # noqa: F401
