"""Scripts do not import scripts: what one experiment needs of another is a library function (``agents/``,
``envs/``), e.g. ``agents.ppo_experiment.run_ppo_experiment`` for the Atari study and
``envs.pretraining.pretrain_encoder`` for the PPO experiment, ``envs.keypoint_evaluation`` for
``evaluate_keypoints.py`` and ``online_vs_pretrained.py``. Nor does a script put ``experiments/`` or
``benchmarks/`` on ``sys.path`` to reach another one.

Tests reach a script only through its entry point: ``tests.conftest.load_script(name).main(argv)`` (or a
subprocess), never its other names, and no test edits ``sys.path``."""

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


def _sys_path_edits(tree: ast.AST) -> list[int]:
    """Lines that call ``sys.path.insert`` / ``append`` / ``extend`` (with anything)."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("insert", "append", "extend") and ast.unparse(node.func.value) == "sys.path"]


def _script_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, attribute)`` of every attribute a test reads off a script loaded with ``load_script``: directly
    (``load_script("x").main``) or through a name it was assigned to (``pk = load_script("x")``; ``pk.main``)."""
    def is_load(node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load_script"

    names = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and is_load(node.value)
             for target in node.targets if isinstance(target, ast.Name)}
    return [(node.lineno, node.attr) for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and (is_load(node.value) or (isinstance(node.value, ast.Name) and node.value.id in names))]


def test_tests_reach_scripts_only_through_main() -> None:
    tests = sorted((ROOT / "tests").glob("*.py"))
    edits, imports, internals = [], [], []
    for path in tests:
        tree = ast.parse(path.read_text(), filename=str(path))
        edits += [f"{path.name}:{line}" for line in _sys_path_edits(tree)]
        imports += [f"{path.name}: {name}" for name in sorted(script_imports(path))]
        internals += [f"{path.name}:{line} .{attr}" for line, attr in _script_uses(tree) if attr != "main"]
    assert not edits, f"tests editing sys.path (use tests.conftest.load_script): {edits}"
    assert not imports, f"tests importing scripts by name (use tests.conftest.load_script): {imports}"
    assert not internals, f"tests using a script's internals (test the library function instead): {internals}"
