"""One instruction set for torch's CPU kernels, whatever the CPU: the same arithmetic, so the
same predictions, on every x86 CPU that has it (``cpu_isa: avx2``; docs/reproducibility.md).

Torch's CPU arithmetic goes through three libraries that each pick their code path for the CPU
they run on: ATen's vectorised kernels (``ATEN_CPU_CAPABILITY``), MKL's GEMM (conditional
numerical reproducibility, ``MKL_CBWR``) and oneDNN's convolutions and element-wise kernels
(``ONEDNN_MAX_CPU_ISA``). Each reads its variable once, at its first use: :func:`pin_cpu_isa`
must run before the process computes anything with torch.
"""

from __future__ import annotations

import os

from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

# the variables that put ATen, MKL and oneDNN on one instruction set ("STRICT": MKL's GEMM gives
# the same bits whatever the memory alignment)
ISA_ENV: dict[str, dict[str, str]] = {
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_CBWR": "AVX2,STRICT",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    },
}


def pin_cpu_isa(isa: str | None) -> None:
    """Put torch's CPU kernels on ``isa`` (``None``: leave each library its own choice).

    Raises ``RuntimeError`` when torch chose its kernels already (it computed something before)
    and ``ValueError`` for an instruction set without a setting here.
    """
    if isa is None:
        return
    if isa not in ISA_ENV:
        raise ValueError(f"cpu_isa={isa!r}: expected null or one of {sorted(ISA_ENV)}")
    changed = {k: v for k, v in ISA_ENV[isa].items() if os.environ.get(k) != v}
    os.environ.update(ISA_ENV[isa])
    import torch

    chosen = torch.backends.cpu.get_cpu_capability()
    if chosen.lower() != isa:
        raise RuntimeError(
            f"cpu_isa={isa}: torch's CPU kernels are already on {chosen} (this process computed "
            "with torch before the setting); set it before any torch work, or export "
            + " ".join(f"{k}={v}" for k, v in ISA_ENV[isa].items()))
    if changed:
        log.info("cpu_isa=%s: %s", isa, " ".join(f"{k}={v}" for k, v in changed.items()))
