"""Probe (twenty-fourth session): forward + backward time of the relation network over all ordered pairs of present
keypoints (the default, agents.extractors.KeypointRelations) against pairs only with each keypoint's n nearest present
keypoints (n = 3, 4; a dense (B, K, n) version written here, not in the library), K = 8, width 64, 92 % of keypoints
present (as e20). Run from the project root: python results/ppo/speed_s24/knn_relations_micro.py"""
import torch, time
torch.set_num_threads(1)
from agents.extractors import KeypointRelations
torch.manual_seed(0)
E=P=64; K=8
rel = KeypointRelations(E, P)
def knn(h, xy, present, n=3):
    b,k = h.shape[:2]
    first, second = rel._terms(h, xy)
    d = torch.cdist(xy, xy)
    bad = ~(present.unsqueeze(1)) | torch.eye(k, dtype=torch.bool)
    d = d.masked_fill(bad, float("inf"))
    dist, idx = d.topk(n, dim=2, largest=False)
    valid = dist.isfinite() & present.unsqueeze(2)
    right = second.gather(1, idx.reshape(b, k*n, 1).expand(-1,-1,P)).reshape(b,k,n,P)
    codes = rel.out(first.unsqueeze(2) + right) * valid.unsqueeze(-1)
    count = valid.sum((1,2)).clamp_min(1).unsqueeze(-1).to(h.dtype)
    return torch.cat([codes.sum((1,2))/count, codes.amax((1,2))], -1)
def bench(f, B, reps=200):
    h = torch.randn(B,K,E, requires_grad=True); xy = torch.rand(B,K,2)*2-1
    present = torch.rand(B,K) < 0.92
    ts=[]
    for r in range(reps):
        t=time.perf_counter(); out=f(h,xy,present); out.sum().backward(); ts.append(time.perf_counter()-t)
    ts.sort(); return ts[len(ts)//2]*1e3
for B in (4, 64):  # 4: one rollout step of the 4 envs; 64: one PPO minibatch
    for _ in range(2):
        print(B, "all pairs %.3f ms" % bench(rel, B), "knn3 %.3f ms" % bench(knn, B), "knn4 %.3f" % bench(lambda a,b,c: knn(a,b,c,4), B))
