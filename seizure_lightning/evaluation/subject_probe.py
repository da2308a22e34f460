"""How much of the subject's identity does a representation carry? A subject-identity linear
probe on window features of the seizure videos (the diagnostic of anti-learning).

For each representation: mean-pool each window, fit a multinomial logistic regression that
names the subject on half of every subject's videos and test it on the other half (subjects
with one video are left out). Chance is 1 / subjects. A representation that names the subject
from a window makes a classifier trained on a few patients learn the patients.

    python -m seizure_lightning.evaluation.subject_probe CACHE \\
        [--encoder logs/demo/pretrain/encoder.pt] [--window 256] [--out probe.json]

``CACHE`` is the seizure videos' descriptor cache folder (``cache/<key>`` under the run's root;
its ``meta.json`` names the extraction). Representations: the raw descriptors;
``model.input.kind=window`` and ``=energy``; the pre-trained encoder (``--encoder``, on its own
input representation) and the same architecture with random weights. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from seizure_lightning.data.feature_cache import FeatureCache
from seizure_lightning.data.windows import take_window, window_starts
from seizure_lightning.models.encoder_export import load_encoder_export
from seizure_lightning.models.input_representation import InputRepresentation
from seizure_lightning.models.sequence_encoder import SequenceEncoder
from seizure_lightning.utils.io import atomic_write_text


def seizure_windows(
    cache: FeatureCache, window: int
) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Every window (stride ``window // 2``) of every item in ``cache``, crop 0: features
    ``[N, L, D]``, mask ``[N, L]``, and each window's subject and video."""
    feats, masks, subjects, videos = [], [], [], []
    pad = np.asarray(cache.pad_descriptor, dtype=np.float32)
    for video in cache.ids:
        subject = cache.info(video).get("subject_id")
        if subject is None:
            raise ValueError(f"{cache.root}: item {video!r} has no subject_id in its shard index")
        x = cache.features(video)
        x = x[:, 0] if x.ndim == 3 else x
        for start in window_starts(len(x), window, window // 2):
            f, m = take_window(np.asarray(x, dtype=np.float32), start, window, pad)
            feats.append(f)
            masks.append(m)
            subjects.append(str(subject))
            videos.append(video)
    return torch.from_numpy(np.stack(feats)), torch.from_numpy(np.stack(masks)), subjects, videos


def pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid positions of each window."""
    w = mask.unsqueeze(-1).float()
    return (hidden.float() * w).sum(1) / w.sum(1).clamp(min=1)


def probe(x: torch.Tensor, subjects: list[str], videos: list[str], l2: float = 1e-3) -> dict:
    """Train on the first half of each subject's videos, test on the rest."""
    names = sorted(set(subjects))
    by_subject = {s: sorted({v for v, t in zip(videos, subjects) if t == s}) for s in names}
    keep = [s for s in names if len(by_subject[s]) >= 2]
    if len(keep) < 2:
        raise ValueError(f"the probe needs 2 or more subjects with 2 or more videos, got {keep}")
    train_videos = {v for s in keep for v in by_subject[s][: len(by_subject[s]) // 2]}
    test_videos = {v for s in keep for v in by_subject[s][len(by_subject[s]) // 2:]}
    label = {s: i for i, s in enumerate(keep)}
    tr = [i for i, v in enumerate(videos) if v in train_videos]
    te = [i for i, v in enumerate(videos) if v in test_videos]
    x = (x - x[tr].mean(0)) / x[tr].std(0).clamp(min=1e-6)
    y = torch.tensor([label.get(s, -1) for s in subjects])
    torch.manual_seed(0)
    lin = torch.nn.Linear(x.shape[1], len(keep))
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(x[tr]), y[tr]) + l2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        acc = (lin(x[te]).argmax(1) == y[te]).float().mean().item()
    return {"accuracy": round(acc, 4), "chance": round(1 / len(keep), 4), "subjects": len(keep),
            "train_windows": len(tr), "test_windows": len(te)}


def representations(
    feats: torch.Tensor, masks: torch.Tensor, encoder_path: Path | None = None
) -> dict[str, torch.Tensor]:
    """Pooled window features: raw, the ``window`` and ``energy`` input representations and,
    with an encoder export, its output (on its own input representation) and that of the same
    architecture with random weights."""
    dim = feats.shape[-1]
    reps = {"raw": pool(feats, masks)}
    for kind in ("window", "energy"):
        reps[kind] = pool(InputRepresentation(kind=kind, descriptor_dim=dim)(feats, masks).values,
                          masks)
    if encoder_path is not None:
        encoder, meta = load_encoder_export(encoder_path)
        rep = InputRepresentation(meta["input_config"])
        random = SequenceEncoder(encoder.config)
        with torch.no_grad():
            for name, enc in (("pretrained_encoder", encoder), ("random_encoder", random)):
                enc.eval()
                hidden = []
                for i in range(0, len(feats), 32):
                    represented = rep(feats[i:i + 32], masks[i:i + 32])
                    hidden.append(enc(represented.values, masks[i:i + 32], represented.gaps))
                reps[name] = pool(torch.cat(hidden), masks)
    return reps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path, help="the seizure videos' descriptor cache folder")
    parser.add_argument("--encoder", type=Path, default=None, help="a pre-training encoder.pt")
    parser.add_argument("--window", type=int, default=256, help="descriptors per window")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    feats, masks, subjects, videos = seizure_windows(FeatureCache.open(args.cache), args.window)
    reps = representations(feats, masks, args.encoder)
    text = json.dumps({name: probe(x, subjects, videos) for name, x in reps.items()}, indent=2)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
