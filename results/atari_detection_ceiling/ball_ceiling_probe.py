"""Probe (thirty-first session): how often can *any* keypoint on the drawn Pong ball be inside its undilated box?

The observation ``make_atari_env`` gives (AtariPreprocessing, frame skip 4) is the per-channel maximum of the last
two emulator frames, resized to 84×84 with INTER_AREA; the ground-truth box is read from the RAM after the last
frame. A fast ball is drawn twice in the observation, and the box holds only the later image. This script replays
random-policy Pong with the emulator at frameskip 1, rebuilds that observation exactly, reads the RAM after both of
the last two frames, and scores three label-free "oracle" keypoints placed from the observation alone:

- ``brightest``: the pixel within 3 px of the ball's box whose colour is farthest from the background's;
- ``refined``: that pixel moved by ``mint_rl.refine.refine_keypoints`` (5 px window, what the agents use);
- ``blob centroid``: the centroid of the ball-coloured pixels of the observation near the box.

against the undilated 84×84 box of the last frame (the detection score), the box grown by 1 px, and the union of the
last two frames' boxes (everything the observation draws of the ball); then the same with the observation made of
the last frame only (no max-pooling), to separate the pooling from the resizing. One core, a few seconds.
``python results/atari_detection_ceiling/ball_ceiling_probe.py > results/atari_detection_ceiling/ball_ceiling_probe.out``
"""
from __future__ import annotations

import cv2
import gymnasium as gym
import numpy as np
import torch

from envs.atari import _register_ale
from envs.atari_objects import box_mask, read_objects
from mint_rl.refine import refine_keypoints

STEPS, SEEDS, SIZE = 1000, (10000, 10001, 10002), (84, 84)


def ball_box(ram: np.ndarray):
    objs = [o for o in read_objects("Pong", ram) if o.category == "ball" and o.visible]
    return objs[0].box if objs else None


def main() -> None:
    for pooled in (True, False):
        probe(pooled)


def probe(pooled: bool) -> None:
    _register_ale()
    torch.set_num_threads(1)
    rows = {k: [] for k in ("brightest", "refined", "blob centroid")}
    moved, n = [], 0
    for seed in SEEDS:
        env = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.25)
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        ale = env.unwrapped.ale
        for _ in range(STEPS // len(SEEDS) + 1):
            action = int(rng.integers(env.action_space.n))
            screens, rams, done = [], [], False
            for t in range(4):
                _, _, term, trunc, _ = env.step(action)
                if t >= 2:
                    screens.append(ale.getScreenRGB().copy())
                    rams.append(ale.getRAM().astype(np.int64))
                if term or trunc:
                    done = True
                    break
            if done:
                env.reset(seed=int(rng.integers(1 << 30)))
                continue
            obs = cv2.resize(np.maximum(screens[0], screens[1]) if pooled else screens[1], (SIZE[1], SIZE[0]), interpolation=cv2.INTER_AREA)
            last, prev = ball_box(rams[1]), ball_box(rams[0])
            if last is None:
                continue
            mask = box_mask(last, SIZE)
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            union = mask | (box_mask(prev, SIZE) if prev is not None else False)
            near = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
            background = np.median(obs.reshape(-1, 3), axis=0)
            dist = np.abs(obs.astype(float) - background).max(-1)
            dist[~near] = -1
            r, c = np.unravel_index(np.argmax(dist), dist.shape)
            ballish = (dist >= 0.75 * dist.max()) & near
            rr, cc = np.nonzero(ballish)
            kp = torch.tensor([[[(2 * c + 1) / SIZE[1] - 1, (2 * r + 1) / SIZE[0] - 1]]], dtype=torch.float32)
            frames = torch.from_numpy(obs).permute(2, 0, 1)[None].contiguous()
            ref = refine_keypoints(frames, kp, 5)[0, 0].numpy()
            points = {"brightest": (r, c),
                      "refined": (int(np.floor((ref[1] + 1) * SIZE[0] / 2)), int(np.floor((ref[0] + 1) * SIZE[1] / 2))),
                      "blob centroid": (int(np.floor(rr.mean() + 0.5)), int(np.floor(cc.mean() + 0.5)))}
            for k, (pr, pc) in points.items():
                pr, pc = min(max(pr, 0), SIZE[0] - 1), min(max(pc, 0), SIZE[1] - 1)
                rows[k].append((mask[pr, pc], grown[pr, pc], union[pr, pc]))
            if prev is not None:
                moved.append(np.hypot(last[0] - prev[0], last[1] - prev[1]))
            n += 1
            if n >= STEPS:
                break
        env.close()
    what = "max of the last two emulator frames, as make_atari_env" if pooled else "the last emulator frame only"
    print(f"\nPong, random policy, env seeds {SEEDS}: {n} observations with the ball in play (84×84 RGB, {what})")
    moved = np.array(moved)
    print(f"ball moves {moved.mean():.2f} px (210×160) between the last two emulator frames on average; "
          f"> 2 px in {100 * (moved > 2).mean():.1f} % of observations")
    print("| oracle keypoint | inside the undilated box (last frame) % | inside the box grown 1 px % | "
          "inside the union of the last two frames' boxes % |")
    print("|---|---|---|---|")
    for k, v in rows.items():
        a = 100 * np.array(v, float).mean(0)
        print(f"| {k} | {a[0]:.1f} | {a[1]:.1f} | {a[2]:.1f} |")


if __name__ == "__main__":
    main()
