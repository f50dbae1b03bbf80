"""Scripts do not import scripts: what one experiment needs of another is a library function (``agents/``,
``envs/``), e.g. ``agents.ppo_experiment.run_ppo_experiment`` for the Atari study and
``envs.pretraining.pretrain_encoder`` for the PPO experiment, ``envs.keypoint_evaluation`` for
``evaluate_keypoints.py`` and ``online_vs_pretrained.py``. Nor does a script put ``experiments/`` or
``benchmarks/`` on ``sys.path`` to reach another one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_FOLDERS = ("experiments", "benchmarks")
SCRIPTS = {p.stem for folder in SCRIPT_FOLDERS for p in (ROOT / folder).glob("*.py")}


def script_imports(path: Path) -> set[str]:
    """The scripts that ``path`` imports anywhere in its source (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & SCRIPTS


def script_folder_path_entries(path: Path) -> list[int]:
    """Lines of ``path`` that call ``sys.path.insert`` / ``sys.path.append`` with ``experiments`` or
    ``benchmarks`` anywhere in the argument (the way one script reaches another)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append") and ast.unparse(node.func.value) == "sys.path"
                and any(isinstance(n, ast.Constant) and n.value in SCRIPT_FOLDERS
                        for arg in node.args for n in ast.walk(arg))):
            lines.append(node.lineno)
    return lines


def test_no_script_imports_another_script() -> None:
    offending = {(path.stem, imported) for folder in SCRIPT_FOLDERS
                 for path in sorted((ROOT / folder).glob("*.py")) for imported in script_imports(path)}
    assert not offending, f"scripts importing scripts (move the shared work to a library): {sorted(offending)}"


def test_no_script_puts_a_script_folder_on_sys_path() -> None:
    offending = {f"{path.relative_to(ROOT)}:{line}" for folder in SCRIPT_FOLDERS
                 for path in sorted((ROOT / folder).glob("*.py")) for line in script_folder_path_entries(path)}
    assert not offending, f"scripts reaching other scripts through sys.path: {sorted(offending)}"


def test_online_vs_pretrained_uses_the_library() -> None:
    """The former debt: it imported ``evaluate_keypoints`` through ``sys.path``; now both use
    ``envs.keypoint_evaluation``."""
    path = ROOT / "experiments" / "online_vs_pretrained.py"
    assert script_imports(path) == set()
    assert script_folder_path_entries(path) == []
    assert "envs.keypoint_evaluation" in path.read_text()
