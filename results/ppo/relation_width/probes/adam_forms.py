import torch, time, copy
torch.set_num_threads(1); torch.manual_seed(0)
net = torch.nn.Sequential(*[torch.nn.Linear(64,64) for _ in range(15)])
nets = {k: copy.deepcopy(net) for k in ("single","foreach","fused")}
opts = {"single": torch.optim.Adam(nets["single"].parameters(), lr=3e-4, eps=1e-5, foreach=False),
        "foreach": torch.optim.Adam(nets["foreach"].parameters(), lr=3e-4, eps=1e-5, foreach=True),
        "fused": torch.optim.Adam(nets["fused"].parameters(), lr=3e-4, eps=1e-5, fused=True)}
x = torch.randn(32,64)
for step in range(50):
    for k in nets:
        opts[k].zero_grad(); nets[k](x).pow(2).sum().backward(); opts[k].step()
for k in ("foreach","fused"):
    print(k, all(torch.equal(a,b) for a,b in zip(nets["single"].parameters(), nets[k].parameters())))
for k in nets:
    nets[k](x).pow(2).sum().backward()
    t=time.perf_counter()
    for _ in range(300): opts[k].step()
    print(k, (time.perf_counter()-t)/300*1e3, "ms")
