"""ConvTranspose2d(32, 16, 4, stride 2, padding 1) as four sub-pixel 2x2 convolutions (one conv2d with 4 x 16 outputs
and an interleave): the same values and gradients, timed forward + backward against the transposed convolution
(channels-last, one thread, 96 maps of 21 x 21).

    python results/keypoints/conv_floor_s38/subpixel_probe.py > results/keypoints/conv_floor_s38/subpixel_probe.txt
"""
import torch, time
import torch.nn.functional as F
from torch import nn
torch.set_num_threads(1); torch.manual_seed(0)
B, cin, cout, q = 96, 32, 16, 21
ct = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
def subpixel(x, w, b):
    # w: (cin, cout, 4, 4) -> (4*cout, cin, 2, 2): phase (a, b) tap (u, v) = w[:, :, 3-a-2u, 3-b-2v]
    idx = torch.tensor([[3, 1], [2, 0]])  # [a][u]
    k = w[:, :, idx[:, None, :, None], idx[None, :, None, :]]  # (cin, cout, a, b, u, v)
    k = k.permute(2, 3, 1, 0, 4, 5).reshape(4 * cout, cin, 2, 2)
    y = F.conv2d(x, k, b.repeat(4), padding=1)  # (B, 4*cout, q+1, q+1), channel = (a*2+b)*cout + o
    n = x.shape[0]
    y = y.view(n, 2, 2, cout, q + 1, q + 1)
    out = torch.empty(n, cout, q, 2, q, 2, dtype=x.dtype)  # rows m,a ; cols n,b
    rows = []
    ph = [[y[:, a, bb, :, a:a + q, bb:bb + q] for bb in range(2)] for a in range(2)]
    out = torch.stack([torch.stack(ph[a], -1) for a in range(2)], 3)  # (n, cout, q, 2(a), q, 2(b))
    return out.reshape(n, cout, 2 * q, 2 * q)
x = torch.randn(B, cin, q, q).contiguous(memory_format=torch.channels_last)
ref = ct(x)
got = subpixel(x, ct.weight, ct.bias)
print("max diff", (ref - got).abs().max().item())
xr = x.clone().requires_grad_(True); xs = x.clone().requires_grad_(True)
g = torch.randn_like(ref)
ct.zero_grad(); ct(xr).backward(g); gw1 = ct.weight.grad.clone(); 
ct.zero_grad(); subpixel(xs, ct.weight, ct.bias).backward(g); gw2 = ct.weight.grad.clone()
print("grad x", (xr.grad-xs.grad).abs().max().item(), "grad w", (gw1-gw2).abs().max().item(), gw1.abs().max().item())
ctcl = nn.Sequential(ct).to(memory_format=torch.channels_last)
def f1():
    ct.zero_grad(); y = ctcl(xr); y.backward(torch.ones_like(y))
def f2():
    ct.zero_grad(); y = subpixel(xs, ct.weight, ct.bias); y.backward(torch.ones_like(y))
f1(); f2(); t1=[]; t2=[]
for _ in range(9):
    t=time.perf_counter(); f1(); t1.append(time.perf_counter()-t)
    t=time.perf_counter(); f2(); t2.append(time.perf_counter()-t)
print("convT %.1f ms  subpixel %.1f ms" % (sorted(t1)[4]*1e3, sorted(t2)[4]*1e3))
