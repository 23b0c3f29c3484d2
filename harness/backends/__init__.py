"""Policy backends. Importing this package registers them with `harness.registry.BACKENDS`."""
from harness.backends import hf  # noqa: F401
