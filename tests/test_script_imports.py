"""Scripts do not import scripts: what one experiment needs of another is a library function (``agents/``,
``envs/``), e.g. ``agents.ppo_experiment.run_ppo_experiment`` for the Atari study and
``envs.pretraining.pretrain_encoder`` for the PPO experiment."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {p.stem for folder in ("experiments", "benchmarks") for p in (ROOT / folder).glob("*.py")}
KNOWN_DEBTS = {("online_vs_pretrained", "evaluate_keypoints")}  # docs/architecture.md, known debts


def script_imports(path: Path) -> set[str]:
    """The scripts that ``path`` imports anywhere in its source (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & SCRIPTS


def test_no_script_imports_another_script() -> None:
    offending = {(path.stem, imported) for folder in ("experiments", "benchmarks")
                 for path in sorted((ROOT / folder).glob("*.py")) for imported in script_imports(path)}
    assert offending <= KNOWN_DEBTS, f"scripts importing scripts (move the shared work to a library): " \
                                     f"{sorted(offending - KNOWN_DEBTS)}"
