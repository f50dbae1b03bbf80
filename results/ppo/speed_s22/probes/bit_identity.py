"""sha256 of each agent's policy weights and optimiser state after 2,048 training steps (1,024 for pixels): run with
PYTHONPATH set to two checkouts (argv[2] a tag for the saved weights); equal digests = the same training, bit for bit."""
import hashlib, io, sys
from pathlib import Path
import numpy as np, torch
from agents.experiment_settings import PPOExperiment
from agents.ppo_experiment import build_agent
torch.set_num_threads(1)
exp = PPOExperiment(env="MintTasks/Catch-v0", overlay_every=0, no_progress=True, num_keypoints=8)
codebook = np.random.default_rng(0).random((exp.colour_codes, 3)).astype(np.float32)
for agent, steps in (("mint", 2048), ("pixels", 1024)):
    model, _, cbs, _ = build_agent(agent, exp, 0, Path(sys.argv[1]) if agent == "mint" else None, None,
                                   codebook if agent == "mint" else None)
    model.learn(steps, callback=cbs)
    h = hashlib.sha256()
    arrays = {}
    for k, v in model.policy.state_dict().items():
        h.update(v.numpy().tobytes()); arrays[k] = v.numpy().copy()
    np.savez(f"/tmp/bits_{agent}_{sys.argv[2]}.npz", **arrays)
    opt = model.policy.optimizer.state_dict()["state"]
    for i in sorted(opt):
        for k in sorted(opt[i]):
            h.update(opt[i][k].numpy().tobytes())
    print(agent, h.hexdigest()[:16], model.policy.optimizer.param_groups[0].get("foreach"))
