"""Loading a task's rows from the Hugging Face hub: one probe of the hub first, so a machine
that cannot reach it reads the local dataset cache at once (offline mode) instead of spending
half a minute in the hub client's retries, and the failure is one line."""
from __future__ import annotations

import functools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from urllib.parse import urlparse

from harness.registry import ConfigError

PROBE_TIMEOUT_S = 3.0


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """Whether a TCP connection to the hub's endpoint (HF_ENDPOINT, default huggingface.co)
    opens within a few seconds; asked once per process."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:  # no DNS, refused, timed out: all "not reachable from here"
        return False


@contextmanager
def offline_mode() -> Iterator[None]:
    """The hub client and `datasets` in offline mode (cache only, no requests) for the block."""
    import datasets.config
    import huggingface_hub.constants as hub

    saved = hub.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE
    hub.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE = saved


def load_hf_rows(task: str, name: str, config: str | None, split: str) -> list[dict]:
    """Rows of an HF dataset: from the hub when it can be reached, else from the local cache;
    a one-line ConfigError naming the task and the dataset when neither has it."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise ConfigError(f"{task}: no `data` file given, and reading the HF dataset {name} needs the "
                          "`datasets` package; set data: PATH.jsonl") from None
    import huggingface_hub.constants as hub

    online = not hub.HF_HUB_OFFLINE and hub_reachable()
    try:
        with nullcontext() if online else offline_mode():
            return [dict(r) for r in load_dataset(name, config, split=split)]
    except Exception as e:  # noqa: BLE001 - any failure means "not available here"
        why = (type(e).__name__ if online else
               "the Hugging Face hub cannot be reached from here and the dataset is not in the local cache")
        raise ConfigError(f"{task}: no `data` file given and the HF dataset {name} could not be loaded "
                          f"({why}); offline, set data: PATH.jsonl") from None
