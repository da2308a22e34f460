"""One instruction set for torch's CPU kernels, whatever the CPU: the same arithmetic, so the
same predictions, on every x86 CPU that has it (``cpu_isa: avx2``; docs/reproducibility.md).

Torch's CPU arithmetic goes through three libraries that each pick their code path for the CPU
they run on: ATen's vectorised kernels (``ATEN_CPU_CAPABILITY``), MKL's GEMM (conditional
numerical reproducibility, ``MKL_CBWR``) and oneDNN's convolutions and element-wise kernels
(``ONEDNN_MAX_CPU_ISA``). Each reads its variable once, at its first use: :func:`pin_cpu_isa`
must run before the process computes anything with torch.

NumPy picks its SIMD kernels too (sin, exp, reductions: AVX-512 where the CPU has it), when it is
imported, from ``NPY_DISABLE_CPU_FEATURES``; the synthetic generator's videos change with them.
That variable must be in the environment before the process starts (``make demo`` exports it,
:data:`NUMPY_ENV`); :func:`pin_cpu_isa` refuses a process whose NumPy runs above ``isa``.
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


# NumPy's dispatch targets above AVX2 (numpy 1.x and 2.x names; unknown names are ignored):
# disabled, NumPy runs its AVX2 (X86_V3) kernels on a CPU with AVX-512
NUMPY_ENV: dict[str, dict[str, str]] = {
    "avx2": {
        "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX "
                                    "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR X86_V4",
    },
}


def numpy_features_above(isa: str) -> list[str]:
    """The NumPy dispatch targets above ``isa`` that this process's NumPy runs."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as features
    above = NUMPY_ENV[isa]["NPY_DISABLE_CPU_FEATURES"].split()
    return [name for name in above if features.get(name)]


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
    numpy_above = numpy_features_above(isa)
    if numpy_above:
        (name, value), = NUMPY_ENV[isa].items()
        raise RuntimeError(
            f"cpu_isa={isa}: NumPy chose its {', '.join(numpy_above)} kernels when it was "
            f"imported; export {name}='{value}' before the command (make demo does)")
    if changed:
        log.info("cpu_isa=%s: %s", isa, " ".join(f"{k}={v}" for k, v in changed.items()))
