"""FrameEncoder: frozen torchvision ResNet without fc, batched, fused BN exact, MASK/PAD."""

from __future__ import annotations

import pytest
import torch
import torchvision

from seizure_lightning.features.frame_encoder import (
    FrameEncoder,
    FrameEncoderConfig,
    cpu_supports_bf16,
    resolve_precision,
    special_descriptors,
)

CFG = FrameEncoderConfig(
    arch="resnet18", weights=None, batch_size=3, precision="fp32", device="cpu"
)


@pytest.fixture(scope="module")
def encoder() -> FrameEncoder:
    return FrameEncoder(CFG)


def test_encode_shape_frozen_and_batched(encoder):
    x = torch.randn(7, 3, 48, 48)
    out = encoder.encode(x)
    assert out.shape == (7, 512) and out.dtype == torch.float32
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training
    torch.testing.assert_close(out[4:6], encoder.encode(x[4:6]), rtol=1e-4, atol=1e-4)


def test_matches_plain_torchvision_resnet(encoder):
    torch.manual_seed(0)
    ref = torchvision.models.resnet18()
    ref.fc = torch.nn.Identity()
    ref.eval()
    with torch.no_grad():
        for m in ref.modules():  # non-trivial BN statistics so the fold is really tested
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(4, 3, 40, 40)
    with torch.no_grad():
        want = ref(x)
    enc2 = _from_state(ref.state_dict())
    torch.testing.assert_close(enc2.encode(x), want, rtol=1e-3, atol=1e-3)


def _from_state(state) -> FrameEncoder:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r18.pt"
        torch.save(state, path)
        return FrameEncoder(FrameEncoderConfig(**{**CFG.__dict__, "weights": str(path)}))


def test_special_descriptors(encoder):
    mask, pad = special_descriptors(encoder, crop=32)
    assert mask.shape == pad.shape == (512,)
    torch.testing.assert_close(mask, encoder.encode(torch.full((1, 3, 32, 32), -1.0))[0])
    torch.testing.assert_close(pad, encoder.encode(torch.zeros(1, 3, 32, 32))[0])
    assert not torch.allclose(mask, pad)


def test_random_init_is_deterministic(encoder):
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(FrameEncoder(CFG).encode(x), encoder.encode(x))


def test_bf16_close_to_fp32(encoder):
    if resolve_precision("auto", torch.device("cpu")) != "bf16":
        pytest.skip("no bf16 on this CPU")
    assert cpu_supports_bf16()
    bf = FrameEncoder(FrameEncoderConfig(**{**CFG.__dict__, "precision": "bf16"}))
    x = torch.randn(2, 3, 32, 32)
    a, b = encoder.encode(x), bf.encode(x)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99


def test_bad_settings():
    with pytest.raises(ValueError, match="unknown frame encoder arch"):
        FrameEncoder(FrameEncoderConfig(arch="vgg11", weights=None))
    with pytest.raises(ValueError, match="no torchvision weights"):
        FrameEncoder(FrameEncoderConfig(arch="resnet18", weights="NOPE_V9"))
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        FrameEncoder(FrameEncoderConfig(arch="resnet18", weights="/nonexistent/r18.pt"))
    with pytest.raises(ValueError, match="unknown precision"):
        FrameEncoder(FrameEncoderConfig(arch="resnet18", weights=None, precision="int4"))


def test_a_compiled_extraction_is_its_own_cache() -> None:
    from seizure_lightning.data.extraction import ExtractionConfig

    eager = ExtractionConfig(encoder=FrameEncoderConfig(arch="resnet18", weights=None)).meta()
    compiled = ExtractionConfig(
        encoder=FrameEncoderConfig(arch="resnet18", weights=None, compile=True)).meta()
    # off: no key at all, so caches made before the option keep their key
    assert "compiled" not in eager["encoder"] and compiled["encoder"]["compiled"] is True


@pytest.mark.slow
def test_compiled_backbone_matches_eager_with_one_graph() -> None:
    """backbone.compile: the same descriptors (fp32), the last partial batch padded to the
    compiled shape, one graph for every batch (needs a C++ compiler, like inductor)."""
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    frames = torch.randn(6, 3, 112, 112)
    config = dict(arch="resnet18", weights=None, batch_size=4, precision="fp32")
    eager = FrameEncoder(FrameEncoderConfig(**config)).encode(frames)
    counters.clear()
    compiled = FrameEncoder(FrameEncoderConfig(**config, compile=True))
    out = compiled.encode(frames)
    assert out.shape == eager.shape == (6, 512)
    assert torch.allclose(out, eager, rtol=1e-3, atol=1e-4)
    assert counters["stats"]["unique_graphs"] == 1
    assert len(compiled.state_dict()) == len(FrameEncoder(FrameEncoderConfig(**config)).state_dict())


def test_region_grid_descriptors_average_to_the_global_one(encoder) -> None:
    from seizure_lightning.features.frame_encoder import feature_dim

    assert feature_dim("resnet18", 2) == 4 * 512 and feature_dim("resnet152") == 2048
    with pytest.raises(ValueError, match=r"backbone\.regions"):
        feature_dim("resnet18", 0)
    regional = FrameEncoder(FrameEncoderConfig(**{**CFG.__dict__, "regions": 2}))
    x = torch.randn(3, 3, 112, 112)  # a 4x4 last feature map: 2x2 cells of 2x2
    out = regional.encode(x)
    assert out.shape == (3, 4 * 512) and regional.dim == 4 * 512
    torch.testing.assert_close(out.view(3, 4, 512).mean(1), encoder.encode(x),
                               rtol=1e-4, atol=1e-5)
