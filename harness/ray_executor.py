"""Run a matrix's work units as Ray tasks (`thinkbench run MATRIX --ray [ADDRESS]`).

A work unit (one checkpoint's cells) becomes one streaming Ray task that runs `runner.execute`
where the cluster has room, with the resources its checkpoint asks for, and yields each cell's
outcome as soon as the cell is done. Only the driver writes records, as a local run does, so
resume, failures and the run directory work unchanged, and a worker that dies loses only the
cells it had not finished. Checkpoints and `THINKBENCH_CACHE` must be on a filesystem every node
sees.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from harness.matrix import CheckpointSpec
from harness.registry import ConfigError


def resources_for(ckpt: CheckpointSpec, cluster_has_gpus: bool = False) -> dict[str, float]:
    """The Ray resources one unit of `ckpt` asks for: its `resources:` from the matrix, else one
    CPU and the GPUs its backend config needs (`BackendConfig.gpus`)."""
    if ckpt.resources:
        return {"num_cpus": 1.0, "num_gpus": 0.0} | dict(ckpt.resources)
    return {"num_cpus": 1.0, "num_gpus": ckpt.config.gpus(cluster_has_gpus)}


def check_resources(units: Sequence, nodes: Sequence[dict[str, float]]) -> None:
    """Refuse a unit no single live node can hold (Ray would leave it pending forever). `nodes`
    are the live nodes' total resources (`ray.nodes()[i]["Resources"]`)."""
    has_gpus = any(n.get("GPU", 0) > 0 for n in nodes)
    for unit in units:
        need = resources_for(unit.checkpoint, has_gpus)
        for key, ray_key in (("num_gpus", "GPU"), ("num_cpus", "CPU")):
            largest = max((n.get(ray_key, 0) for n in nodes), default=0)
            if need.get(key, 0) > largest:
                raise ConfigError(
                    f"checkpoint {unit.checkpoint.label!r} asks for {key}={need[key]:g} per task but no node "
                    f"of the Ray cluster has more than {largest:g} {ray_key}: the task would wait forever "
                    f"(set the checkpoint's `resources:` in the matrix, or add a node with enough {ray_key}s)")


def _run_unit(unit) -> Iterator:
    """What a Ray task runs: first where it runs (`provenance.environment`), then each cell's
    outcome as soon as it is known."""
    from harness.provenance import environment
    from harness.registry import load_plugins
    from harness.runner import execute

    load_plugins()
    yield environment() | {"unit": unit.checkpoint.label}
    yield from execute(unit)


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


def ray_outcomes(units: Sequence, address: str | None, on_session: Callable[[dict], None] | None = None
                 ) -> Iterator:
    """Every unit's `CellOutcome`s as their cells finish, units interleaved. A unit whose task
    dies (a worker crash, out of memory, a lost node) fails the cells it had not yet returned;
    a user mistake (ConfigError) propagates. `on_session` gets each unit's environment."""
    import ray

    from harness.runner import CellOutcome

    started = connect(address)
    try:
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        check_resources(units, nodes)
        has_gpus = any(n.get("GPU", 0) > 0 for n in nodes)
        task = ray.remote(_run_unit)
        streams = {}
        for unit in units:
            need = resources_for(unit.checkpoint, has_gpus)
            stream = task.options(num_cpus=need["num_cpus"], num_gpus=need["num_gpus"], max_retries=0,
                                  num_returns="streaming").remote(unit)
            streams[stream] = (unit, set())
        while streams:
            (stream,), _ = ray.wait(list(streams), num_returns=1)
            unit, done = streams[stream]
            try:
                item = ray.get(next(stream))
            except StopIteration:
                del streams[stream]
                continue
            except ray.exceptions.RayTaskError as e:
                if isinstance(e.cause, ConfigError):
                    raise e.cause from None
                error = f"Ray task failed: {type(e.cause).__name__}: {e.cause}"
            except ray.exceptions.RayError as e:  # the worker or its node died
                error = f"Ray worker lost: {type(e).__name__}: {e}"
            else:
                if isinstance(item, dict):
                    if on_session:
                        on_session(item)
                else:
                    done.add(item.cell.hash)
                    yield item
                continue
            del streams[stream]
            yield from (CellOutcome(cell, error=error) for cell in unit.cells if cell.hash not in done)
    finally:
        if started:
            ray.shutdown()
