"""torch.profiler op table of PPO's update phase (model.train(): 80 minibatches) of the default keypoint agent."""
import sys
from pathlib import Path
import numpy as np, torch
from torch.profiler import profile, ProfilerActivity
sys.path.insert(0, ".")
from agents.experiment_settings import PPOExperiment
from agents.ppo_experiment import build_agent
torch.set_num_threads(1)
exp = PPOExperiment(env="MintTasks/Catch-v0", overlay_every=0, no_progress=True, num_keypoints=8)
codebook = np.random.default_rng(0).random((exp.colour_codes, 3)).astype(np.float32)
model, _, cbs, _ = build_agent("mint", exp, 0, Path(sys.argv[1]), None, codebook)
model.learn(2048, reset_num_timesteps=False, callback=cbs)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    model.train()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=45))
with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    model.train()
print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25,
                                                          max_name_column_width=30, max_shapes_column_width=70))
