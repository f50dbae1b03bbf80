import sys, time, torch
sys.path.insert(0, ".")
from agents.extractors import KeypointRelations
torch.set_num_threads(1); torch.manual_seed(0)
def bench(f, n=300):
    for _ in range(30): f()
    t=time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter()-t)/n*1e3
B,K,E=64,8,64
rel = KeypointRelations(E)
h = torch.randn(B,K,E, requires_grad=True); xy = torch.rand(B,K,2)*2-1
present = torch.rand(B,K) < 0.92
def fb():
    out = rel(h, xy, present); out.sum().backward()
def f():
    with torch.no_grad(): rel(h, xy, present)
print("sparse fwd+bwd ms", bench(fb), "fwd", bench(f))
lin = torch.nn.Linear(E,E)
x = torch.randn(B*47, E, requires_grad=True)
def mmfb():
    y = torch.relu(lin(x)); y.sum().backward()
print("just linear on P rows fwd+bwd", bench(mmfb))
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(100): fb()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))

class Rel2(KeypointRelations):
    def forward(self, h, xy, present):
        b, k, e = h.shape
        first, second = self._terms(h, xy)
        pairs = present.unsqueeze(2) & present.unsqueeze(1) & ~torch.eye(k, dtype=torch.bool, device=h.device)
        flat = pairs.reshape(-1).nonzero().squeeze(1)
        row = flat // (k * k)
        left, right = flat // k, row * k + flat % k
        codes = self.out(first.reshape(b * k, e).index_select(0, left) + second.reshape(b * k, e).index_select(0, right))
        count = pairs.sum((1, 2)).clamp_min(1).unsqueeze(-1).to(h.dtype)
        mean = h.new_zeros(b, e).index_add(0, row, codes) / count
        maxed = h.new_zeros(b * k * k, e).index_copy(0, flat, codes).reshape(b, k * k, e).max(1).values
        return torch.cat([mean, maxed], dim=-1)
rel2 = Rel2(E); rel2.load_state_dict(rel.state_dict())
def fb2():
    out = rel2(h, xy, present); out.sum().backward()
print("dense-max fwd+bwd ms", bench(fb2))
for pr in (present, torch.rand(B,K) < 0.5, torch.zeros(B,K,dtype=torch.bool)):
    g = torch.randn(B, 2*E)
    h.grad=None; o1 = rel(h, xy, pr); (o1*g).sum().backward(); g1 = h.grad.clone(); w1=[p.grad.clone() for p in rel.parameters()]
    h.grad=None; o2 = rel2(h, xy, pr); (o2*g).sum().backward(); g2 = h.grad.clone(); w2=[p.grad.clone() for p in rel2.parameters()]
    print(torch.equal(o1,o2), torch.equal(g1,g2), all(torch.equal(a,b) for a,b in zip(w1,w2)))
    for p in list(rel.parameters())+list(rel2.parameters()): p.grad=None
