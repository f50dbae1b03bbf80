"""Probe (thirty-first session): can a label-free score of a pretrained encoder pick the seeds that find the objects?

The 3-seed runs show the pretraining seed deciding which objects MINT's keypoints settle on (Pong's paddles 0-99 %).
A user cannot score detection without ground truth, but can pretrain a few seeds and keep one. This probe scores every
MINT encoder of the s30/s31 detection folders by what its keypoints do on the held-out frames, without labels:

- ``moving``: the number of keypoints whose mean displacement between consecutive frames (both active, same video)
  is at least 0.5 px at 84 × 84 — keypoints on moving things; walls, score digits, bricks and maze do not move;
- ``loss``: not used (the training loss is not comparable across K and w_mce).

and compares it with the mean detection (refined 5 px, "both frames" boxes) over the game's target objects (Pong:
both paddles and the ball; Breakout: paddle and ball; MsPacman: Ms Pac-Man and the ghosts), per game: Spearman's
rank correlation over the encoders, and the target detection of the encoder the score picks among each setting's
seeds against the setting's mean. One core, a few minutes.
``python results/atari_detection_seeds_s31/selection_probe.py > results/atari_detection_seeds_s31/selection_probe.out``
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from envs.atari_detection import AtariRecording, encode_frames
from mint_rl.baselines import load_encoder

RUNS = Path("runs")
TARGETS = {"Pong": ("player", "enemy", "ball"), "Breakout": ("player", "ball"), "MsPacman": ("player", "ghost")}
FOLDER = re.compile(r"mint-k(\d+)-g(\d+)-mce([\d.]+)-seed(\d+)-s(\d+)")


def moving_keypoints(coords: np.ndarray, status: np.ndarray, starts: np.ndarray, size: int = 84) -> float:
    px = (coords + 1.0) * size / 2.0
    step = np.linalg.norm(px[1:] - px[:-1], axis=-1)  # (T-1, K)
    ok = (status[1:] > 0.5) & (status[:-1] > 0.5) & ~starts[1:, None]
    mean = np.where(ok.any(0), (step * ok).sum(0) / np.maximum(ok.sum(0), 1), 0.0)
    return float((mean >= 0.5).sum())


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for results in sorted(RUNS.glob("aod_*/results.csv")):
        folder = results.parent
        with results.open(newline="") as f:
            scored = [r for r in csv.DictReader(f) if r["method"] == "mint" and r["refine"] == "5"]
        for enc in sorted(folder.glob("encoders/*/mint-*/encoder.pt")):
            game, m = enc.parent.parent.name, FOLDER.fullmatch(enc.parent.name)
            if game not in TARGETS or m is None:
                continue
            k, grid, mce, seed, steps = m.groups()
            setting = f"k{k}-g{grid}-s{steps}-mce{mce}-r5"
            mine = {r["category"]: float(r["detection_pooled"]) for r in scored
                    if r["game"] == game and r["setting"] == setting and r["seed"] == seed}
            if not all(c in mine for c in TARGETS[game]):
                continue
            rec = AtariRecording.load(folder / "frames" / f"{game}-heldout-n1000-84x84x3.npz")
            coords, status = encode_frames(load_encoder(str(enc)), rec.frames)
            rows.append({"game": game, "setting": setting, "seed": seed, "folder": folder.name,
                         "moving": moving_keypoints(coords, status, rec.starts),
                         "target": float(np.mean([mine[c] for c in TARGETS[game]]))})
    unique = {(r["game"], r["setting"], r["seed"]): r for r in rows}  # a seed retrained in two folders: one
    rows = list(unique.values())
    print("| game | setting | seed | moving keypoints | target detection % (both frames, refined 5 px) |")
    print("|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["game"], r["setting"], r["seed"])):
        print(f"| {r['game']} | {r['setting']} | {r['seed']} | {r['moving']:.0f} | {r['target']:.1f} |")
    print()
    for game in TARGETS:
        mine = [r for r in rows if r["game"] == game]
        if len(mine) < 3:
            continue
        moving = [r["moving"] for r in mine]
        rho = spearmanr(moving, [r["target"] for r in mine]).statistic if len(set(moving)) > 1 else float("nan")
        picks, means = [], []
        for setting in sorted({r["setting"] for r in mine}):
            seeds = [r for r in mine if r["setting"] == setting]
            if len(seeds) < 2:
                continue
            best = max(r["moving"] for r in seeds)  # tied seeds: the pick is any of them, so their mean
            picks.append(np.mean([r["target"] for r in seeds if r["moving"] == best]))
            means.append(np.mean([r["target"] for r in seeds]))
        line = f"{game}: {len(mine)} encoders, Spearman(moving, target) = {rho:.2f}" + (
            " (every encoder has the same count)" if not np.isfinite(rho) else "")
        if picks:
            line += (f"; over the {len(picks)} settings with several seeds, the seed with the most moving keypoints "
                     f"scores {np.mean(picks):.1f} % against the seeds' mean {np.mean(means):.1f} %")
        print(line)


if __name__ == "__main__":
    main()
