"""Run a matrix's work units as Ray tasks (`thinkbench run MATRIX --ray [ADDRESS]`).

A work unit (one checkpoint's cells) becomes one Ray task that runs `runner.execute` where the
cluster has room, with the resources its checkpoint asks for. Only the driver writes records,
as a local run does, so resume, failures and the run directory work unchanged. Checkpoints and
`THINKBENCH_CACHE` must be on a filesystem every node sees.
"""
from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterator, Sequence

from harness.matrix import CheckpointSpec
from harness.registry import ConfigError


def resources_for(ckpt: CheckpointSpec) -> dict[str, float]:
    """The Ray resources one unit of `ckpt` asks for: its `resources:` from the matrix, else one
    CPU, and one GPU when its backend config names a CUDA device."""
    if ckpt.resources:
        return dict(ckpt.resources)
    device = str(getattr(ckpt.config, "device", None) or "")
    return {"num_cpus": 1.0, "num_gpus": 1.0 if device.startswith("cuda") else 0.0}


def check_resources(units: Sequence, cluster: dict[str, float]) -> None:
    """Refuse a unit the cluster can never place (Ray would leave it pending forever)."""
    for unit in units:
        need = resources_for(unit.checkpoint)
        for key, ray_key in (("num_gpus", "GPU"), ("num_cpus", "CPU")):
            if need.get(key, 0) > cluster.get(ray_key, 0):
                raise ConfigError(
                    f"checkpoint {unit.checkpoint.label!r} asks for {key}={need[key]:g} per task but the Ray "
                    f"cluster has {cluster.get(ray_key, 0):g} {ray_key}: the task would wait forever (set the "
                    f"checkpoint's `resources:` in the matrix, or add nodes with {ray_key}s)")


def _run_unit(unit) -> list:
    """What a Ray task runs: one unit's cells, all of their outcomes."""
    from harness.registry import load_plugins
    from harness.runner import execute

    load_plugins()
    return list(execute(unit))


def connect(address: str | None) -> bool:
    """Join the cluster at `address` ("auto": the one `ray start` made here), or start a local one
    with this machine's CPUs; True when this call started Ray (the caller shuts it down)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'thinkbench[ray]'") from None
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    except ConnectionError as e:
        raise ConfigError(f"--ray {address}: cannot join the Ray cluster ({e})") from None
    return True


def ray_outcomes(units: Sequence, address: str | None, on_unit: Callable[[object], None] | None = None) -> Iterator:
    """Each unit's `CellOutcome`s as its Ray task finishes (any order). A unit whose task dies
    (a worker crash, out of memory) fails its cells; a user mistake (ConfigError) propagates."""
    import ray

    started = connect(address)
    try:
        check_resources(units, ray.cluster_resources())
        task = ray.remote(_run_unit)
        pending = {}
        for unit in units:
            need = resources_for(unit.checkpoint)
            pending[task.options(num_cpus=need.get("num_cpus", 1), num_gpus=need.get("num_gpus", 0),
                                 max_retries=0).remote(unit)] = unit
        from harness.runner import CellOutcome

        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(ref)
            if on_unit:
                on_unit(unit)
            try:
                outcomes = ray.get(ref)
            except ray.exceptions.RayTaskError as e:
                if isinstance(e.cause, ConfigError):
                    raise e.cause from None
                error = f"Ray task failed: {type(e.cause).__name__}: {e.cause}\n{traceback.format_exc(limit=-3)}"
                outcomes = [CellOutcome(cell, error=error) for cell in unit.cells]
            except ray.exceptions.RayError as e:  # the worker died
                outcomes = [CellOutcome(cell, error=f"Ray worker lost: {type(e).__name__}: {e}") for cell in unit.cells]
            yield from outcomes
    finally:
        if started:
            ray.shutdown()
