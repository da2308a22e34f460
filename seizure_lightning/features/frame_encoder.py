"""Frozen per-frame descriptor r(frame): an ImageNet ResNet without its last layer.

Fast inference on CPU and GPU: eval mode, ``torch.inference_mode``, batch-norm folded into the
convolutions, channels-last memory format, bf16/fp16 autocast where the device supports it.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from seizure_lightning.constants import CROP, MASK_VALUE, PAD_VALUE
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

ARCHS = ("resnet152", "resnet101", "resnet50", "resnet34", "resnet18")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}


@dataclass
class FrameEncoderConfig:
    """Frame encoder settings (the ``backbone`` config group maps onto these fields, plus
    ``dim`` and ``num_workers``, which extraction reads).

    weights: torchvision weight name ("IMAGENET1K_V2", "IMAGENET1K_V1", "DEFAULT"), ``None``
    (random init with a fixed seed: offline tests/demos) or a path to a local checkpoint.
    compile: ``torch.compile`` the backbone with inductor's freezing (weights folded as
    constants, convolutions fused with their bias and ReLU, oneDNN weights prepacked): one
    compilation (about 20 s for ResNet-152 on 2 CPU cores) for long extraction jobs; every batch
    has the compiled shape (the last one is padded). Output within bf16 rounding of eager mode.
    regions: the last feature map is average-pooled on a ``regions x regions`` grid instead of
    globally, one descriptor per region of the crop, region-major (``[r0 | r1 | ...]``, each
    ``feature_dim(arch)`` wide); their mean is the global descriptor where the grid divides the
    feature map (112-pixel crops: a 4x4 map, so ``regions`` 1, 2 or 4). 1 = the paper's.
    """

    arch: str = "resnet152"
    weights: str | None = "IMAGENET1K_V2"
    batch_size: int = 64
    precision: str = "auto"
    channels_last: bool = True
    device: str = "auto"
    compile: bool = False
    regions: int = 1


def feature_dim(arch: str, regions: int = 1) -> int:
    """Descriptor size of ``arch`` (512 for ResNet-18/34, 2048 otherwise), times the
    ``regions x regions`` grid's cells."""
    if arch not in _DIMS:
        raise ValueError(f"unknown frame encoder arch {arch!r}; expected one of {ARCHS}")
    if int(regions) < 1:
        raise ValueError(f"backbone.regions must be >= 1, got {regions!r}")
    return _DIMS[arch] * int(regions) ** 2


class RegionPool(nn.Module):
    """``[N, C, H, W] -> [N, R*R, C]``: the mean of each cell of an ``R x R`` grid."""

    def __init__(self, regions: int) -> None:
        super().__init__()
        self.regions = int(regions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(x, self.regions).flatten(2).transpose(1, 2)


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX) and oneDNN
    may use them (not with ``ONEDNN_MAX_CPU_ISA=AVX2``, ``cpu_isa=avx2``)."""
    flags = _cpu_flags()
    try:
        onednn_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # no oneDNN answer: the CPU's flags alone
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    return onednn_bf16 and (not flags or bool(flags & {"avx512_bf16", "amx_bf16"}))


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 on CUDA with bf16 support or on a bf16-capable CPU, fp16 on older GPUs,
    else fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_supports_bf16() else "fp32"


def build_backbone(arch: str, weights: str | None) -> nn.Module:
    """torchvision ResNet with ``fc = Identity``, weights via torchvision's loading API."""
    import torchvision

    feature_dim(arch)
    if weights is None:  # deterministic random init: a resumed cache stays consistent
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = torchvision.models.get_model(arch, weights=None)
    elif _looks_like_path(weights):
        model = torchvision.models.get_model(arch, weights=None)
        _load_checkpoint(model, Path(weights))
    else:
        try:
            model = torchvision.models.get_model(arch, weights=weights)
        except (OSError, RuntimeError, ConnectionError) as exc:  # download failed (offline)
            raise RuntimeError(
                f"could not load {arch} weights {weights!r} ({exc}). Offline? Put the weights "
                "file on the machine and set backbone.weights=/path/to/resnet152.pth (a "
                "torchvision state dict), or backbone.weights=null for random weights (tests "
                "and the synthetic demo only)."
            ) from exc
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{arch} has no torchvision weights {weights!r}: {exc}") from exc
    model.fc = nn.Identity()
    return model


