"""The sweep's Ray backend: its task bookkeeping on a stand-in `ray` module, and a real run on local Ray."""
from __future__ import annotations

import sys
import types

import pytest

from featherweight.experiments import sweep as sweep_module
from featherweight.experiments.results import collect, config_id
from featherweight.experiments.sweep import expand, run_configs
from conftest import local_ray_instance, tiny_grid


class _Ref:
    """A stand-in object reference: the call it stands for."""

    def __init__(self, function, args):
        self.function, self.args = function, args


def fake_ray(dead: set) -> types.ModuleType:
    """A minimal `ray` module: tasks run when their result is fetched; configs whose seed is in `dead` die."""
    module = types.ModuleType("ray")
    module.exceptions = types.SimpleNamespace(RayError=type("RayError", (Exception,), {}))
    module.state = {"initialized": False, "init": None, "options": None, "shutdown": 0}
    module.is_initialized = lambda: module.state["initialized"]

    def init(**kwargs):
        module.state.update(initialized=True, init=kwargs)

    def shutdown():
        module.state.update(initialized=False, shutdown=module.state["shutdown"] + 1)

    def remote(**options):
        module.state["options"] = options
        return lambda function: types.SimpleNamespace(remote=lambda *args: _Ref(function, args))

    def get(ref):
        if ref.args[0].seed in dead:
            raise module.exceptions.RayError("worker died")
        return ref.function(*ref.args)

    module.init, module.shutdown, module.remote, module.get = init, shutdown, remote, get
    module.wait = lambda refs, num_returns=1: (refs[:num_returns], refs[num_returns:])
    return module


def test_ray_backend_sends_one_task_per_run_and_reports_dead_workers(monkeypatch, tmp_path):
    """Each run is a 1-CPU Ray task; a task whose worker dies is reported as failed; the instance it
    started (sized to the workers) is shut down."""
    ray = fake_ray(dead={2})
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setattr(sweep_module, "run_one", lambda config, runs_dir: {
        "config_id": config_id(config), "records": [{"config_id": config_id(config), "seed": config.seed}]})
    configs = expand(tiny_grid("glue", tmp_path, seeds=[1, 2, 3], alpha=1.0))
    outcomes = list(sweep_module._run_ray(configs, str(tmp_path / "runs"), workers=2, address=None, progress=False))
    assert [o.get("records", [{}])[0].get("seed") for o in outcomes] == [1, None, 3]
    assert "RayError: worker died" in outcomes[1]["error"]
    assert ray.state["options"] == {"num_cpus": 1, "max_retries": 0}
    assert ray.state["init"]["num_cpus"] == 2 and ray.state["init"]["address"] is None
    assert ray.state["shutdown"] == 1 and not ray.is_initialized()


def test_ray_backend_joins_a_cluster_without_sizing_it(monkeypatch, tmp_path):
    """With an address the backend connects without a CPU count, and an instance already running is reused
    and left running."""
    ray = fake_ray(dead=set())
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setattr(sweep_module, "run_one", lambda config, runs_dir: {"config_id": config_id(config),
                                                                          "records": []})
    configs = expand(tiny_grid("glue", tmp_path, seeds=[1]))
    list(sweep_module._run_ray(configs, "runs", workers=4, address="auto", progress=False))
    assert ray.state["init"]["address"] == "auto" and ray.state["init"]["num_cpus"] is None
    ray.state.update(init=None, shutdown=0)
    ray.init()
    list(sweep_module._run_ray(configs, "runs", workers=4, address=None, progress=False))
    assert ray.state["init"] == {} and ray.state["shutdown"] == 0 and ray.is_initialized()


def test_missing_ray_says_how_to_install_it(monkeypatch, tmp_path):
    """Without Ray installed the ray backend is an error naming the install command and the local backend."""
    monkeypatch.setitem(sys.modules, "ray", None)
    configs = expand(tiny_grid("glue", tmp_path, seeds=[1]))
    with pytest.raises(ValueError, match=r"pip install 'featherweight\[ray\]'.*--backend local"):
        list(sweep_module._run_ray(configs, "runs", workers=1, address=None, progress=False))


@pytest.fixture
def local_ray():
    """A local Ray instance with one CPU, shut down after the test."""
    yield from local_ray_instance(num_cpus=1)


def test_ray_backend_runs_a_recorded_run(local_ray, glue_dir, tmp_path):
    """One tiny run as a real Ray task comes back with its records, and is recorded with sacred."""
    configs = expand(tiny_grid(glue_dir, tmp_path, seeds=[3], variants=["distilled"]))
    outcome = run_configs(configs, backend="ray", runs_dir=tmp_path / "runs", results=tmp_path / "r.jsonl",
                          progress=False)
    assert (outcome.ran, outcome.failed) == (1, [])
    assert [record["seed"] for record in outcome.records] == [3]
    assert [record["seed"] for record in collect(tmp_path / "runs")] == [3]
    assert local_ray.is_initialized()  # an instance the caller started is left running
