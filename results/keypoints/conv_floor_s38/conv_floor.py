"""Issue #14 item 1: the floor the encoder's architecture sets under a MINT training step (thirty-eighth session).

    python results/keypoints/conv_floor_s38/conv_floor.py [--sizes 64 84] [--reps 15]

The issue's target is a training step (32 clips x 3 frames, K = 16, width 16) of at most 22x the NatureCNN forward on
32 frames (`benchmarks/bench_encoder.py`'s yardstick). This probe prints, per input size:

* the multiply-accumulates (MACs) of the encoder's convolutions per frame and of the yardstick's, and the ratio a
  training step's convolutions alone would cost if they ran at the yardstick's MAC rate: forward on 96 frames plus
  backward (weight gradients everywhere, input gradients for every layer but the first);
* measured, interleaved with the yardstick in one process on one thread: the encoder's bare convolution stack
  (torch's own Conv2d / ConvTranspose2d + ReLU, no norm, no loss, no entropy), forward and backward on the 96 frames,
  in torch's default (contiguous) and channels-last layouts; and the full `MintTrainer.step` for reference.

The bare stack is a floor for any implementation that keeps the authors' architecture and uses torch's kernels: the
real step adds batch norm, the keypoint readout, the loss, the entropy and the optimiser to it.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from mint_rl.config import MintConfig
from mint_rl.trainer import MintTrainer


def conv_macs(model: nn.Module, shape: tuple[int, ...]) -> list[int]:
    """MACs of each Conv2d / ConvTranspose2d in ``model`` for one input of ``shape`` (C, H, W), via forward hooks."""
    macs: list[int] = []

    def hook(m, inp, out):
        if isinstance(m, nn.ConvTranspose2d):  # every input pixel scatters a k x k x C_out patch
            x = inp[0]
            macs.append(x.shape[2] * x.shape[3] * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1])
        else:
            macs.append(out.shape[2] * out.shape[3] * m.out_channels * m.in_channels // m.groups
                        * m.kernel_size[0] * m.kernel_size[1])

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hs:
        h.remove()
    return macs


def bare_stack(c: int, k: int) -> nn.Sequential:
    """The encoder's convolutions (mint_rl/encoder.py) with ReLUs and nothing else."""
    return nn.Sequential(nn.Conv2d(3, c, 5, 2, 2), nn.ReLU(), nn.Conv2d(c, c, 3, 2, 1), nn.ReLU(),
                         nn.Conv2d(c, 2 * c, 3, 1, 1), nn.ReLU(), nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(),
                         nn.Conv2d(c, c, 3, 1, 1), nn.ReLU(), nn.Conv2d(c, k, 1))


def nature_cnn() -> nn.Sequential:
    """bench_encoder.py's yardstick: SB3's NatureCNN body."""
    return nn.Sequential(nn.Conv2d(3, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 84])
    p.add_argument("--reps", type=int, default=15)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    c, k, clips = 16, 16, 32
    print(f"one torch thread, width {c}, K = {k}, {clips} clips x 3 frames; medians of {args.reps} interleaved reps")
    print("| input | encoder MACs/frame | NatureCNN MACs/frame | step convs at NatureCNN's MAC rate | bare stack, "
          "contiguous | bare stack, channels-last | full MintTrainer.step | NatureCNN fwd ms |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        cfg = MintConfig(num_keypoints=k, image_size=(size, size), hidden_channels=c, batch_size=clips)
        assert tuple(cfg.grid_size) == (size // 2, size // 2)
        stack, nat = bare_stack(c, k), nature_cnn()
        enc = conv_macs(stack, (3, size, size))
        nat_macs = sum(conv_macs(nat, (3, size, size)))
        # forward on 3 frames per clip; backward: weight grads for all, input grads for all but the first layer
        step_macs = 3 * clips * (sum(enc) + sum(enc) + sum(enc[1:]))
        ideal = step_macs / (clips * nat_macs)
        trainer = MintTrainer(cfg)
        video = torch.randint(0, 256, (clips, 3, 3, size, size), dtype=torch.uint8)
        x = torch.rand(3 * clips, 3, size, size) * 2 - 1
        x_cl = x.contiguous(memory_format=torch.channels_last)
        stack_cl = bare_stack(c, k).to(memory_format=torch.channels_last)
        stack_cl.load_state_dict(stack.state_dict())
        frames = video[:, 0].float() / 255

        def bare(model, inp):
            model.zero_grad(set_to_none=True)
            model(inp).sum().backward()

        cases = {"contig": lambda: bare(stack, x), "cl": lambda: bare(stack_cl, x_cl),
                 "step": lambda: trainer.step(video)}
        times: dict[str, list[float]] = {n: [] for n in [*cases, "nature"]}
        for fn in cases.values():
            fn()
        for _ in range(args.reps):
            for name, fn in cases.items():
                t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
                with torch.no_grad():
                    t = time.perf_counter(); nat(frames); times["nature"].append(time.perf_counter() - t)
        med = {n: sorted(v)[len(v) // 2] * 1000 for n, v in times.items()}
        nb = med["nature"]
        print(f"| {size}x{size} | {sum(enc) / 1e6:.2f}M | {nat_macs / 1e6:.2f}M | {ideal:.1f}x | "
              f"{med['contig']:.1f} ms = {med['contig'] / nb:.1f}x | {med['cl']:.1f} ms = {med['cl'] / nb:.1f}x | "
              f"{med['step']:.1f} ms = {med['step'] / nb:.1f}x | {nb:.2f} |")


if __name__ == "__main__":
    main()
