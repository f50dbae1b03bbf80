"""Keypoint wrapper overhead on Atari, and bounded memory in online mode.

    python benchmarks/bench_wrappers.py                 # steps/s: raw vs frozen vs online
    python benchmarks/bench_wrappers.py --memory        # RSS after 10k vs 100k online steps
    python benchmarks/bench_wrappers.py --check-cost    # step-time frame checks vs a wrapped step

Steps/s: 8 ALE envs in one gymnasium vector env (84×84 RGB preprocessing, frame skip 4),
stepped with random actions: raw, wrapped with a frozen MINT encoder (one batched forward
per step) for each encoder input size (``--encoder-sizes``: 84 = the frames as they come,
64 = the wrapper resizes them) and torch thread count (``--threads``: the sync vector env
steps the emulators on one core; a second thread lets the encoder use the other), and wrapped
online (frames buffered with their entropy, a round of updates every ``update_every``
frames). All run interleaved in short chunks in one process, so the machine's speed drift
hits all alike; the table gives medians and ratios to raw.

Memory: an online wrapper on one env runs 100k steps; resident memory at 10k and 100k steps
is printed (the frame buffer is bounded, so the two should agree within ~100 MB).

Check cost: the frozen 64×64 setup (the fastest wrapped step, so the largest relative cost)
on uint8 frames and on float32 frames in [0, 1] (a float ``Box``: the check also takes a min
and a max). Two figures per kind: the checks of one vector step timed alone (the batch check
plus, per sub-env, the ``SyncVectorEnv`` sub-env check and its wrapper layer) as a fraction
of a wrapped step, and the A/B ratio of wrapped steps with the checks switched on and off
(interleaved chunks; noisier than the check itself). Target: under 5 % of a wrapped step.
"""

from __future__ import annotations

import argparse
import resource
import time
import timeit

import numpy as np
import torch


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="ALE/Pong-v5")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--chunk", type=int, default=100, help="vector steps per timed chunk")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--num-keypoints", "-k", type=int, default=16)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="torch threads of the frozen-encoder setups (default 1 2; the online setup uses the first)")
    p.add_argument("--encoder-sizes", type=int, nargs="+", default=[84, 64],
                   help="input sizes of the frozen encoders (default 84 64; frames are 84×84)")
    p.add_argument("--memory", action="store_true", help="run the online memory check instead")
    p.add_argument("--memory-steps", type=int, default=100_000)
    p.add_argument("--check-cost", action="store_true",
                   help="time the step-time frame checks against a wrapped step instead")
    args = p.parse_args()
    if min(args.threads) < 1 or min(args.encoder_sizes) < 8:
        p.error("--threads must be >= 1 and --encoder-sizes >= 8")
    torch.set_num_threads(args.threads[0])

    from envs.atari import make_atari_env
    from envs.vector import MintKeypointVectorWrapper
    from envs.wrappers import MintKeypointWrapper, ObservationOptions
    from mint_rl.config import MintConfig
    from mint_rl.encoder import KeypointEncoder
    from mint_rl.online import OnlineOptions

    config = MintConfig(num_keypoints=args.num_keypoints, image_size=(84, 84), status_threshold=0.5, batch_size=16)

    if args.check_cost:
        check_cost(args, config)
        return

    if args.memory:
        env = MintKeypointWrapper(make_atari_env(args.env, rgb=True), None, options=ObservationOptions(config=config),
                                  online=OnlineOptions(buffer_size=10_000, update_every=5_000, updates_per_round=5))
        env.reset(seed=0)
        env.action_space.seed(0)
        marks = {}
        t0 = time.time()
        for step in range(1, args.memory_steps + 1):
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            if term or trunc:
                env.reset()
            if step in (10_000, args.memory_steps) or step % 20_000 == 0:
                marks[step] = rss_mb()
                print(f"step {step:>7}: RSS {marks[step]:8.1f} MB  ({time.time() - t0:.0f}s)", flush=True)
        a, b = marks.get(10_000, np.nan), marks[args.memory_steps]
        print(f"RSS growth 10k → {args.memory_steps // 1000}k steps: {b - a:+.1f} MB (target: within 100 MB)")
        return

    def venv():
        return make_atari_env(args.env, rgb=True, num_envs=args.num_envs)

    # name → (env, torch threads)
    setups: dict[str, tuple] = {"raw preprocessed": (venv(), args.threads[0])}
    for size in args.encoder_sizes:
        torch.manual_seed(0)
        encoder = KeypointEncoder(config.replace(image_size=(size, size))).eval()
        wrapped = MintKeypointVectorWrapper(venv(), encoder)
        for threads in args.threads:
            setups[f"frozen MINT {size}×{size}, {threads} thread{'s' * (threads > 1)}"] = (wrapped, threads)
    online = MintKeypointVectorWrapper(venv(), None, options=ObservationOptions(config=config),
                                       online=OnlineOptions(buffer_size=4_000, update_every=2_000, updates_per_round=5))
    setups[f"online MINT 84×84, {args.threads[0]} thread{'s' * (args.threads[0] > 1)}"] = (online, args.threads[0])
    envs = {id(env): env for env, _ in setups.values()}
    for env in envs.values():
        env.reset(seed=0)
        env.action_space.seed(0)
    rates: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(args.rounds):
        for name, (env, threads) in setups.items():
            torch.set_num_threads(threads)
            env.step(env.action_space.sample())  # warm the thread pool after a change
            t = time.perf_counter()
            for _ in range(args.chunk):
                env.step(env.action_space.sample())
            rates[name].append(args.chunk * args.num_envs / (time.perf_counter() - t))
    base = float(np.median(rates["raw preprocessed"]))
    print(f"{args.env}, {args.num_envs} envs (sync vector env), K={args.num_keypoints}, median of {args.rounds} "
          f"interleaved chunks of {args.chunk} steps")
    width = max(len(n) for n in setups) + 2
    print(f"{'setup':<{width}}{'env steps/s':>14}{'vs raw':>9}")
    for name, r in rates.items():
        med = float(np.median(r))
        print(f"{name:<{width}}{med:>14.0f}{med / base:>9.2f}")
    for env in envs.values():
        env.close()


