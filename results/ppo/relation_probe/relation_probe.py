"""Probe (twentieth session): KeypointRelations forward/backward time, its sparse form (present pairs gathered) against a
dense (B, K, K, E) form with the same values, at the rollout batch (4) and the PPO minibatch (64), K = 8, 92 % present.
Run from the project root: python results/ppo/relation_probe/relation_probe.py (one torch thread)."""
import time, torch
from agents.extractors import KeypointRelations
torch.set_num_threads(1); torch.manual_seed(0)
rel = KeypointRelations(64)
def dense(self, h, xy, present):
    b, k, e = h.shape
    first, second = self._terms(h, xy)
    pairs = present.unsqueeze(2) & present.unsqueeze(1) & ~torch.eye(k, dtype=torch.bool, device=h.device)
    codes = self.out(first.unsqueeze(2) + second.unsqueeze(1))  # (B, K, K, E) >= 0
    m = pairs.unsqueeze(-1).to(h.dtype)
    count = pairs.sum((1, 2)).clamp_min(1).unsqueeze(-1).to(h.dtype)
    mean = (codes * m).sum((1, 2)) / count
    maxed = (codes * m).amax((1, 2))
    return torch.cat([mean, maxed], -1)
for B in (4, 64):
    h = torch.randn(B, 8, 64, requires_grad=True); xy = torch.rand(B, 8, 2) * 2 - 1
    present = torch.rand(B, 8) < 0.92
    a = rel(h, xy, present); d = dense(rel, h, xy, present)
    print(B, "max diff", (a - d).abs().max().item())
    for name, f in (("sparse", lambda: rel(h, xy, present)), ("dense", lambda: dense(rel, h, xy, present))):
        for grad in (False, True):
            n = 300; t0 = time.perf_counter()
            for _ in range(n):
                out = f()
                if grad: out.sum().backward()
            print(B, name, "fwd+bwd" if grad else "fwd", "%.3f ms" % ((time.perf_counter() - t0) / n * 1e3))
