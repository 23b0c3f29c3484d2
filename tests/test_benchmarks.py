"""Every benchmark runs in its smoke size, so none can rot (issue 19 item 8).

Each script is run as a user runs it (`python benchmarks/X.py --smoke ...`) in a subprocess:
`--help` must work, the smoke run must exit 0 and print something. A benchmark that needs a
package not installed here skips with the reason. Checkpoints: the tests' tiny testbed.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CKPT = "{ckpt}"  # replaced by the tiny testbed checkpoint's path

# script -> (arguments of its smoke run, packages it needs). Every file in benchmarks/ is listed.
BENCHMARKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "checker_throughput.py": (("--smoke",), ("math_verify",)),
    "sandbox_throughput.py": (("--smoke",), ()),
    "math_extraction.py": (("--smoke",), ("math_verify",)),
    "testbed_plateau.py": (("--smoke",), ()),
    "threads.py": (("--smoke",), ()),
    "serve_throughput.py": (("--smoke", "--checkpoint", CKPT), ()),
    "lm_eval_agreement.py": (("--smoke", "--checkpoint", CKPT), ("lm_eval",)),
    "process_labels.py": (("--smoke", "--policy", CKPT), ()),
    "vllm_throughput.py": ((CKPT, "--smoke"), ("vllm",)),
    "hf_throughput.py": (("--smoke",), ()),
    "search_prefix_reuse.py": (("--smoke",), ()),
}
SMOKE_TIMEOUT_S = 300  # a hang must fail the test, not the whole run (the runs take seconds)


def _run(script: str, *argv: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S)


def test_every_benchmark_is_listed() -> None:
    assert sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")) == sorted(BENCHMARKS)


@pytest.mark.parametrize("script", sorted(BENCHMARKS))
def test_benchmark_smoke(script: str, tiny_ckpt: Path) -> None:
    argv, needs = BENCHMARKS[script]
    missing = [m for m in needs if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{script} needs {', '.join(missing)}, not installed here")
    help_ = _run(script, "--help")
    assert help_.returncode == 0 and "--smoke" in help_.stdout, help_.stderr[-2000:]
    done = _run(script, *(str(tiny_ckpt) if a == CKPT else a for a in argv))
    assert done.returncode == 0, f"{script} --smoke failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{script} --smoke printed nothing"
