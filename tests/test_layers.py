"""The layers point one way: mint_rl imports neither gymnasium nor stable_baselines3."""

import subprocess
import sys

CODE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('gymnasium', 'stable_baselines3', 'ale_py', 'envs', 'agents'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import pkgutil, importlib, mint_rl
for m in pkgutil.walk_packages(mint_rl.__path__, 'mint_rl.'):
    importlib.import_module(m.name)
print('ok')
"""


def test_mint_rl_imports_without_gymnasium_or_sb3():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
