"""Checkpoints: the one place that reads and writes `thinkbench.json` (what a trainer records
beside the HF files: training tokens and FLOPs, config, evaluations) and that resolves the
names a matrix may use for a checkpoint (`testbed`, `testbed/step-600`, `testbed/prm`, a model
source's name such as `smollm2-135m-instruct`, a hub id such as `HuggingFaceTB/SmolLM2-135M-Instruct`)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.files import atomic_write
from harness.registry import TRAINERS, ConfigError

INFO = "thinkbench.json"

# What builds each kind of testbed alias, named in the error when it is missing.
BUILDERS = {"final": "thinkbench bootstrap", "prm": "thinkbench train-verifier --kind prm",
            "orm": "thinkbench train-verifier --kind orm",
            "prm-exact": "thinkbench train-verifier --kind prm --labels exact"}


def read_info(path: str | Path) -> dict[str, Any]:
    """The checkpoint's thinkbench.json ({} when it has none or it is unreadable)."""
    info = Path(path) / INFO
    if not info.is_file():
        return {}
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_info(path: str | Path, info: dict[str, Any]) -> None:
    """Write thinkbench.json atomically (merge with `read_info` first to update)."""
    atomic_write(Path(path) / INFO, json.dumps(info, indent=2, default=str).encode())


def train_flops(path: str | Path) -> float:
    """Training FLOPs recorded by thinkbench's trainers (0 when unknown): everything spent
    making the checkpoint, its base's training included."""
    return float(read_info(path).get("train_flops", 0.0))


def post_train_flops(path: str | Path) -> float:
    """FLOPs thinkbench's trainers spent turning a base into this checkpoint: training plus
    sampling their data (0 for a checkpoint trained from scratch or made elsewhere)."""
    return float(read_info(path).get("post_train_flops", 0.0))


def save_checkpoint(model: Any, tokenizer: Any, target: Path, info: dict[str, Any]) -> None:
    """Write a standard HF checkpoint directory with its thinkbench.json atomically (a temp
    directory, then a rename): a reader never sees half a checkpoint."""
    import shutil

    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.eval()
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    write_info(tmp, info)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)


def testbed_home() -> Path:
    """Where the testbed trainer keeps its checkpoints (through the registry: the engine does
    not import baselines)."""
    trainer = TRAINERS.get("testbed")
    assert trainer.home is not None
    return trainer.home(trainer.config())


def resolve_checkpoint(value: str) -> str:
    """`testbed` and `testbed/<sub>` name the bootstrapped testbed; a registered model source's
    name (`thinkbench get-model --list`) its built checkpoint; a directory itself; else a hub id
    (downloaded, or found in the hub cache)."""
    from harness.models import MODELS  # late: harness.models builds on this module

    if value in MODELS:
        source = MODELS.get(value)
        if source.built():
            return str(source.home())
        raise ConfigError(f"checkpoint {value!r} is not built yet: run `thinkbench get-model {value}` first")
    if value == "testbed" or value.startswith("testbed/"):
        sub = "final" if value == "testbed" else value.split("/", 1)[1]
        home = testbed_home()
        path = home / sub
        if path.is_dir():
            return str(path)
        builder = BUILDERS.get(sub)
        if builder is None and sub.startswith("step-"):
            built = sorted(p.name for p in home.glob("*") if p.is_dir() and not p.name.startswith("."))
            known = ", ".join(f"testbed/{b}" for b in built) or "none yet (run `thinkbench bootstrap`)"
            raise ConfigError(f"checkpoint {value!r} does not exist (built: {known})")
        if builder is None:
            raise ConfigError(f"checkpoint {value!r}: unknown testbed checkpoint (known: testbed, "
                              "testbed/step-N, " + ", ".join(f"testbed/{b}" for b in BUILDERS if b != "final") + ")")
        raise ConfigError(f"checkpoint {value!r} is not built yet: run `{builder}` first")
    if Path(value).expanduser().is_dir():
        return str(Path(value).expanduser().resolve())
    if HUB_ID.fullmatch(value):
        return hub_snapshot(value)
    raise ConfigError(f"checkpoint {value!r}: no such directory")


# `owner/name` as the hub spells repositories; a path that starts with `.`, `/` or `~` is never one.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# What a checkpoint needs from a hub repository (not other formats' copies of the weights).
HUB_FILES = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]


def hub_snapshot(repo_id: str) -> str:
    """The local directory of hub model `repo_id`: downloaded, or the cached copy when offline.
    Resolved here so records name a real directory and every backend reads the same files."""
    from harness.models import MODELS

    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo_id, allow_patterns=HUB_FILES)
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, gated: all "not available here"
        offline = [s.name for _, s in MODELS.items() if s.hub_id == repo_id]
        hint = f"; offline: `thinkbench get-model {offline[0]}` and `path: {offline[0]}`" if offline else ""
        raise ConfigError(f"checkpoint {repo_id!r}: no such directory, and not available from the Hugging "
                          f"Face hub ({type(e).__name__}){hint}") from None
