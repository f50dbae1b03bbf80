"""The package declares every third-party package its code and the README's commands import.

A fresh machine has only what ``pip install -e ".[test]"`` pulls in; a package the dev machine
happened to have (SB3's progress bar needs ``rich``) must not hide a missing declaration.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("mint_rl", "envs", "agents", "experiments")
WITH_TEST_EXTRA = ("tests", "benchmarks")  # the README installs ".[test]"; benchmarks compare against skimage
FIRST_PARTY = {"mint_rl", "envs", "agents", "tests", *(p.stem for p in (ROOT / "experiments").glob("*.py")),
               *(p.stem for p in (ROOT / "benchmarks").glob("*.py"))}
# Imported lazily by a dependency on a code path the README's commands take, not visible in our imports.
RUNTIME_EXTRAS = {"rich": "stable_baselines3's progress bar (PPO.learn(progress_bar=True))",
                  "tqdm": "stable_baselines3's progress bar and our trainers",
                  "moviepy": "gymnasium's RecordVideo"}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower().replace("_", "-") for r in requirements}


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return (_requirement_names(project["dependencies"]),
            _requirement_names(project["optional-dependencies"]["test"]))


def _top_level_imports(folders: tuple[str, ...]) -> set[str]:
    modules: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.split(".")[0])
    return modules - FIRST_PARTY - set(sys.stdlib_module_names) - {"__future__"}


def _distributions(module: str) -> set[str]:
    return {d.lower().replace("_", "-") for d in md.packages_distributions().get(module, [])}


@pytest.mark.parametrize("folders,extra", [(LIBRARY, False), (WITH_TEST_EXTRA, True)],
                         ids=["library", "tests-benchmarks"])
def test_every_import_is_declared(folders: tuple[str, ...], extra: bool) -> None:
    runtime, test = _declared()
    allowed = runtime | (test if extra else set())
    missing = {m: sorted(_distributions(m)) for m in _top_level_imports(folders)
               if not _distributions(m) & allowed}
    assert not missing, (f"imported in {folders} but not declared in pyproject.toml "
                         f"({'dependencies or [test]' if extra else 'dependencies'}): {missing}")


@pytest.mark.parametrize("module", sorted(RUNTIME_EXTRAS))
def test_runtime_only_dependencies_are_declared(module: str) -> None:
    runtime, _ = _declared()
    assert _distributions(module) & runtime, f"{module} ({RUNTIME_EXTRAS[module]}) is not in dependencies"


def test_ppo_progress_bar_runs() -> None:
    """``PPO.learn(progress_bar=True)``, as the main job calls it, works with the declared packages."""
    import gymnasium as gym
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=32, batch_size=32, n_epochs=1, device="cpu")
    model.learn(total_timesteps=32, progress_bar=True)
    assert model.num_timesteps == 32
