"""ES vs PNES window classifier: the input representation, a sequence model, mean pooling
over valid frames, dropout, a linear head.

Its settings are four nodes (``conf/model/*.yaml``): ``encoder``, the sequence model's config
(a ``_target_``: ``SequenceEncoder`` or a baseline of ``models/baselines.py``, and its fields,
instantiated here, so a checkpoint alone rebuilds the module); ``input``, the representation in
front of it (``models/input_representation.py``); ``head`` and ``finetune``. Test and predict
steps collect per-window softmax probabilities with ``video_idx`` and ``start``;
:meth:`ClassifierModule.window_predictions` returns every rank's windows once each, which
``engine/inference.py`` averages per video (the paper's rule).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from hydra.utils import get_class, instantiate
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from seizure_lightning.lightning_modules.optim import (
    OptimizerFactory,
    SchedulerFactory,
    log_learning_rate,
    optimizers_and_schedule,
)
from seizure_lightning.models.encoder_export import load_encoder_export
from seizure_lightning.models.input_representation import (
    InputConfig,
    InputRepresentation,
    energy_log_stats,
)
from seizure_lightning.models.legacy_settings import upgrade_settings
from seizure_lightning.models.sequence_encoder import SequenceEncoder, encoder_node
from seizure_lightning.utils.config import config_from_dict, to_primitive
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

# Fields of the transformer config that only change regularisation/kernels, not the weights.
_RUNTIME_FIELDS = ("dropout", "attention_dropout", "attn_implementation")
WINDOW_KEYS = ("video_idx", "start", "probs")


@dataclass
class HeadConfig:
    """``model.head``: what the linear head reads and how it starts."""

    # dropout on the pooled encoder output (the paper: 0.5)
    dropout: float = 0.5
    # the head also reads the window's log mean and log std of the motion energy
    # (``energy_log_stats``): how much it moves, which a per-window standardised input hides
    motion_stats: bool = False
    # inputs standardised over the batch (BatchNorm without affine, MAE's linear-probe head)
    # and zero initial weights: every model starts at p = 0.5
    centered: bool = False
    num_classes: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.head.dropout must be in [0, 1), got {self.dropout}")
        if self.num_classes < 2:
            raise ValueError(f"model.head.num_classes must be >= 2, got {self.num_classes}")


@dataclass
class FinetuneConfig:
    """``model.finetune``: the fine-tuning rates and which epochs train the encoder."""

    # this model's rate (overrides the optimizer's lr; None: keep it)
    lr: float | None = None
    # the head's own rate (None: lr)
    head_lr: float | None = None
    # the encoder stays frozen (and in eval mode) for the first this many epochs while the head
    # trains, then trains too (LP-FT, Kumar et al. 2022)
    head_warmup_epochs: int = 0
    # train the head only (a linear probe)
    freeze_encoder: bool = False

    def __post_init__(self) -> None:
        if self.head_warmup_epochs < 0:
            raise ValueError(
                f"model.finetune.head_warmup_epochs must be >= 0, got {self.head_warmup_epochs}")


def _window_metrics(num_classes: int, prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes=num_classes, average="micro"),
            "bal_acc": MulticlassAccuracy(num_classes=num_classes, average="macro"),
            "f1_macro": MulticlassF1Score(num_classes=num_classes, average="macro"),
        },
        prefix=prefix,
    )


class ClassifierModule(pl.LightningModule):
    """Window classifier with class-weighted cross-entropy.

    Args:
        encoder: the sequence model's config node: ``_target_`` (default
            :class:`SequenceEncoder`), its fields (``input_dim`` is the input representation's
            width, filled in) and ``compile`` (``torch.compile`` the model in place).
        input: the input representation (:class:`InputConfig`).
        head: :class:`HeadConfig`.
        finetune: :class:`FinetuneConfig`.
        init_from: encoder export of a pre-training run (a :class:`SequenceEncoder` only); its
            architecture and input representation win over ``encoder`` and ``input`` (runtime
            fields such as dropout still come from ``encoder``).
        class_weights: cross-entropy class weights (the caller computes them from the training
            fold); None = unweighted.
        optimizer: partial optimizer over param groups; None = AdamW(lr 0.005, wd 1e-4).
        scheduler: as in ``DenoisingPretrainModule`` (a ``_partial_`` of ``optim.lr_schedule``).
    """

    def __init__(
        self,
        encoder: Mapping[str, Any] | None = None,
        input: Mapping[str, Any] | None = None,
        head: Mapping[str, Any] | None = None,
        finetune: Mapping[str, Any] | None = None,
        init_from: str | None = None,
        class_weights: list[float] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.head_config = config_from_dict(HeadConfig, head)
        self.finetune_config = config_from_dict(FinetuneConfig, finetune)
        num_classes = self.head_config.num_classes
        init_from = None if init_from in (None, "") else str(init_from)
        class_weights = (
            None if class_weights is None else [float(w) for w in to_primitive(class_weights)]
        )
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"class_weights needs {num_classes} values, got {class_weights}")

        self.pretrain_meta: dict[str, Any] | None = None
        if init_from is None:
            self.backbone, encoder, input = self._build_encoder(encoder, input)
        else:
            self.backbone, encoder, input = self._load_pretrained(init_from, encoder, input)
        head, finetune = (dataclasses.asdict(c) for c in (self.head_config, self.finetune_config))
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.input_representation = InputRepresentation(input)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

        self.dropout = nn.Dropout(self.head_config.dropout)
        head_dim = self.backbone.output_dim + (2 if self.head_config.motion_stats else 0)
        centered = self.head_config.centered
        self.head_norm = nn.BatchNorm1d(head_dim, affine=False) if centered else None
        self.head = nn.Linear(head_dim, num_classes)
        if centered:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weight", weight, persistent=False)
        if self.finetune_config.freeze_encoder:
            self.backbone.requires_grad_(False)
        if encoder["compile"]:
            self.backbone.compile()

        self.train_metrics = _window_metrics(num_classes, "train/")
        self.val_metrics = _window_metrics(num_classes, "val/")
        self.test_metrics = _window_metrics(num_classes, "test/")
        self.window_outputs: list[dict[str, Tensor]] = []

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str | Path | IO, *args: Any,
                             **kwargs: Any) -> ClassifierModule:
        """Lightning's, with the checkpoint's settings in the current form
        (``models/legacy_settings.py``: a checkpoint of an earlier version loads too)."""
        hparams = _checkpoint_hparams(checkpoint_path)
        return super().load_from_checkpoint(checkpoint_path, *args,
                                            **{**upgrade_settings(hparams), **kwargs})

    def set_class_weights(self, weights: list[float] | Tensor | None) -> None:
        """Cross-entropy class weights (e.g. computed from the training fold after data setup)."""
        if weights is None:
            self.class_weight = None
            return
        weight = torch.as_tensor(weights, dtype=torch.float32, device=self.device).flatten()
        if weight.numel() != self.head_config.num_classes:
            raise ValueError(
                f"class_weights needs {self.head_config.num_classes} values, got {weights}")
        self.class_weight = weight

    @staticmethod
    def _build_encoder(
        encoder: Mapping[str, Any] | None, input: Mapping[str, Any] | None
    ) -> tuple[nn.Module, dict, dict]:
        """The sequence model of ``encoder`` on the representation of ``input``, and the two
        nodes with every field (defaults included)."""
        representation = InputRepresentation(config_from_dict(InputConfig, input))
        fields, compile_model = encoder_node(encoder, representation.output_dim)
        backbone = instantiate(fields)
        if isinstance(backbone, SequenceEncoder):
            fields = {"_target_": fields["_target_"], **backbone.config.to_dict()}
        return (backbone, {**fields, "compile": compile_model},
                dataclasses.asdict(representation.config))

    def _load_pretrained(
        self, path: str, encoder: Mapping[str, Any] | None, input: Mapping[str, Any] | None
    ) -> tuple[SequenceEncoder, dict, dict]:
        """The export's encoder (with the runtime fields of ``encoder``), and the encoder and
        input nodes it was built from."""
        given, compile_model = encoder_node(encoder)
        if not issubclass(get_class(given["_target_"]), SequenceEncoder):
            raise ValueError(f"init_from needs a SequenceEncoder, got {given['_target_']!r}")
        backbone, meta = load_encoder_export(path)
        config, input_config = meta["encoder_config"], meta["input_config"]
        _warn_ignored(path, "model.encoder", given,
                      config, skip=("_target_", "input_dim", *_RUNTIME_FIELDS))
        _warn_ignored(path, "model.input", to_primitive(dict(input or {})), input_config)
        for key in _RUNTIME_FIELDS:
            if key in given:
                config[key] = given[key]
        if any(key in given for key in _RUNTIME_FIELDS):  # rebuild with the new dropout/kernel
            state = backbone.state_dict()
            backbone = SequenceEncoder(config)
            backbone.load_state_dict(state)
        self.pretrain_meta = {**meta, "path": str(Path(path).resolve())}
        log.info(
            "initialised encoder from %s (subjects seen in pre-training: %d)",
            path,
            len(meta.get("subjects_seen", [])),
        )
        return backbone, {"_target_": given["_target_"], **config,
                          "compile": compile_model}, input_config

    # -- checkpoints ---------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The weights are in the state dict: reloading must not need the export file any more.
        hparams = checkpoint.get("hyper_parameters")
        if isinstance(hparams, dict) and hparams.get("init_from") is not None:
            hparams["init_from"] = None
        if self.pretrain_meta is not None:
            checkpoint["pretrain_meta"] = to_primitive(self.pretrain_meta)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "pretrain_meta" in checkpoint:
            self.pretrain_meta = checkpoint["pretrain_meta"]

    # -- forward -------------------------------------------------------------------------------
    @staticmethod
    def pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
        """``[B, L, H] -> [B, H]``: the mean over valid positions."""
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def forward(self, features: Tensor, attention_mask: Tensor) -> Tensor:
        """Logits ``[B, num_classes]``."""
        attention_mask = attention_mask.to(torch.bool)
        represented = self.input_representation(features, attention_mask)
        hidden = self.backbone(represented.values, attention_mask, represented.gaps)
        pooled = hidden if hidden.dim() == 2 else self.pool(hidden, attention_mask)
        stats = (energy_log_stats(features, attention_mask).to(pooled.dtype)
                 if self.head_config.motion_stats else pooled[:, :0])
        if self.head_norm is not None:  # standardise first, then drop out the encoder's part
            normed = self.normalize_head_input(torch.cat([pooled, stats], dim=1).float())
            normed = normed.to(pooled.dtype)
            pooled, stats = normed[:, : pooled.shape[1]], normed[:, pooled.shape[1]:]
        return self.head(torch.cat([self.dropout(pooled), stats], dim=1))

    def normalize_head_input(self, x: Tensor) -> Tensor:
        """``head.centered``'s BatchNorm; a training batch of one window (the last batch of an
        epoch can be) has no batch statistics, so it is standardised by the running ones."""
        norm = self.head_norm
        if self.training and x.shape[0] < 2:
            return F.batch_norm(x, norm.running_mean, norm.running_var, training=False,
                                eps=norm.eps)
        return norm(x)

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Class-weighted cross-entropy (fp32)."""
        return F.cross_entropy(logits.float(), labels, weight=self.class_weight)

    # -- steps ---------------------------------------------------------------------------------
    def _labelled_step(
        self, batch: Mapping[str, Tensor], metrics: MetricCollection, stage: str
    ) -> Tensor:
        logits = self(batch["features"], batch["attention_mask"])
        labels = batch["label"]
        loss = self.loss(logits, labels)
        metrics.update(logits.detach(), labels)
        train = stage == "train"
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_step=train,
            on_epoch=True,
            sync_dist=not train,
            batch_size=labels.shape[0],
        )
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=not train)
        return loss

    def encoder_frozen(self, epoch: int) -> bool:
        """Whether the encoder is frozen in ``epoch`` (``freeze_encoder``, or the head's warmup)."""
        ft = self.finetune_config
        return ft.freeze_encoder or epoch < ft.head_warmup_epochs

    def on_train_epoch_start(self) -> None:
        frozen = self.encoder_frozen(self.current_epoch)
        if not self.finetune_config.freeze_encoder:  # frozen params get no gradient, AdamW skips
            self.backbone.requires_grad_(not frozen)
        if frozen:
            self.backbone.eval()

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._labelled_step(batch, self.train_metrics, "train")
        log_learning_rate(self, batch["label"].shape[0])
        return loss

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        return self._labelled_step(batch, self.val_metrics, "val")

    def _window_output(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits = self(batch["features"], batch["attention_mask"])
        out = {
            "video_idx": batch["video_idx"].detach().cpu(),
            "start": batch["start"].detach().cpu(),
            "probs": logits.float().softmax(-1).detach().cpu(),
        }
        self.window_outputs.append(out)
        return out

    def on_test_epoch_start(self) -> None:
        self.window_outputs = []

    def on_predict_epoch_start(self) -> None:
        self.window_outputs = []

    def test_step(
        self, batch: Mapping[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict:
        out = self._window_output(batch)
        if "label" in batch:
            self.test_metrics.update(out["probs"].to(self.device), batch["label"])
            self.log_dict(self.test_metrics, on_step=False, on_epoch=True)
        return out

    def predict_step(
        self, batch: Mapping[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict:
        return self._window_output(batch)

    def window_predictions(self) -> dict[str, Tensor]:
        """The windows of the last test or predict loop, every rank's, each (video, start) once:
        ``video_idx``, ``start`` and ``probs`` (a collective under DDP: every rank must call it)."""
        local = {k: torch.cat([o[k] for o in self.window_outputs]) if self.window_outputs
                 else torch.empty(0, *((2,) if k == "probs" else ()))
                 for k in WINDOW_KEYS}
        return unique_windows(gather_windows(local))

    # -- optimisation --------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        ft = self.finetune_config
        if not ft.freeze_encoder:  # the optimizer holds the encoder even in warmup
            self.backbone.requires_grad_(True)
        return optimizers_and_schedule(
            self.optimizer_factory, [self.backbone, self.head], 0.005, self.scheduler_factory,
            self.trainer.estimated_stepping_batches, lr=ft.lr,
            lrs=None if ft.head_lr is None else {1: ft.head_lr},
        )


def _checkpoint_hparams(path: str | Path | IO) -> dict[str, Any]:
    """A checkpoint's ``hyper_parameters`` (memory-mapped from a file; a stream is rewound)."""
    if isinstance(path, str | Path):
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    else:
        position = path.tell()
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        path.seek(position)
    return dict(ckpt.get("hyper_parameters") or {})


def _warn_ignored(path: str, node: str, given: Mapping[str, Any], used: Mapping[str, Any],
                  skip: tuple[str, ...] = ()) -> None:
    """Warn about the ``given`` settings that the export's ``used`` ones replace."""
    differing = {k: v for k, v in given.items() if k not in skip and v != used.get(k)}
    if differing:
        log.warning("init_from %s: taken from the export, ignoring %s %s", path, node,
                    dict(sorted(differing.items())))


def gather_windows(out: dict[str, Tensor]) -> dict[str, Tensor]:
    """Every rank's windows, concatenated in rank order (the rank's own under one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return out
    shards: list[dict[str, Tensor] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(shards, {k: v.cpu() for k, v in out.items()})
    return {k: torch.cat([s[k] for s in shards if s]) for k in out}


def unique_windows(out: dict[str, Tensor]) -> dict[str, Tensor]:
    """Each (video, start) once, at its first occurrence (DistributedSampler pads with repeats),
    in that order."""
    keys = torch.stack([out["video_idx"].long(), out["start"].long()], 1)
    if not len(keys):
        return out
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(keys), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys)), reduce="amin")
    keep = first.sort().values
    return {k: v[keep] for k, v in out.items()}
