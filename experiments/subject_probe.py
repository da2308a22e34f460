"""How much of the subject's identity does a representation carry? A subject-identity linear
probe on window features of the seizure videos (issue 14's diagnostic of anti-learning).

For each representation: mean-pool each window, fit a multinomial logistic regression that
names the subject on half of every subject's videos and test it on the other half (subjects
with one video are left out). Chance is 1 / subjects. A representation that names the subject
from a window makes a classifier trained on a few patients learn the patients.

    .venv/bin/python experiments/subject_probe.py synth=demo paths.root_dir=. \\
        [--encoder logs/demo/pretrain/encoder.pt] [--out probe.json]

Representations: the raw descriptors; ``model.input.kind=window`` and ``=energy``; the
pre-trained encoder (``--encoder``, on its own input representation) and the same architecture
with random weights. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from seizure_lightning.app import CONFIG_DIR
from seizure_lightning.data.windows import take_window, window_starts
from seizure_lightning.models.encoder_export import load_encoder_export
from seizure_lightning.models.input_representation import InputRepresentation
from seizure_lightning.models.sequence_encoder import SequenceEncoder


def windows(overrides: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Every seizure window (features [N, L, D], mask [N, L]) with its subject and video."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["+experiment=loso", *overrides], return_hydra_config=True)
    from hydra.core.hydra_config import HydraConfig

    HydraConfig().set_config(cfg)
    dm = instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("fit")
    feats, masks, subjects, videos = [], [], [], []
    pad = np.asarray(dm.cache.pad_descriptor, dtype=np.float32)
    for _, row in dm.videos.iterrows():
        x = dm.cache.features(row.video_id)
        x = x[:, 0] if x.ndim == 3 else x
        for start in window_starts(len(x), dm.window, dm.window // 2):
            f, m = take_window(np.asarray(x, dtype=np.float32), start, dm.window, pad)
            feats.append(f)
            masks.append(m)
            subjects.append(row.subject_id)
            videos.append(row.video_id)
    return torch.from_numpy(np.stack(feats)), torch.from_numpy(np.stack(masks)), subjects, videos


def pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = mask.unsqueeze(-1).float()
    return (hidden.float() * w).sum(1) / w.sum(1).clamp(min=1)


def probe(x: torch.Tensor, subjects: list[str], videos: list[str], l2: float = 1e-3) -> dict:
    """Train on the first half of each subject's videos, test on the rest."""
    names = sorted(set(subjects))
    by_subject = {s: sorted({v for v, t in zip(videos, subjects) if t == s}) for s in names}
    keep = [s for s in names if len(by_subject[s]) >= 2]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (synth=..., paths.root_dir=...)")
    parser.add_argument("--encoder", type=Path, default=None, help="a pre-training encoder.pt")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    feats, masks, subjects, videos = windows(args.overrides)
    dim = feats.shape[-1]
    reps = {"raw": pool(feats, masks)}
    for kind in ("window", "energy"):
        rep = InputRepresentation(kind=kind, descriptor_dim=dim)
        reps[kind] = pool(rep(feats, masks).values, masks)
    if args.encoder is not None:
        encoder, meta = load_encoder_export(args.encoder)
        rep = InputRepresentation(meta["input_config"])
        random = SequenceEncoder(encoder.config)
        with torch.no_grad():
            for name, enc in (("pretrained_encoder", encoder), ("random_encoder", random)):
                enc.eval()
                hidden = []
                for i in range(0, len(feats), 32):
                    x, m = feats[i:i + 32], masks[i:i + 32]
                    represented = rep(x, m)
                    hidden.append(enc(represented.values, m, represented.gaps))
                reps[name] = pool(torch.cat(hidden), masks)
    result = {name: probe(x, subjects, videos) for name, x in reps.items()}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
