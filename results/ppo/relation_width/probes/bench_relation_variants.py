import sys, torch
sys.path.insert(0, ".")
import torch.nn as nn
import agents.extractors as X
D = int(sys.argv[1]); DENSE = sys.argv[2] == "dense"
class R(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.first = nn.Linear(dim, D); self.second = nn.Linear(dim, D, bias=False); self.offset = nn.Linear(2, D, bias=False)
        self.out = nn.Sequential(nn.ReLU(), nn.Linear(D, D), nn.ReLU())
    def forward(self, h, xy, present):
        b, k, e = h.shape
        at = self.offset(xy); first, second = self.first(h) - at, self.second(h) + at
        pairs = present.unsqueeze(2) & present.unsqueeze(1) & ~torch.eye(k, dtype=torch.bool)
        flat = pairs.reshape(-1).nonzero().squeeze(1); row = flat // (k * k)
        left, right = flat // k, row * k + flat % k
        codes = self.out(first.reshape(b * k, D).index_select(0, left) + second.reshape(b * k, D).index_select(0, right))
        count = pairs.sum((1, 2)).clamp_min(1).unsqueeze(-1).to(h.dtype)
        mean = h.new_zeros(b, D).index_add(0, row, codes) / count
        if DENSE:
            maxed = h.new_zeros(b * k * k, D).index_copy(0, flat, codes).reshape(b, k * k, D).max(1).values
        else:
            maxed = h.new_zeros(b, D).scatter_reduce(0, row.unsqueeze(-1).expand(-1, D), codes, "amax")
        return torch.cat([mean, maxed], dim=-1)
orig_init = X.KeypointSetExtractor.__init__
def init(self, *a, **kw):
    orig_init(self, *a, **kw)
    if self.relations is not None:
        e = self.point[0].out_features
        self.relations = R(e)
        self.head = nn.Sequential(nn.Linear(2 * e + 2 * D, self.head[0].out_features), nn.ReLU())
X.KeypointSetExtractor.__init__ = init
sys.argv = ["bench", "--envs", "MintTasks/Catch-v0", "--repeats", "5", "--encoder",
            "runs/catch_s20/MintTasks_Catch-v0/encoders/mint-k8-F0-f4000-s500/encoder.pt"]
import runpy; runpy.run_path("benchmarks/bench_ppo.py", run_name="__main__")
