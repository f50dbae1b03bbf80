"""benchmarks/bench_ppo.py: both agents train as the experiment trains them, callbacks included."""

import importlib.util
from pathlib import Path

import pytest
import torch

from agents.auxiliary import RewardPredictionCallback


def _bench():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ppo.py"
    spec = importlib.util.spec_from_file_location("bench_ppo_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spied_bench(monkeypatch):
    """The benchmark module on one torch thread, with ``build_agent`` recording what it returns per agent."""
    torch.set_num_threads(1)
    bench = _bench()
    built = {}
    real = bench.build_agent

    def spy(agent, *args, **kwargs):
        built[agent] = real(agent, *args, **kwargs)
        return built[agent]
    monkeypatch.setattr(bench, "build_agent", spy)
    return bench, built


@pytest.mark.parametrize("aux, updates", [(None, 2), ("0", 0)])
def test_the_keypoint_agent_pays_for_its_auxiliary_loss(monkeypatch, capsys, aux, updates):
    """One warm-up and one measured chunk of one rollout each: with the main job's defaults the keypoint agent's
    reward prediction runs after both of its rollouts (and is timed with them); ``--aux-reward 0`` turns it off."""
    torch.set_num_threads(1)
    calls = []
    monkeypatch.setattr(RewardPredictionCallback, "_on_rollout_end", lambda self: calls.append(self))
    argv = ["--envs", "MintTasks/Catch-v0", "--repeats", "1", "--rollouts", "1", "-k", "3"]
    rows = _bench().main(argv + ([] if aux is None else ["--aux-reward", aux]))
    assert len(calls) == updates
    assert rows[0]["keypoints"] > 0 and rows[0]["pixels"] > 0
    out = capsys.readouterr().out
    assert "| MintTasks/Catch-v0 | 4 | 512 |" in out
    assert f"CPU: {_bench().machine().split('CPU: ')[1]}" in out and f"torch {torch.__version__}" in out  # the CPU is named


def test_machine_names_the_cpu_model_from_proc_cpuinfo(monkeypatch, tmp_path):
    bench = _bench()
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t: avx2\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: real_open(info if f == "/proc/cpuinfo" else f, *a, **k))
    assert bench.machine().startswith("CPU: Test CPU 9000, ")
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: (_ for _ in ()).throw(OSError("no /proc")))
    assert bench.machine().startswith("CPU: ") and "Test CPU" not in bench.machine()


@pytest.mark.parametrize("flag, equal, width", [([], True, 64), (["--no-equal-codes"], False, 64),
                                                (["--relation-dim", "32"], True, 32)])
def test_the_keypoint_agent_is_the_main_jobs_with_or_without_equal_codes(monkeypatch, capsys, flag, equal, width):
    """The measured keypoint agent has the main job's extractor: colour codes that start equal by default on object
    tasks, a plain first layer with ``--no-equal-codes``, the relation network as wide as the embedding (64) unless
    ``--relation-dim`` says otherwise; the table's header names the flags."""
    bench, built = _spied_bench(monkeypatch)
    bench.main(["--envs", "MintTasks/Catch-v0", "--repeats", "1", "--rollouts", "1", "-k", "3", *flag])
    model = built["mint"][0]
    assert (model.policy.features_extractor.code_weight is not None) == equal
    assert model.policy.features_extractor.relations.pair_dim == width
    out = capsys.readouterr().out
    assert ("keypoint agent: --no-equal-codes" in out) == (not equal)
    assert ("--relation-dim 32" in out) == (width == 32)


def test_refine_reaches_the_keypoint_agents_wrapper_and_a_bad_window_is_refused(monkeypatch, capsys):
    """``--refine 5``: the measured keypoint agent's wrapper refines its keypoints in a 5 × 5 window (so the cost of
    refinement is timed), the table's header names the flag; an even window stops before any agent is built."""
    bench, built = _spied_bench(monkeypatch)
    bench.main(["--envs", "MintTasks/Catch-v0", "--repeats", "1", "--rollouts", "1", "-k", "3", "--refine", "5"])
    assert built["mint"][3].observer.refine_window == 5  # build_agent's keypoint env
    assert "--refine 5" in capsys.readouterr().out
    built.clear()
    with pytest.raises(SystemExit, match="--refine 4"):
        bench.main(["--envs", "MintTasks/Catch-v0", "--repeats", "1", "--rollouts", "1", "-k", "3", "--refine", "4"])
    assert not built