def _looks_like_path(weights: str) -> bool:
    return (
        os.sep in weights
        or weights.endswith((".pt", ".pth", ".ckpt", ".bin"))
        or Path(weights).is_file()
    )


def _load_checkpoint(model: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"frame encoder checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module.").removeprefix("model."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise RuntimeError(
            f"checkpoint {path} does not fit the backbone: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every ``conv -> bn`` pair of a torchvision ResNet into the conv (eval mode, exact)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fuse_pairs(module: nn.Module, pairs: list[tuple[str, str]]) -> None:
        for conv_name, bn_name in pairs:
            if not (hasattr(module, conv_name) and hasattr(module, bn_name)):
                continue
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())

    fuse_pairs(model, [("conv1", "bn1")])
    for block in model.modules():
        if hasattr(block, "conv1") and hasattr(block, "bn1") and block is not model:
            fuse_pairs(block, [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")])
        ds = getattr(block, "downsample", None)
        if isinstance(ds, nn.Sequential) and len(ds) == 2:
            fuse_pairs(ds, [("0", "1")])
    return model


class FrameEncoder(nn.Module):
    """Frozen ResNet descriptor: ``encode(frames [N, 3, h, w]) -> [N, D]`` float32."""

    def __init__(self, config: FrameEncoderConfig | None = None, **overrides) -> None:
        super().__init__()
        cfg = config or FrameEncoderConfig()
        if overrides:
            cfg = FrameEncoderConfig(**{**cfg.__dict__, **overrides})
        self.config = cfg
        self.dim = feature_dim(cfg.arch, cfg.regions)
        self.device_ = resolve_device(cfg.device)
        self.precision = resolve_precision(cfg.precision, self.device_)
        backbone = fuse_batchnorm(build_backbone(cfg.arch, cfg.weights).eval())
        if cfg.regions > 1:  # torchvision's ResNet flattens the pooled map: region-major
            backbone.avgpool = RegionPool(cfg.regions)
        backbone.requires_grad_(False)
        self.backbone = backbone.to(self.device_)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.backbone = self.backbone.to(memory_format=self.memory_format)
        # kept out of the module tree (no second copy of the weights in state_dict)
        self.__dict__["_compiled"] = (
            torch.compile(self.backbone, dynamic=False) if cfg.compile else None)
        self.eval()

    def train(self, mode: bool = True) -> FrameEncoder:
        """Always stays in eval mode (frozen backbone)."""
        return super().train(False)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encode(frames)

    @torch.inference_mode()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Descriptors of normalised images ``[N, 3, h, w]`` -> ``[N, D]`` float32 on the CPU."""
        outs = [
            self._encode_batch(frames[i : i + self.config.batch_size])
            for i in range(0, len(frames), self.config.batch_size)
        ]
        if not outs:
            return torch.empty(0, self.dim)
        return torch.cat(outs)

    def _encode_batch(self, batch: torch.Tensor) -> torch.Tensor:
        n = batch.shape[0]
        if self._compiled is not None and n < self.config.batch_size:  # the compiled shape
            batch = torch.cat([batch, batch.new_zeros((self.config.batch_size - n,
                                                       *batch.shape[1:]))])
        x = batch.to(self.device_, non_blocking=True).contiguous(memory_format=self.memory_format)
        dtype = self.autocast_dtype
        with contextlib.ExitStack() as stack:
            forward = self.backbone
            if self._compiled is not None:
                import torch._inductor.config as inductor_config

                stack.enter_context(inductor_config.patch(freezing=True))
                forward = self._compiled
            if dtype is not None:
                stack.enter_context(torch.autocast(self.device_.type, dtype=dtype))
            out = forward(x)
        return out[:n].float().cpu()


def special_descriptors(
    encoder: FrameEncoder, crop: int = CROP, mask_value: float = MASK_VALUE,
    pad_value: float = PAD_VALUE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(r(MASK), r(PAD)): descriptors of input tensors filled with ``MASK_VALUE`` (-1.0) and
    ``PAD_VALUE`` (0.0), the paper's."""
    images = torch.stack(
        [
            torch.full((3, crop, crop), float(mask_value)),
            torch.full((3, crop, crop), float(pad_value)),
        ]
    )
    out = encoder.encode(images)
    return out[0], out[1]
