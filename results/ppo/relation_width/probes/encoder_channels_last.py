import sys, time, torch, copy, numpy as np
sys.path.insert(0, ".")
from mint_rl.baselines import load_encoder
torch.set_num_threads(1)
enc = load_encoder("runs/catch_s20/MintTasks_Catch-v0/encoders/mint-k8-F0-f4000-s500/encoder.pt").eval()
import gymnasium as gym, envs
env = gym.make("MintTasks/Catch-v0"); obs, _ = env.reset(seed=0)
frames = []
for i in range(64):
    obs, *_ = env.step(env.action_space.sample()); frames.append(obs)
x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()[:4]
def bench(f, n=400):
    for _ in range(40): f()
    t = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - t) / n * 1e3
with torch.no_grad():
    ref = enc(x)
    print("base ms", bench(lambda: enc(x)))
    enc2 = copy.deepcopy(enc).to(memory_format=torch.channels_last)
    out = enc2(x)
    print("cl weights ms", bench(lambda: enc2(x)), torch.equal(out.coords, ref.coords), torch.equal(out.status, ref.status))
    with torch.inference_mode():
        print("inference_mode ms", bench(lambda: enc(x)))
allx = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()
with torch.no_grad():
    for bs in (1, 4, 10, 64):
        ok = True
        for i in range(0, 64, bs):
            a, b = enc(allx[i:i+bs]), enc2(allx[i:i+bs])
            ok &= torch.equal(a.coords, b.coords) and torch.equal(a.status, b.status) and torch.equal(a.heatmaps, b.heatmaps)
        print("batch", bs, "bitwise", ok)
    for bs in (1, 4, 10):
        xb = allx[:bs]
        print(bs, "base", bench(lambda: enc(xb), 300), "cl", bench(lambda: enc2(xb), 300))
