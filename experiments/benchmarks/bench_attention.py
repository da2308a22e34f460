"""What attention dropout costs in a CPU training step: ``scaled_dot_product_attention`` forward
+ backward at the tiny Transformer's shape (batch 16, 4 heads, 256 positions, head dim 16, the
padding mask as BERT passes it), with and without ``dropout_p``, one thread. Prints JSON.

    .venv/bin/python experiments/benchmarks/bench_attention.py [--threads 1] [--out result.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import emit, load_average

F = torch.nn.functional.scaled_dot_product_attention


def timed(fn, repeats: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--length", type=int, default=256)
    p.add_argument("--head-dim", type=int, default=16)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    shape = (a.batch, a.heads, a.length, a.head_dim)
    q, k, v = (torch.randn(shape, requires_grad=True) for _ in range(3))
    mask = torch.zeros(a.batch, 1, a.length, a.length)
    mask[..., a.length - 6:] = torch.finfo(torch.float32).min  # 6 PAD positions, as a clip
    load = load_average()
    plain = timed(lambda: F(q, k, v, attn_mask=mask).sum().backward(), a.repeats)
    dropped = timed(lambda: F(q, k, v, attn_mask=mask, dropout_p=a.dropout).sum().backward(),
                    a.repeats)
    emit({"benchmark": "attention", "shape_bhld": list(shape), "threads": a.threads,
          "fwd_bwd_ms_no_dropout": round(plain, 2),
          f"fwd_bwd_ms_dropout_{a.dropout}": round(dropped, 2),
          "dropout_cost_ratio": round(dropped / plain, 2),
          "load_average_1m_before_after": [load, load_average()]}, a.out)


if __name__ == "__main__":
    main()
