"""Logic tasks: every reasoning-gym dataset as `rg:<name>`."""
from tasks.logic import reasoning_gym  # noqa: F401
