"""cProfile of 4,096 training steps of the default keypoint agent on an encoder (argv[1]); sorted by
cumulative and by own time. Run from the project root, nothing else running."""
import cProfile, pstats, sys, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, ".")
from agents.experiment_settings import PPOExperiment
from agents.ppo_experiment import build_agent
torch.set_num_threads(1)
E = Path(sys.argv[1])
exp = PPOExperiment(env="MintTasks/Catch-v0", overlay_every=0, no_progress=True, num_keypoints=8)
codebook = np.random.default_rng(0).random((exp.colour_codes, 3)).astype(np.float32)
model, _, cbs, _ = build_agent("mint", exp, 0, E, None, codebook)
model.learn(1024, reset_num_timesteps=False, callback=cbs)
pr = cProfile.Profile()
t = time.perf_counter(); pr.enable()
model.learn(4096, reset_num_timesteps=False, callback=cbs)
pr.disable(); print("fps", 4096 / (time.perf_counter() - t))
pstats.Stats(pr).sort_stats("cumulative").print_stats(70)
pstats.Stats(pr).sort_stats("tottime").print_stats(45)
