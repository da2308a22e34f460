"""Denoising corruption of descriptor sequences (paper: span permutation + frame masking).

Conventions (pure functions, no state):

- A *plan* for one sequence of length ``seq_len`` is ``(order, masked)``:
  the corrupted input at position ``i`` is ``MASK`` if ``masked[i]`` else ``original[order[i]]``.
  The regression target at position ``i`` stays ``original[i]`` (the paper's eq. 1).
- Permutation: a span of ``span`` consecutive valid frames is cut out and reinserted at a different
  position among the remaining valid frames. If a clip has ``valid_len <= span`` valid frames there
  is no other place to put the span, so the clip is not permuted (masking still applies).
- Masking: exactly ``round(mask_ratio * valid_len)`` valid positions, drawn without replacement
  (BERT-style fixed count rather than Bernoulli: same expectation, no variance in the count).
- Pads (positions past ``valid_len``) are never moved and never masked.

Seeds: every sample gets its own ``numpy.random.Generator`` from
``sample_seed(base_seed, epoch, index)``, so a corruption depends only on the run seed, the epoch and
the dataset index (not on batch composition, worker count or world size).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

TRAIN_STREAM = 0
VAL_STREAM = 1


def sample_seed(base_seed: int, epoch: int, index: int, stream: int = TRAIN_STREAM) -> int:
    """A well-mixed 63-bit seed for one sample of one epoch (``stream`` separates train/val)."""
    for name, value in (("base_seed", base_seed), ("epoch", epoch), ("index", index)):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    seq = np.random.SeedSequence([int(base_seed), int(stream), int(epoch), int(index)])
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def permutation_order(
    valid_len: int, seq_len: int, rng: np.random.Generator, span: int
) -> np.ndarray:
    """``order`` (int64 [seq_len]) that moves one span of ``span`` valid frames elsewhere.

    Identity when ``valid_len <= span`` or ``span <= 0`` (no different place for the span).
    """
    order = np.arange(seq_len, dtype=np.int64)
    if span <= 0 or valid_len <= span:
        return order
    start = int(rng.integers(0, valid_len - span + 1))
    # Insertion point within the remaining valid_len - span frames; ``start`` would be a no-op.
    choices = np.delete(np.arange(valid_len - span + 1), start)
    insert = int(rng.choice(choices))
    moved = order[start : start + span]
    rest = np.concatenate([order[:start], order[start + span : valid_len]])
    order[:valid_len] = np.concatenate([rest[:insert], moved, rest[insert:]])
    return order


def mask_positions(
    valid_len: int, seq_len: int, rng: np.random.Generator, mask_ratio: float
) -> np.ndarray:
    """Bool [seq_len]: exactly ``round(mask_ratio * valid_len)`` valid positions set."""
    if not 0.0 <= mask_ratio <= 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1], got {mask_ratio}")
    masked = np.zeros(seq_len, dtype=bool)
    n_mask = round(mask_ratio * valid_len)
    if n_mask > 0:
        masked[rng.choice(valid_len, size=n_mask, replace=False)] = True
    return masked


def corruption_plan(
    valid_len: int,
    seq_len: int,
    rng: np.random.Generator,
    *,
    span: int = 30,
    mask_ratio: float = 0.15,
    permute: bool = True,
    mask: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Plan for one sequence whose first ``valid_len`` of ``seq_len`` positions are real frames.

    Returns ``(order int64 [seq_len], masked bool [seq_len])`` (see module docstring).
    """
    if not 0 <= valid_len <= seq_len:
        raise ValueError(f"valid_len must be in [0, {seq_len}], got {valid_len}")
    order = (
        permutation_order(valid_len, seq_len, rng, span)
        if permute
        else np.arange(seq_len, dtype=np.int64)
    )
    masked = (
        mask_positions(valid_len, seq_len, rng, mask_ratio)
        if mask
        else np.zeros(seq_len, dtype=bool)
    )
    return order, masked


