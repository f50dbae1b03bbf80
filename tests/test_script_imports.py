"""Scripts do not import scripts: what one experiment needs of another is a library function (``agents/``,
``envs/``), e.g. ``agents.ppo_experiment.run_ppo_experiment`` for the Atari study and
``envs.pretraining.pretrain_encoder`` for the PPO experiment, ``envs.keypoint_evaluation`` for
``evaluate_keypoints.py`` and ``online_vs_pretrained.py``. Nor does a script edit ``sys.path`` at all: not to
reach another script, not to find the package (scripts import the installed package: the README's
``pip install -e ".[test]"``).

Tests reach a script only through its entry point: ``tests.conftest.load_script(name).main(argv)`` (or a
subprocess), never its other names, and no test edits ``sys.path``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_FOLDERS = ("experiments", "benchmarks")
SCRIPTS = {p.stem for folder in SCRIPT_FOLDERS for p in (ROOT / folder).glob("*.py")}
# Methods of a list that change it in place: calling one on ``sys.path`` edits it.
LIST_EDITS = ("insert", "append", "extend", "remove", "pop", "clear", "reverse", "sort", "__setitem__",
              "__delitem__", "__iadd__")


def files(*folders: str) -> list[Path]:
    """The ``.py`` files of these folders of the repository, sorted."""
    return [path for folder in folders for path in sorted((ROOT / folder).glob("*.py"))]


def script_imports(path: Path) -> set[str]:
    """The scripts that ``path`` imports anywhere in its source (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & SCRIPTS


def sys_path_edits(path: Path) -> list[int]:
    """Lines of ``path`` (anywhere, function bodies included) that edit ``sys.path``: a list method that changes
    it in place (``sys.path.insert(0, ...)``, ``.append``, ``.extend``, ...), an assignment to it or to a slice or
    item of it (``sys.path = ...``, ``sys.path[:0] = ...``, ``sys.path += ...``, ``del sys.path[0]``), or
    ``site.addsitedir(...)``."""
    def is_sys_path(node: ast.AST) -> bool:
        return ast.unparse(node.value if isinstance(node, ast.Subscript) else node) == "sys.path"

    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                (node.func.attr in LIST_EDITS and is_sys_path(node.func.value))
                or ast.unparse(node.func) == "site.addsitedir"):
            lines.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(is_sys_path(target) for target in targets):
                lines.append(node.lineno)
    return sorted(lines)


def test_no_script_imports_another_script() -> None:
    offending = {(path.stem, imported) for path in files(*SCRIPT_FOLDERS) for imported in script_imports(path)}
    assert not offending, f"scripts importing scripts (move the shared work to a library): {sorted(offending)}"


def test_no_script_edits_sys_path() -> None:
    offending = [f"{path.relative_to(ROOT)}:{line}" for path in files(*SCRIPT_FOLDERS) for line in sys_path_edits(path)]
    assert not offending, ("scripts editing sys.path (they import the installed package, the README's "
                           f"`pip install -e \".[test]\"`; shared work is a library function): {offending}")


def test_the_sys_path_guard_sees_every_kind_of_edit(tmp_path: Path) -> None:
    """What :func:`sys_path_edits` catches, and what it leaves alone (reading ``sys.path``, editing a copy)."""
    edits = ["sys.path.insert(0, str(Path(__file__).resolve().parents[1]))", "sys.path.append('x')",
             "sys.path.extend(['x'])", "sys.path[:0] = ['x']", "sys.path = ['x'] + sys.path", "sys.path += ['x']",
             "del sys.path[0]", "site.addsitedir('x')",
             "try:\n    import envs\nexcept ModuleNotFoundError:\n    sys.path.insert(0, '..')",
             "def main():\n    sys.path.append('x')"]
    for i, line in enumerate(edits):
        script = tmp_path / f"edit{i}.py"
        script.write_text(f"import site\nimport sys\n{line}\n")
        assert sys_path_edits(script), line
    harmless = tmp_path / "harmless.py"
    harmless.write_text("import sys\nprint(sys.path[0], len(sys.path))\npaths = list(sys.path)\npaths.append('x')\n")
    assert sys_path_edits(harmless) == []


def test_online_vs_pretrained_uses_the_library() -> None:
    """The former debt: it imported ``evaluate_keypoints`` through ``sys.path``; now both use
    ``envs.keypoint_evaluation``."""
    path = ROOT / "experiments" / "online_vs_pretrained.py"
    assert script_imports(path) == set()
    assert sys_path_edits(path) == []
    assert "envs.keypoint_evaluation" in path.read_text()


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
    edits, imports, internals = [], [], []
    for path in files("tests"):
        tree = ast.parse(path.read_text(), filename=str(path))
        edits += [f"{path.name}:{line}" for line in sys_path_edits(path)]
        imports += [f"{path.name}: {name}" for name in sorted(script_imports(path))]
        internals += [f"{path.name}:{line} .{attr}" for line, attr in _script_uses(tree) if attr != "main"]
    assert not edits, f"tests editing sys.path (use tests.conftest.load_script): {edits}"
    assert not imports, f"tests importing scripts by name (use tests.conftest.load_script): {imports}"
    assert not internals, f"tests using a script's internals (test the library function instead): {internals}"
