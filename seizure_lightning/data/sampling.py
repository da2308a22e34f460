"""An epoch-aware sampler: each index comes with the epoch, so per-sample randomness
(crop choice, corruption) depends only on (seed, epoch, index) — reproducible across worker
counts, world sizes and resumes. :class:`ResumableDataLoader` makes a loader of it resumable
in the middle of an epoch (Lightning saves its ``state_dict`` in every checkpoint)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader, DistributedSampler


class EpochSeededSampler(DistributedSampler):
    """A ``DistributedSampler`` that yields ``(index, epoch)`` pairs.

    Being a ``DistributedSampler``, Lightning keeps it as it is under DDP and calls
    ``set_epoch`` on it every epoch. ``skip`` drops the first samples of this rank's epoch
    (used when resuming mid-epoch from a checkpoint); it applies to the next iteration only.
    """

    def __init__(
        self, dataset, *, num_replicas: int = 1, rank: int = 0, shuffle: bool = True,
        seed: int = 0, drop_last: bool = False,
    ) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
            drop_last=drop_last,
        )
        self.skip = 0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())
        skip, self.skip = self.skip, 0
        return iter([(i, self.epoch) for i in indices[skip:]])

    def __len__(self) -> int:
        return self.num_samples


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over an :class:`EpochSeededSampler` that Lightning can resume mid-epoch.

    Lightning treats a loader with ``state_dict``/``load_state_dict`` as stateful: it stores the
    state in every checkpoint (``loops.fit_loop.state_dict.combined_loader``) and, when the fit
    loop restarts inside an epoch, calls ``load_state_dict`` after ``train_dataloader()`` and
    before the first ``iter()``. The state is (epoch, batches this rank has trained on in the
    epoch); loading it sets the sampler's epoch and ``skip``, so the epoch continues with the
    very next sample instead of starting over. ``progress`` returns the number of batches the
    trainer has finished in the current epoch (the loader cannot count this itself: a fetcher
    may run ahead of the trainer).

    Lightning skips ``load_state_dict`` when the train loader was built before the checkpoint's
    loops were restored (``trainer.estimated_stepping_batches`` in ``configure_optimizers``
    does that); the DataModule therefore also keeps this state (``DescriptorDataModule``'s
    ``state_dict``) and applies it to the loader it builds.
    """

    progress: Callable[[], int] | None = None

    def state_dict(self) -> dict[str, Any]:
        sampler = self.sampler
        if self.progress is None or not isinstance(sampler, EpochSeededSampler):
            return {}
        return {
            "epoch": int(sampler.epoch),
            "batches": int(self.progress()),
            "batch_size": int(self.batch_size or 1),
            "num_replicas": int(sampler.num_replicas),
            "num_samples": int(sampler.num_samples),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the saved epoch (call before the first ``iter()``); after a finished epoch,
        start the next one from its beginning."""
        sampler = self.sampler
        if not state or not isinstance(sampler, EpochSeededSampler):
            return
        if int(state["batches"]) * int(state["batch_size"]) >= int(state["num_samples"]):
            sampler.set_epoch(int(state["epoch"]) + 1)
            sampler.skip = 0
            return
        sampler.set_epoch(int(state["epoch"]))
        sampler.skip = resume_skip(state, int(self.batch_size or 1), sampler.num_replicas,
                                   sampler.num_samples)


def resume_skip(state: dict[str, Any], batch_size: int, num_replicas: int,
                num_samples: int) -> int:
    """How many of this rank's samples to skip to continue the saved epoch.

    Same batch size and world size: exactly the samples this rank already trained on. Otherwise
    the same number of samples seen in total, spread over the new ranks (with a warning: the
    epoch continues at the right place, but not in the order of the original run).
    """
    done = int(state["batches"]) * int(state["batch_size"])
    same = (int(state["batch_size"]), int(state["num_replicas"])) == (batch_size, num_replicas)
    if not same:
        warnings.warn(
            "resuming mid-epoch with a different batch size or number of processes "
            f"(saved: batch {state['batch_size']} x {state['num_replicas']} ranks, now: "
            f"{batch_size} x {num_replicas}); the epoch continues after the same number of "
            "samples, not in the exact order of the interrupted run", stacklevel=2,
        )
        done = done * int(state["num_replicas"]) // max(num_replicas, 1)
    return max(0, min(done, num_samples))
