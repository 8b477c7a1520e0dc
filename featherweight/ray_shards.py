"""Ray plumbing shared by `soft-targets --backend ray` and `augment --backend ray`: one Ray task per missing shard.

The driver lists the shards not yet on disk and submits one task per shard; each task writes its shard itself
exactly as the local path does (a tmp file, then a rename, so a killed worker leaves no partial shard) and
returns only the shard's number; the driver then concatenates the shards as the local path does. Workers
therefore read and write paths directly: the output folder and what the task loads (the teacher directory,
the masked LM, the GloVe folder) must be on a filesystem every Ray node sees at the same path (a local Ray
instance trivially does). A worker process keeps the last model it loaded (`worker_cached`), so a worker that
runs several shards loads its teacher once.
"""
from __future__ import annotations

import contextlib
from typing import Callable

from featherweight.progress import progress_bar

_WORKER_CACHE: dict = {}  # {key: value}: the one model this worker process loaded last


def import_ray():
    """The `ray` module, or an error naming how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError("The ray backend needs Ray: pip install 'featherweight[ray]' (or pip install ray), "
                         "or use --backend local.") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None = None):
    """The `ray` module connected to the cluster at `address`, or to a local instance (of `num_cpus` CPUs) started
    here and shut down on leaving; an instance already running is used and left running."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def wants_gpu(device: str | None, ray) -> bool:
    """Whether each task asks for one GPU: device cuda, or auto on a cluster that has GPUs."""
    if device is None:
        return False
    return device.startswith("cuda") or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)


def run_shards(task: Callable, jobs: dict[int, tuple], *, address: str | None, device: str | None,
               desc: str, progress: bool) -> None:
    """Run `task(*jobs[number])` as one Ray task per shard number on the cluster at `address` (default: a local
    instance, started and shut down here; one already running is used and left running), and wait for all.

    Each task must return its shard's number; a task that fails raises here (the finished shards stay on
    disk, so a rerun does only the rest)."""
    if not jobs:
        return
    with ray_session(address) as ray:
        remote = ray.remote(num_cpus=1, num_gpus=1 if wants_gpu(device, ray) else 0)(task)
        pending = {remote.remote(*args): number for number, args in jobs.items()}
        bar = progress_bar(total=len(pending), desc=f"{desc} (ray)", unit="shard", enable=progress)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            number = pending.pop(done[0])
            returned = ray.get(done[0])
            if returned != number:
                raise RuntimeError(f"The Ray task of shard {number} reported shard {returned}.")
            bar.update(1)
        bar.close()


def worker_cached(key: str, build: Callable):
    """`build()`, reused while the same `key` is asked for in this process (one model kept per worker)."""
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = build()
    return _WORKER_CACHE[key]
