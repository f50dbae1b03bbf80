"""Time per call of the MINT encoder's inference pieces on a rollout batch (4 Catch frames), one thread."""
import sys, time
import numpy as np, torch
sys.path.insert(0, ".")
from mint_rl.baselines import load_encoder
from mint_rl.keypoints import keypoint_readout
torch.set_num_threads(1)
enc = load_encoder(sys.argv[1])
frames = torch.from_numpy(np.load(sys.argv[2])["frames"][:, 100]).permute(0, 3, 1, 2).contiguous() if len(sys.argv) > 2 \
    else torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
def t(f, n=2000):
    for _ in range(50): f()
    s = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - s) / n * 1e6
with torch.no_grad():
    hidden = enc._hidden(frames)
    logits = enc._keypoint_logits(hidden)
    print("whole forward   %.0f us" % t(lambda: enc(frames)))
    print("_hidden         %.0f us" % t(lambda: enc._hidden(frames)))
    print("keypoint logits %.0f us" % t(lambda: enc._keypoint_logits(hidden)))
    print("readout         %.0f us" % t(lambda: keypoint_readout(logits, enc.temperature)))
    for i, blk in enumerate(enc.backbone):
        x = enc.backbone[:i](frames.contiguous(memory_format=torch.channels_last).float()) if i else \
            frames.contiguous(memory_format=torch.channels_last).float()
        print(f"block {i}         %.0f us  (conv alone %.0f)" % (t(lambda: blk(x), 1000), t(lambda: blk[0](x), 1000)))
