"""Shipped MINT encoders (``envs/shipped_encoders.py``, package data in ``envs/pretrained/``): every indexed
file is there with its recorded sha256 and loads by name in the keypoint wrapper on its game; an unknown name
lists the shipped ones; ``atari_objects_detection.py --ship`` writes a stripped encoder with its detection rows;
the files are declared package data and not git-ignored."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.atari import make_atari_env
from envs.shipped_encoders import PRETRAINED_DIR, is_encoder_name, ship_encoder, shipped_encoder_path, shipped_encoders
from envs.wrappers import MintKeypointWrapper
from mint_rl.baselines import load_encoder
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = shipped_encoders()


def test_the_studied_games_are_shipped_with_their_figures() -> None:
    assert set(SHIPPED) == {"pong", "breakout", "mspacman"}
    for name, entry in SHIPPED.items():
        path = shipped_encoder_path(name)
        assert path.parent == PRETRAINED_DIR and path.is_file()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], f"{name}.pt differs from its index"
        assert path.stat().st_size < 200_000, "shipped files must stay small (weights and config only)"
        assert entry["env_id"].startswith("ALE/") and "--ship" in entry["command"]
        assert {row["category"] for row in entry["detection"]} and all("detection" in r for r in entry["detection"])
    assert shipped_encoder_path("Pong") == shipped_encoder_path("pong")  # names are case-insensitive


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_encoder_loads_by_name_in_the_wrapper(name: str) -> None:
    env = MintKeypointWrapper(make_atari_env(SHIPPED[name]["env_id"]), name)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.config.num_keypoints == SHIPPED[name]["setting"]["k"]
    assert env.config.grid_size == (SHIPPED[name]["setting"]["grid"],) * 2
    obs, *_ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    env.close()


def test_an_unknown_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match=r"no shipped encoder named 'pongg' \(shipped: breakout, mspacman, pong\)"):
        MintKeypointWrapper(make_atari_env("ALE/Pong-v5"), "pongg")
    with pytest.raises(ValueError, match=r"shipped: none"):
        shipped_encoder_path("pong", folder=ROOT / "no-such-folder")


def test_names_and_paths_are_told_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_encoder_name("pong") and is_encoder_name("MsPacman")
    for path in ("runs/pong/encoder.pt", "encoder.pt", str(tmp_path), "", None, tmp_path):
        assert not is_encoder_name(path), path
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pong").mkdir()  # a folder named like an encoder: still the shipped encoder
    assert is_encoder_name("pong")
    (tmp_path / "breakout").write_text("x")  # a file of that name in the working folder: the file
    assert not is_encoder_name("breakout")


def test_the_detection_script_ships_a_stripped_encoder_with_its_rows(tmp_path: Path) -> None:
    aod = load_script("atari_objects_detection")
    out, folder = tmp_path / "out", tmp_path / "pretrained"
    rows = aod.main(["--games", "Pong", "--methods", "mint", "--steps", "2", "--frames", "48", "--eval-frames", "30",
                     "--batch-size", "4", "-k", "4", "--out", str(out), "--no-progress", "--ship", str(folder)])
    index = shipped_encoders(folder)
    assert list(index) == ["pong"]
    entry = index["pong"]
    assert entry["env_id"] == "ALE/Pong-v5" and entry["setting"]["k"] == 4 and entry["setting"]["steps"] == 2
    assert [r["category"] for r in entry["detection"]] == [r["category"] for r in rows]
    assert [r["detection"] for r in entry["detection"]] == pytest.approx([float(r["detection"]) for r in rows],
                                                                        nan_ok=True)
    trained = out / "encoders" / "Pong" / "mint-k4-g42-mce100-seed0-s2" / "encoder.pt"
    shipped = torch.load(folder / "pong.pt", weights_only=False)
    assert "optimizer" not in shipped and shipped["step"] == 2
    original = load_encoder(trained).state_dict()
    assert all(torch.equal(original[k], v) for k, v in load_encoder(folder / "pong.pt").state_dict().items())
    assert hashlib.sha256((folder / "pong.pt").read_bytes()).hexdigest() == entry["sha256"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((folder / "pong.pt").stat().st_mode) == 0o666 & ~umask  # as any file the user writes
    for bad in ("Pong", "pong.pt", "a/b", ""):
        with pytest.raises(ValueError, match="lower case letters"):
            ship_encoder(trained, bad, "ALE/Pong-v5", {}, [], "x", folder=folder)
    with pytest.raises(SystemExit) as error:
        aod.main(["--games", "Pong", "--methods", "transporter", "--ship", "--out", str(tmp_path / "x")])
    assert error.value.code == 2


def test_the_files_are_package_data_and_committed() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["envs"]
    assert "pretrained/*.pt" in data and "pretrained/index.json" in data
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for name in SHIPPED:
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", f"envs/pretrained/{name}.pt"], cwd=ROOT)
        assert ignored.returncode == 1, f"envs/pretrained/{name}.pt is git-ignored (the rule, tracked or not)"
    assert np.isfinite(SHIPPED["pong"]["detection"][0]["detection"])


def test_ship_seed_ships_that_pretraining_seed(tmp_path: Path) -> None:
    """--seeds 2 --ship-seed 1: the index holds seed 1's setting and rows and the file holds seed 1's weights; a seed
    outside the pretrained ones is refused before any work."""
    aod = load_script("atari_objects_detection")
    out, folder = tmp_path / "out", tmp_path / "pretrained"
    argv = ["--games", "Pong", "--methods", "mint", "--steps", "2", "--frames", "48", "--eval-frames", "30",
            "--batch-size", "4", "-k", "4", "--seeds", "2", "--out", str(out), "--no-progress"]
    rows = aod.main([*argv, "--ship", str(folder), "--ship-seed", "1"])
    entry = shipped_encoders(folder)["pong"]
    assert entry["setting"]["seed"] == 1
    ones = [r for r in rows if r["seed"] in (1, "1")]
    assert [r["detection"] for r in entry["detection"]] == pytest.approx([float(r["detection"]) for r in ones],
                                                                        nan_ok=True)
    seed1 = load_encoder(out / "encoders" / "Pong" / "mint-k4-g42-mce100-seed1-s2" / "encoder.pt").state_dict()
    assert all(torch.equal(seed1[k], v) for k, v in load_encoder(folder / "pong.pt").state_dict().items())
    with pytest.raises(SystemExit) as error:
        aod.main([*argv, "--ship", str(folder), "--ship-seed", "2"])
    assert error.value.code == 2

