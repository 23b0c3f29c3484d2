"""`thinkbench run --ray`: work units as Ray tasks on a local Ray started by the test give the
records a local run gives; units the cluster can never place are refused up front."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.matrix import parse_matrix
from harness.ray_executor import check_resources, resources_for
from harness.registry import ConfigError
from harness.runner import plan, run_matrix
from harness.store import load_sessions


def matrix(ckpt: Path, resources: dict | None = None) -> object:
    entry = {"name": "tiny", "path": str(ckpt)} | ({"resources": resources} if resources is not None else {})
    return parse_matrix({
        "name": "fanout", "tasks": [{"name": "addition", "params": {"digits": 2}, "n_problems": 6}],
        "checkpoints": [entry, {"name": "tiny-again", "path": str(ckpt)}], "seeds": [0],
        "generation": {"temperature": 1.0, "max_tokens": 40},
        "methods": ["greedy", {"name": "majority", "budgets": [1, 3]},
                    {"name": "beam", "budgets": [4], "verifier": "oracle"}]})


def test_resources_are_not_part_of_a_cells_identity(tiny_ckpt: Path) -> None:
    plain, placed = matrix(tiny_ckpt), matrix(tiny_ckpt, {"num_cpus": 2, "num_gpus": 0})
    assert [c.hash for c in plain.cells()] == [c.hash for c in placed.cells()]
    assert resources_for(placed.checkpoints[0]) == {"num_cpus": 2.0, "num_gpus": 0.0}
    assert resources_for(plain.checkpoints[0]) == {"num_cpus": 1.0, "num_gpus": 0.0}
    # hf with its device unset picks CUDA where there is one: on a GPU cluster it must reserve one.
    assert resources_for(plain.checkpoints[0], cluster_has_gpus=True) == {"num_cpus": 1.0, "num_gpus": 1.0}
    with pytest.raises(ConfigError, match=r"checkpoints\[0\]\.resources\.num_gpus: need a number >= 0"):
        matrix(tiny_ckpt, {"num_gpus": -1})
    with pytest.raises(ConfigError, match="unknown field 'gpus'"):
        matrix(tiny_ckpt, {"gpus": 1})


def test_a_unit_no_node_can_hold_is_refused_not_left_waiting(tiny_ckpt: Path) -> None:
    units = plan(matrix(tiny_ckpt, {"num_gpus": 1}), set(), "r")
    with pytest.raises(ConfigError, match=r"'tiny' asks for num_gpus=1 .* more than 0 GPU: the task would wait"):
        check_resources(units, [{"CPU": 2.0}])
    check_resources(units, [{"CPU": 2.0, "GPU": 1.0}])  # placeable: no error
    # Two GPUs in the cluster, but on two nodes: a 2-GPU unit fits on neither (was: accepted).
    two = plan(matrix(tiny_ckpt, {"num_gpus": 2}), set(), "r")
    with pytest.raises(ConfigError, match=r"num_gpus=2 .* no node .* more than 1 GPU"):
        check_resources(two, [{"CPU": 4.0, "GPU": 1.0}, {"CPU": 4.0, "GPU": 1.0}])


@pytest.mark.slow  # starts Ray and its workers (each imports torch): ~1 min on 2 idle cores
def test_a_ray_run_gives_the_records_of_a_local_run(tiny_ckpt: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    m = matrix(tiny_ckpt)
    local = run_matrix(m, tmp_path / "local", quiet=True)
    fanned = run_matrix(m, tmp_path / "ray", quiet=True, ray="local")
    assert local.failed == fanned.failed == 0 and local.rows == fanned.rows == 2 * 6 * 4
    keys = ["cell_hash", "problem_id"]
    a, b = (pd.read_parquet(d / "records").sort_values(keys).reset_index(drop=True)
            for d in (tmp_path / "local", tmp_path / "ray"))
    same = [c for c in a.columns if c not in ("run", "wall_s")]
    pd.testing.assert_frame_equal(a[same], b[same])
    sessions = load_sessions(tmp_path / "ray")
    assert sessions[0]["executor"] == "ray:local (driver)"
    assert sorted(s["unit"] for s in sessions[1:]) == ["tiny", "tiny-again"]  # where each unit ran
    again = run_matrix(m, tmp_path / "ray", quiet=True, ray="local")  # resume: nothing left to run
    assert again.ran == 0 and again.skipped == len(m.cells())