def check_cost(args: argparse.Namespace, config) -> None:
    """Cost of the step-time frame checks (``envs.keypoint_observation.FrameCheck``) in a wrapped step."""
    import gymnasium as gym
    from gymnasium import spaces
    from gymnasium.wrappers import TransformObservation

    from envs.atari import make_atari_env
    from envs.vector import MintKeypointVectorWrapper
    from envs.keypoint_observation import FrameCheck, FrameCheckWrapper
    from mint_rl.encoder import KeypointEncoder

    def scaled(env: gym.Env) -> gym.Env:  # float32 frames in [0, 1] with a float Box
        space = spaces.Box(0.0, 1.0, env.observation_space.shape, np.float32)
        return TransformObservation(env, lambda o: o.astype(np.float32) * np.float32(1 / 255), space)

    class Const(gym.Env):  # returns one fixed frame: isolates a sub-env check and its wrapper layer
        def __init__(self, frame: np.ndarray, space: spaces.Box) -> None:
            self.frame, self.observation_space, self.action_space = frame, space, spaces.Discrete(2)

        def step(self, action):
            return self.frame, 0.0, False, False, {}

    def best(fn, number: int) -> float:  # seconds per call, best of 5 repeats
        return min(timeit.repeat(fn, number=number, repeat=5)) / number

    torch.set_num_threads(args.threads[0])
    n = args.num_envs
    print(f"{args.env}, {n} envs (sync vector env), frozen MINT 64×64 encoder, K={args.num_keypoints}, "
          f"{args.threads[0]} torch thread(s), median of {args.rounds} interleaved chunks of {args.chunk} steps")
    for kind, wrappers in (("uint8", ()), ("float32", (scaled,))):
        torch.manual_seed(0)
        encoder = KeypointEncoder(config.replace(image_size=(64, 64))).eval()
        env = MintKeypointVectorWrapper(make_atari_env(args.env, rgb=True, num_envs=n, wrappers=wrappers), encoder)
        env.reset(seed=0)
        env.action_space.seed(0)
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for on in (True, False):
                env.check_frames = on
                env.step(env.action_space.sample())
                t = time.perf_counter()
                for _ in range(args.chunk):
                    env.step(env.action_space.sample())
                times[on].append((time.perf_counter() - t) / args.chunk)
        env.check_frames = True
        step_on, step_off = float(np.median(times[True])), float(np.median(times[False]))
        batch = env.env.step(env.action_space.sample())[0]  # a real batch of frames, as the wrapper gets it
        space = env.env.single_observation_space
        batch_check = best(lambda: env.observer.frame_check(batch, "step"), 2000)
        const = Const(batch[0], space)
        guard = FrameCheckWrapper(const, FrameCheck(space, "bench"), 0)
        sub_check = max(best(lambda: guard.step(0), 5000) - best(lambda: const.step(0), 5000), 0.0)
        cost = batch_check + n * sub_check
        print(f"{kind:>8} frames: checks {cost * 1e6:6.1f} µs per vector step (batch {batch_check * 1e6:.1f} µs + "
              f"{n} × sub-env {sub_check * 1e6:.1f} µs) = {100 * cost / step_off:.2f} % of a wrapped step "
              f"({step_off * 1e3:.2f} ms); A/B wrapped step with / without checks: {step_on * 1e3:.2f} / "
              f"{step_off * 1e3:.2f} ms ({100 * (step_on / step_off - 1):+.1f} %)")
        env.close()
    print("target: under 5 % of a wrapped step")


if __name__ == "__main__":
    main()
