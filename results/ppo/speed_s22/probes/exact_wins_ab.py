"""A/B in one process, the default keypoint agent on an encoder (argv[1]): A = Adam in PyTorch's per-tensor CPU form
and the readout's pixel-centre grid rebuilt at every call (the code before the twenty-second session); B = this
checkout (Adam in its foreach form for the PPO and auxiliary optimisers, the grid cached). Interleaved 1024-step learn() chunks,
argv[2] repeats after one warm-up round."""
import statistics, sys, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, ".")
import mint_rl.keypoints as kpm
from agents.experiment_settings import PPOExperiment
from agents.ppo_experiment import build_agent
torch.set_num_threads(1)
E = Path(sys.argv[1]); reps = int(sys.argv[2]) if len(sys.argv) > 2 else 7
exp = PPOExperiment(env="MintTasks/Catch-v0", overlay_every=0, no_progress=True, num_keypoints=8)
codebook = np.random.default_rng(0).random((exp.colour_codes, 3)).astype(np.float32)
A, _, cbA, _ = build_agent("mint", exp, 0, E, None, codebook)
B, _, cbB, _ = build_agent("mint", exp, 0, E, None, codebook)
cached = kpm._centre_grid
uncached = cached.__wrapped__
A.learn(8, callback=cbA)  # (builds the auxiliary optimiser)
for opt in [A.policy.optimizer] + [c.optimizer for c in cbA if getattr(c, "optimizer", None) is not None]:
    for g in opt.param_groups:
        g["fused"], g["foreach"] = None, None
print("A", A.policy.optimizer.defaults.get("fused"), A.policy.optimizer.param_groups[0]["fused"],
      "B", B.policy.optimizer.param_groups[0]["fused"])
fps = {"A": [], "B": []}
for rep in range(reps + 1):
    for name, model, cbs in (("A", A, cbA), ("B", B, cbB)):
        kpm._centre_grid = cached if name == "B" else uncached
        t0 = time.perf_counter(); n0 = model.num_timesteps
        model.learn(1024, reset_num_timesteps=False, callback=cbs)
        if rep: fps[name].append((model.num_timesteps - n0) / (time.perf_counter() - t0))
print({k: [round(x) for x in v] for k, v in fps.items()})
print("median A %.0f B %.0f  B/A %.3f" % (statistics.median(fps["A"]), statistics.median(fps["B"]),
                                         statistics.median(fps["B"]) / statistics.median(fps["A"])))
print("paired ratios", [round(b / a, 3) for a, b in zip(fps["A"], fps["B"])])
