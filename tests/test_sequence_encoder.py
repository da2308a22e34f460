"""Tests of the Transformer sequence encoder."""

from __future__ import annotations

import pytest
import torch

from seizure_lightning.models.input_representation import InputRepresentation
from seizure_lightning.models.sequence_encoder import SequenceEncoder, SequenceEncoderConfig

TINY = dict(input_dim=12, d_model=32, num_layers=2, num_heads=2, ffn_dim=64, max_positions=20)


def test_paper_config_param_count_on_meta() -> None:
    with torch.device("meta"):
        encoder = SequenceEncoder(SequenceEncoderConfig())
    n = encoder.num_trainable_parameters()
    assert 77_000_000 <= n <= 80_000_000, n
    # The input projection 2048 -> 1024 is part of the count.
    assert encoder.input_proj.weight.shape == (1024, 2048)
    assert encoder.bert.pooler is None
    assert encoder.bert.config._attn_implementation == "sdpa"
    assert not encoder.bert.embeddings.word_embeddings.weight.requires_grad


def test_forward_shapes_and_sdpa() -> None:
    torch.manual_seed(0)
    encoder = SequenceEncoder(TINY)
    assert encoder.bert.config._attn_implementation == "sdpa"
    x = torch.randn(3, 20, 12)
    mask = torch.ones(3, 20, dtype=torch.bool)
    out = encoder(x, mask)
    assert out.shape == (3, 20, 32) and encoder.output_dim == 32
    out.sum().backward()
    assert encoder.input_proj.weight.grad is not None


def test_padded_positions_do_not_affect_valid_outputs() -> None:
    torch.manual_seed(0)
    encoder = SequenceEncoder(TINY).eval()
    x = torch.randn(2, 20, 12)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 13:] = False
    noisy = x.clone()
    noisy[1, 13:] = 50.0 * torch.randn(7, 12)
    with torch.no_grad():
        a, b = encoder(x, mask), encoder(noisy, mask)
        alone = encoder(x[1:2, :13], mask[1:2, :13])
    torch.testing.assert_close(a[1, :13], b[1, :13])
    torch.testing.assert_close(a[1, :13], alone[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a[0], b[0])
    # Without the mask the pads would change the valid outputs.
    with torch.no_grad():
        c = encoder(noisy, torch.ones_like(mask))
    assert not torch.allclose(c[1, :13], a[1, :13])


def test_eager_matches_sdpa() -> None:
    torch.manual_seed(0)
    sdpa = SequenceEncoder(TINY).eval()
    eager = SequenceEncoder({**TINY, "attn_implementation": "eager"}).eval()
    eager.load_state_dict(sdpa.state_dict())
    x = torch.randn(2, 20, 12)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[0, 5:] = False
    with torch.no_grad():
        torch.testing.assert_close(
            sdpa(x, mask)[0, :5], eager(x, mask)[0, :5], atol=1e-5, rtol=1e-4
        )


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="unknown"):
        SequenceEncoderConfig.from_dict({"hidden": 3})
    with pytest.raises(ValueError, match="divisible"):
        SequenceEncoderConfig(d_model=30, num_heads=4)
    encoder = SequenceEncoder(TINY)
    with pytest.raises(ValueError, match="max_positions"):
        encoder(torch.randn(1, 21, 12), torch.ones(1, 21, dtype=torch.bool))
    assert (
        SequenceEncoderConfig.from_dict(SequenceEncoderConfig().to_dict())
        == SequenceEncoderConfig()
    )


def test_gap_marker_tells_a_gap_from_average_motion() -> None:
    """The gaps the energy representation reports reach BERT as token type 1 (gap_marker)."""
    torch.manual_seed(0)
    energy = InputRepresentation(kind="energy", descriptor_dim=12)
    encoder = SequenceEncoder({**TINY, "input_dim": energy.output_dim, "gap_marker": True}).eval()
    assert encoder.bert.embeddings.token_type_embeddings.weight.shape[0] == 2
    x = torch.randn(1, 20, 12)
    valid = torch.ones(1, 20, dtype=torch.bool)
    real = valid.clone()
    real[0, 7] = False  # an r(MASK) frame: its motion and its successor's are undefined
    represented = energy(x, valid, real)
    with torch.no_grad():
        marked = encoder(represented.values, valid, represented.gaps)
        unmarked = encoder(represented.values, valid)  # every position read as type 0
    assert not torch.allclose(marked[0, 7], unmarked[0, 7])
    assert SequenceEncoder(TINY).bert.embeddings.token_type_embeddings.weight.shape[0] == 1
