"""The stacked step alone on a GPU: one training step of K fno2d models stacked under ``vmap`` against one model.

What stacked seeds do inside ``tune-sched run`` on a GPU, without Lightning around it: FNO2d (width 16, 8 modes,
3 layers, the fno2d task's defaults), batch 32 of 32x32 fields, forward, backward and an Adam step, K=1 and K=8,
in float32 and with float16 autocast. Prints ms per step (mean of 60 after 10 warm-up steps) and the ratio.

Usage: python scripts/gpu_vmap_step.py [--seeds 8] [--steps 60]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch.func import functional_call, stack_module_state, vmap

from tune_sched.train.tasks.fno import FNO2d


def ms_per_step(k: int, amp: bool, steps: int, batch: int = 32, resolution: int = 32) -> float:
    torch.manual_seed(0)
    models = [FNO2d(width=16, modes=8, layers=3).cuda() for _ in range(k)]
    params, buffers = stack_module_state(models)
    skeleton = copy.deepcopy(models[0]).to("meta")
    x = torch.randn(k, batch, 1, resolution, resolution, device="cuda")
    y = torch.randn_like(x)
    optimizer = torch.optim.Adam(list(params.values()), lr=1e-3)

    def forward(p, b, inputs):
        return functional_call(skeleton, (p, b), (inputs,))

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            out = vmap(forward, randomness="different")(params, buffers, x)
            loss = ((out.float() - y) ** 2).mean(dim=(1, 2, 3, 4)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_vmap_step: no CUDA device")
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    for amp in (False, True):
        one = ms_per_step(1, amp, args.steps)
        many = ms_per_step(args.seeds, amp, args.steps)
        label = "float16 autocast" if amp else "float32"
        print(f"{label}: K=1 {one:.2f} ms/step, K={args.seeds} {many:.2f} ms/step, ratio {many / one:.2f}")
    print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