def batch_corruption_plan(
    attention_mask: Tensor,
    indices: Sequence[int] | Tensor,
    *,
    base_seed: int,
    epoch: int,
    stream: int = TRAIN_STREAM,
    span: int = 30,
    mask_ratio: float = 0.15,
    permute: bool = True,
    mask: bool = True,
) -> tuple[Tensor, Tensor]:
    """Plans for a batch (CPU): ``(order int64 [B, L], masked bool [B, L])``.

    Works for any attention mask, not only right-padded ones: the plan is drawn over the valid
    positions of each row (in order) and mapped back, so padded positions stay in place.
    """
    mask_np = attention_mask.detach().to("cpu", torch.bool).numpy()
    idx = indices.tolist() if isinstance(indices, Tensor) else list(indices)
    batch, seq_len = mask_np.shape
    orders = np.tile(np.arange(seq_len, dtype=np.int64), (batch, 1))
    maskeds = np.zeros((batch, seq_len), dtype=bool)
    for b in range(batch):
        valid = np.flatnonzero(mask_np[b])
        rng = np.random.default_rng(sample_seed(base_seed, epoch, int(idx[b]), stream))
        order, masked = corruption_plan(
            len(valid),
            len(valid),
            rng,
            span=span,
            mask_ratio=mask_ratio,
            permute=permute,
            mask=mask,
        )
        orders[b, valid] = valid[order]
        maskeds[b, valid] = masked
    return torch.from_numpy(orders), torch.from_numpy(maskeds)


def apply_corruption(
    features: Tensor, order: Tensor, masked: Tensor, mask_descriptor: Tensor
) -> Tensor:
    """Corrupted input [B, L, D]: one batched gather along time, then MASK where ``masked``."""
    order = order.to(features.device, non_blocking=True)
    masked = masked.to(features.device, non_blocking=True)
    gathered = torch.gather(features, 1, order.unsqueeze(-1).expand_as(features))
    fill = mask_descriptor.to(device=features.device, dtype=features.dtype)
    return torch.where(masked.unsqueeze(-1), fill, gathered)


def invert_order(order: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Inverse permutation along the last axis: ``x[..., order][..., invert_order(order)] == x``."""
    if isinstance(order, np.ndarray):
        inv = np.empty_like(order)
        np.put_along_axis(inv, order, np.broadcast_to(np.arange(order.shape[-1]), order.shape), -1)
        return inv
    ar = torch.arange(order.shape[-1], device=order.device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, ar)


def corrupted_positions(order: Tensor, masked: Tensor) -> Tensor:
    """Bool [B, L]: positions whose input differs from the original frame (moved or masked)."""
    ar = torch.arange(order.shape[-1], device=order.device)
    return masked | (order != ar)


def interpolate_missing(values: Tensor, known: Tensor) -> Tensor:
    """``values [B, L, D]`` with every position that is not ``known [B, L]`` filled by linear
    interpolation between its nearest known neighbours in time (the nearest one at an edge;
    left as it is in a sequence with none). The "interpolate" trivial predictor of the
    pre-training pretext: what a model gets for free at r(MASK) positions from their neighbours.
    """
    b, length = known.shape
    pos = torch.arange(length, device=values.device).expand(b, length)
    big = torch.full_like(pos, length)
    prev = torch.where(known, pos, torch.full_like(pos, -1)).cummax(1).values
    nxt = torch.where(known, pos, big).flip(1).cummin(1).values.flip(1)
    has_prev, has_next = prev >= 0, nxt < length
    lo = torch.where(has_prev, prev, nxt).clamp(0, length - 1)
    hi = torch.where(has_next, nxt, prev).clamp(0, length - 1)
    span = (hi - lo).clamp(min=1).to(values.dtype)
    w = ((pos - lo).to(values.dtype) / span).where(has_prev & has_next, torch.zeros_like(span))
    gather = lambda idx: values.gather(1, idx.unsqueeze(-1).expand(-1, -1, values.shape[-1]))  # noqa: E731
    filled = gather(lo) * (1 - w).unsqueeze(-1) + gather(hi) * w.unsqueeze(-1)
    fill = ~known & (has_prev | has_next)
    return torch.where(fill.unsqueeze(-1), filled, values)
