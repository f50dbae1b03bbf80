"""µs per call of the readout's pieces on the encoder's keypoint logits of 4 Catch frames (argv: E22, the frames file), one thread."""
import sys, time, torch, torch.nn.functional as F
sys.path.insert(0, ".")
from mint_rl.baselines import load_encoder
from mint_rl.keypoints import keypoint_readout
from mint_rl.coords import pixel_centres
import numpy as np
torch.set_num_threads(1)
enc = load_encoder(sys.argv[1])
frames = torch.from_numpy(np.load(sys.argv[2])["frames"][:, 100]).permute(0, 3, 1, 2).contiguous()
def t(f, n=2000):
    for _ in range(50): f()
    s = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - s) / n * 1e6
with torch.no_grad():
    hidden = enc._hidden(frames); logits = enc._keypoint_logits(hidden)
    print("logits contiguous?", logits.is_contiguous(), logits.is_contiguous(memory_format=torch.channels_last), logits.shape)
    T = enc.temperature
    print("readout", t(lambda: keypoint_readout(logits, T)))
    lc = logits.contiguous()
    print("readout contiguous input", t(lambda: keypoint_readout(lc, T)))
    print("contiguous() copy", t(lambda: logits.contiguous()))
    print("softplus", t(lambda: F.softplus(logits)))
    m = F.softplus(lc).reshape(4, 8, -1)
    print("softmax contiguous", t(lambda: torch.softmax(m / T, -1)))
    ml = F.softplus(logits).permute(0, 2, 3, 1).reshape(4, -1, 8)
    print("softmax strided dim1", t(lambda: torch.softmax(ml / T, 1)))
    print("max contiguous", t(lambda: m.max(-1)))
    print("max dim1", t(lambda: ml.max(1)))
    print("pixel_centres", t(lambda: pixel_centres(32, 32, device=lc.device, dtype=lc.dtype)))
