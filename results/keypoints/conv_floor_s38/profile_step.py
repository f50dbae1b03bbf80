"""torch.profiler of 5 MintTrainer steps (after 3 warm-up steps), K = 16, width 16, 32 clips x 3 frames, one thread.

    python results/keypoints/conv_floor_s38/profile_step.py 64 > results/keypoints/conv_floor_s38/profile_64.txt
"""
import sys
import torch
from torch.profiler import profile, ProfilerActivity
from mint_rl.config import MintConfig
from mint_rl.trainer import MintTrainer
torch.set_num_threads(1); torch.manual_seed(0)
size=int(sys.argv[1])
cfg = MintConfig(num_keypoints=16, image_size=(size,size), hidden_channels=16, batch_size=32)
tr = MintTrainer(cfg)
video = torch.randint(0,256,(32,3,3,size,size),dtype=torch.uint8)
for _ in range(3): tr.step(video)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(5): tr.step(video)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40, max_name_column_width=60))
