"""Run every benchmark of issue 9 in one go; write results/latest.json and results/latest.md.

Each benchmark runs as its own subprocess (fresh interpreter, its own peak memory) and writes its
JSON to ``results/raw/NAME.json`` (log: ``results/raw/NAME.log``). The table puts every figure
next to its target and its reference measured in the same run (online path, PyAV / decoder
limit, FLOP limit), with the 1-minute load average, PASS/MISS and, for a miss, why. With markers
``<!-- bench:start -->`` / ``<!-- bench:end -->`` in docs/performance.md the table is copied
there too. On a GPU the CUDA figure is also kept as ``results/gpu_<name>.json``.

    .venv/bin/python experiments/benchmarks/run_all.py [--only decode,extract] [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import load_average, machine_info, versions

from seizure_lightning.utils.io import atomic_write_json, atomic_write_text

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOC = HERE.parents[1] / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class Bench:
    name: str
    script: str
    args: list[str] = field(default_factory=list)
    quick_args: list[str] = field(default_factory=list)
    timeout: int = 300


def benches(bf16: bool) -> list[Bench]:
    prec = ["--bf16"] if bf16 else []
    return [
        Bench("decode", "bench_decode.py", ["--seconds", "8", "--repeats", "3"],
              ["--seconds", "4", "--repeats", "2"], 180),
        Bench("extract", "bench_extract.py", ["--frames", "256", "--batch-size", "64", "--repeats", "3"],
              ["--frames", "64", "--repeats", "1"], 300),
        Bench("pretrain_step", "bench_pretrain_step.py", [*prec, "--batch", "4", "--iters", "2"],
              [*prec, "--batch", "2", "--iters", "1", "--backbone-frames", "32"], 400),
        Bench("loader", "bench_loader.py", ["--epochs", "3"], ["--epochs", "2"], 400),
        Bench("memory", "bench_memory.py", ["--clips", "16"], ["--clips", "8"], 300),
        Bench("preprocess", "bench_preprocess.py", ["--preset", "tiny"],
              ["--preset", "tiny", "--max-clips", "1"], 600),
        Bench("sweep", "bench_sweep.py", ["--preset", "demo", "--epochs", "10"],
              ["--preset", "tiny", "--epochs", "3"], 1800),
        Bench("gpu", "bench_pretrain_step.py",
              ["--device", "cuda", "--bf16", "--batch", "32", "--iters", "10", "--warmup", "3"],
              ["--device", "cuda", "--bf16", "--batch", "16", "--iters", "3"], 400),
    ]


def run_bench(bench: Bench, quick: bool, raw: Path) -> dict[str, Any]:
    """Run one benchmark script; its JSON (or an ``error`` entry)."""
    out, log = raw / f"{bench.name}.json", raw / f"{bench.name}.log"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / bench.script),
           *(bench.quick_args if quick else bench.args), "--out", str(out)]
    print(f"[bench] {bench.name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=bench.timeout,
                              cwd=HERE.parents[1])
        log.write_text(done.stdout + done.stderr)
        error = None if done.returncode == 0 else f"exit {done.returncode}: {_tail(done.stderr)}"
    except subprocess.TimeoutExpired as exc:
        log.write_text(str(exc.stdout or "") + str(exc.stderr or ""))
        error = f"timed out after {bench.timeout} s"
    wall = round(time.perf_counter() - t0, 1)
    if error is None and out.is_file():
        result = json.loads(out.read_text())
    else:
        result = {"error": error or "no JSON written"}
    result["wall_s"] = wall
    print(f"[bench] {bench.name}: {wall} s{' ERROR ' + result['error'] if 'error' in result else ''}",
          flush=True)
    return result


def _tail(text: str, n: int = 400) -> str:
    return text.strip()[-n:].replace("\n", " | ")


# --------------------------------------------------------------------------- figures
def _load(r: dict[str, Any]) -> float | None:
    pair = r.get("load_average_1m_before_after")
    return round(max(pair), 2) if pair else None


def fig_pretrain(r: dict[str, Any], _: dict) -> dict[str, Any]:
    speedup, limit = r["speedup_cached_vs_online"], r["flop_ratio_limit"]
    row = {
        "figure": "pre-training step, cached vs online backbone (model=paper, "
                  f"{r['precision']}, batch {r['model']['batch']})",
        "measured": f"{speedup:.1f}x ({r['cached']['clips_per_s']:.3f} vs "
                    f"{r['online']['clips_per_s']:.4f} clips/s)",
        "target": f">= {r['target_speedup']:.0f}x",
        "reference": f"FLOP ratio {limit:.1f}x (the speedup at equal GFLOP/s of both paths)",
        "ratio": f"{speedup / limit:.2f}x the FLOP ratio (backbone "
                 f"{r['online']['backbone_achieved_gflops']:.0f} vs step "
                 f"{r['cached']['achieved_gflops_counted']:.0f} GFLOP/s)",
        # issue 18: the cached step at >= 0.9 of the FLOP ratio (or the profile says why not)
        "pass": speedup >= r["target_speedup"] and speedup >= 0.9 * limit,
    }
    peak = r["cached"].get("matmul_peak_gflops")
    if peak:
        row["ratio"] += (f"; step at {r['cached']['peak_fraction']:.0%} of the "
                         f"{peak:.0f} GFLOP/s matmul peak")
    if not row["pass"]:
        if limit < r["target_speedup"]:
            row["why"] = f"the FLOP ratio itself is {limit:.1f}x at this setting"
        else:
            row["why"] = (
                f"the backbone ran at {r['online']['backbone_achieved_gflops']:.0f} GFLOP/s vs "
                f"the train step's {r['cached']['achieved_gflops_counted']:.0f}: the step is "
                "relatively slower on this CPU than the FLOP count says"
            )
            kernels = r["cached"].get("top_kernels")
            if kernels:
                row["why"] += "; where the step's time goes (torch.profiler, self time): " + (
                    ", ".join(f"{k['op']} {k['share']:.0%}" for k in kernels[:6]))
    return row


def fig_preprocess(r: dict[str, Any], _: dict) -> dict[str, Any]:
    b = r["backbone"]
    row = {
        "figure": f"end-to-end preprocessing, `+experiment=preprocess data=contextual` "
                  f"({b['arch']} {b['precision']}, {b['crops']} crops/frame, "
                  f"{r['decode_workers']} decode workers; {r['manifest']})",
        "measured": f"{r['end_to_end_frames_per_s']} frames/s",
        "target": f">= {r['target_ratio']} of backbone-only",
        "reference": f"backbone alone on the same frames and crops "
                     f"{r['backbone_only_frames_per_s']} frames/s; decoding alone "
                     f"{r['decode_only_frames_per_s']} frames/s",
        "ratio": f"{r['ratio']:.2f} of backbone-only",
        "pass": bool(r["meets_target"]),
    }
    if not row["pass"]:
        row["why"] = ("decoding and cache writing are not hidden behind the backbone: decode "
                      f"{r['seconds']['decode_only']} s, backbone {r['seconds']['backbone_only']} s, "
                      f"end to end {r['seconds']['end_to_end']} s")
    return row


def fig_sweep(r: dict[str, Any], _: dict) -> dict[str, Any]:
    s, runs = r["setup"], r["runs"]
    one = runs.get("jobs=1") or next(iter(runs.values()))
    walls = ", ".join(f"{k.replace('jobs=', '')} worker(s) {v['sweep_s']:.0f} s"
                      for k, v in runs.items())
    speedup = r.get("speedup_2_vs_1")
    row = {
        "figure": f"LOSO sweep, {one['folds']} folds of `model={s['model']}`, "
                  f"{s['epochs']} epochs, synth={s['preset']} (1 thread per fold)",
        "measured": f"{walls}; one fold: fit {one['fold_fit_s']:.1f} s, everything else "
                    f"{one['fold_overhead_s']:.1f} s",
        "target": "cache read, never rebuilt; 2 workers faster than 1",
        "reference": f"per fold outside fit: set-up {one['fold_setup_s']:.1f} s, test "
                     f"{one['fold_test_s']:.1f} s, the rest process start, config, report; "
                     f"cache shards untouched: {'yes' if r['cache_untouched'] else 'NO'}",
        "ratio": (f"{one['overhead_fraction']:.0%} of a fold outside training"
                  + (f"; 2 vs 1 worker {speedup:.2f}x" if speedup else "")),
        "pass": bool(r["cache_untouched"]) and (speedup is None or speedup > 1.0),
    }
    if not row["pass"]:
        row["why"] = ("the cache was rewritten during the sweep" if not r["cache_untouched"] else
                      "each joblib worker is a fresh process that imports torch and Lightning "
                      "once; with few, short folds that start-up outweighs the parallel training")
    return row


def fig_extract(r: dict[str, Any], _: dict) -> dict[str, Any]:
    # the fastest exact path: compiled (backbone.compile=true) where it was measured
    key = r.get("compiled_key") if r.get("compiled_key") in r["frames_per_s"] else \
        r["production_key"]
    fps = r["frames_per_s"][key]
    prec = r["production_precision"]
    run = r["runs"][key]
    limit = round(run.get("flop_limit_at_best", r["flop_limited_frames_per_s"][prec]), 1)
    others = ", ".join(f"{k} {v}" for k, v in r["frames_per_s"].items() if k != key)
    row = {
        "figure": f"descriptor extraction, ResNet-152 @ 112x112 ({key}, batch {r['batch_size']})",
        "measured": f"{fps:.1f} frames/s",
        "target": f">= {r['target_frames_per_s']:.0f} frames/s and >= 0.9 of the FLOP limit",
        "reference": f"FLOP limit {limit} frames/s ({limit * r['gflop_per_frame']:.0f} GFLOP/s "
                     f"{prec} matmul, measured just before); {others}",
        "ratio": f"{fps / limit:.2f} of FLOP limit",
        # issue 18: >= 0.9 of the FLOP limit at the precision used (issue 9: >= 55 frames/s)
        "pass": fps >= r["target_frames_per_s"] and fps / limit >= 0.9,
        "load": r["runs"][key]["load_average_1m"],
    }
    if not row["pass"]:
        rates = ", ".join(f"{v:.0f}" for v in run.get("rates", []))
        row["why"] = (
            f"the backbone's convolutions run at {fps / limit:.0%} of the square-matmul rate "
            f"measured just before them (oneDNN, {prec}, channels-last, BN folded; load "
            f"{row['load']} on {r.get('cpu_threads')} threads): ResNet-152's late stages at "
            "112x112 are 4x4 and 7x7 feature maps, smaller GEMMs than the reference's 2048x2048"
            if fps / limit >= 0.7 else
            f"only {fps / limit:.0%} of the matmul rate measured just before it (repeats: {rates} "
            f"frames/s): other processes' load on the {r.get('cpu_threads')} threads changes "
            "within seconds; this figure needs a quiet machine"
        )
    return row


def fig_decode(r: dict[str, Any], results: dict) -> dict[str, Any]:
    ext = results.get("extract", {})
    ext_fps = ext.get("frames_per_s", {}).get(ext.get("production_key"), None)
    fast = r["decord"] if "frames_per_s" in r.get("decord", {}) else r["pyav"]
    backend = "decord" if fast is r["decord"] else "pyav"
    fps, pyav, raw = fast["frames_per_s"], r["pyav"].get("frames_per_s"), \
        r["decode_only_limit"]["frames_per_s"]
    row = {
        "figure": f"decoding 720p H.264 -> 128x171 RGB @ 25 fps ({backend})",
        "measured": f"{fps:.0f} frames/s",
        "target": ">= 10x extraction",
        "reference": f"PyAV {pyav:.0f} frames/s; libavcodec decode-only {raw:.0f} frames/s",
        "load": fast["load_average_1m"],
    }
    if not ext_fps:
        row.update(ratio="n/a (no extraction figure)", pass_=None)
        row["pass"] = False
        row["why"] = "the extraction benchmark failed: no rate to compare with"
        return row
    ratio = fps / ext_fps
    row["ratio"] = f"{ratio:.1f}x extraction ({ext_fps:.0f} frames/s); decoder limit " \
                   f"{raw / ext_fps:.1f}x"
    row["pass"] = ratio >= 10
    if not row["pass"]:
        row["why"] = (
            f"H.264 decoding itself (no colour conversion, no resize) runs at {raw:.0f} "
            f"frames/s = {raw / ext_fps:.1f}x extraction on these cores; our path reaches "
            f"{fps / raw:.0%} of it (the rest is the bicubic 720p->128x171 RGB scale); decoding "
            "runs on the same cores as the backbone"
            if raw / ext_fps < 10 else
            f"our path reaches {fps / raw:.0%} of libavcodec's decode-only rate; the bicubic "
            "720p->128x171 RGB scale is the remaining cost"
        )
    return row


def fig_loader(r: dict[str, Any], _: dict) -> dict[str, Any]:
    run, p2 = r["lightning_profiled"], r["paper_dim_2048"]
    gpu = p2["gpu_projection"]
    row = {
        "figure": "pre-training data loading, cached features (Lightning SimpleProfiler)",
        "measured": f"{r['fraction']:.2%} of step time ({run['loader_s_per_step_median'] * 1e3:.1f}"
                    f" ms loader vs {run['step_s_median']:.2f} s step, batch {run['batch']})",
        "target": f"< {r['target_fraction']:.0%}",
        "reference": f"2048-d cache: {p2['s_per_clip'] * 1e3:.1f} ms/clip per loader process; "
                     "workers to keep up at 40% peak: "
                     + ", ".join(f"{k} {v['workers_to_keep_up']}" for k, v in gpu.items()),
        "ratio": f"{r['fraction'] / r['target_fraction']:.2f} of budget",
        "pass": bool(r["meets_target"]),
    }
    if not row["pass"]:
        row["why"] = "the loader (memmap read + fp16->fp32 + collate) is slower than the step"
    return row


def fig_memory(r: dict[str, Any], _: dict) -> dict[str, Any]:
    runs, f = r["runs"], r["setup"]["factor"]
    one, ten = runs["1x"], runs[f"{f}x"]
    row = {
        "figure": f"peak memory of pre-training, {r['setup']['clips_1x']} vs "
                  f"{r['setup']['clips_1x'] * f} clips (memory-mapped fp16 cache)",
        "measured": f"peak RSS {one['peak_rss_mib']:.0f} -> {ten['peak_rss_mib']:.0f} MiB "
                    f"({r['peak_rss_ratio']:.2f}x)",
        "target": f"same (<= {1 + r['tolerance']:.2f}x)",
        "reference": f"private (anon) peak {one['peak_rss_anon_mib']:.0f} -> "
                     f"{ten['peak_rss_anon_mib']:.0f} MiB ({r['peak_rss_anon_ratio']:.2f}x); "
                     f"cache {one['cache_mib']:.0f} -> {ten['cache_mib']:.0f} MiB",
        "ratio": f"{r['peak_rss_ratio']:.2f}x",
        "pass": bool(r["flat_rss"]),
    }
    if not row["pass"]:
        grew = ten["peak_rss_file_mib"] - one["peak_rss_file_mib"]
        row["why"] = (
            f"file-backed pages of the memory-mapped shards count in RSS (RssFile +{grew:.0f} "
            "MiB): page cache, shared and reclaimable, not the process's memory; the private "
            f"memory is {'flat' if r['flat_anon'] else 'NOT flat'} "
            f"({r['peak_rss_anon_ratio']:.2f}x). FeatureCache keeps every shard mapped; "
            "dropping/madvise(DONTNEED) of read windows would make RSS flat too"
        )
    return row


def fig_gpu(r: dict[str, Any], _: dict) -> dict[str, Any]:
    row = {"figure": "GPU: model=paper pre-training step in bf16, % of bf16 peak",
           "target": ">= 40% of bf16 peak"}
    if not r.get("available", False):
        row.update(measured="no GPU here", reference="-", ratio="-", pass_=None)
        row["pass"] = None
        return row
    g = r["gpu"]
    frac = g["peak_fraction_6NT"]
    row.update(
        measured=f"{r['cached']['clips_per_s']:.1f} clips/s on {g['name']} "
                 f"({r['cached']['achieved_gflops_6NT'] / 1e3:.0f} TFLOP/s by 6NT)",
        reference=f"bf16 peak {g['bf16_peak_tflops']} TFLOP/s",
        ratio=f"{frac:.0%} of peak" if frac is not None else "peak unknown",
        **{"pass": frac is not None and frac >= g["target_peak_fraction"]},
    )
    if not row["pass"]:
        row["why"] = "see results/raw/gpu.json (batch, attention kernel, optimizer)"
    return row


FIGURES: dict[str, Callable[[dict, dict], dict]] = {
    "pretrain_step": fig_pretrain, "extract": fig_extract, "decode": fig_decode,
    "loader": fig_loader, "memory": fig_memory, "preprocess": fig_preprocess,
    "sweep": fig_sweep, "gpu": fig_gpu,
}


def figures(results: dict[str, dict]) -> list[dict[str, Any]]:
    rows = []
    for name, fn in FIGURES.items():
        r = results.get(name)
        if r is None:
            continue
        if "error" in r:
            rows.append({"benchmark": name, "figure": name, "measured": "ERROR", "target": "",
                         "reference": "", "ratio": "", "pass": False, "why": r["error"]})
            continue
        row = {"benchmark": name, **fn(r, results)}
        row.pop("pass_", None)
        row.setdefault("load", _load(r))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- markdown
def markdown(report: dict[str, Any]) -> str:
    m, v = report["machine"], report["versions"]
    gpu = m["gpu"]["name"] if m.get("gpu") else "none"
    lines = [
        f"Benchmarks of {report['date']} ({report['wall_s']:.0f} s in all, "
        f"`make bench`).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), "
        f"{m['memory_gib']} GiB, CPU bf16: {'yes' if m['cpu_bf16'] else 'no'} "
        f"(ISA: {' '.join(m.get('cpu_isa') or []) or 'unknown'}; `precision: auto` runs "
        f"{m.get('cpu_precision', '?')} here), GPU: {gpu}; "
        f"load average (1 min) {report['load_average_start']} at start, "
        f"{report['load_average_end']} at end.",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "| figure | measured | target | reference (same run) | ratio | status | load |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["figures"]:
        status = {True: "PASS", False: "MISS", None: "n/a"}[row["pass"]]
        lines.append(
            f"| {row['figure']} | {row['measured']} | {row['target']} | {row['reference']} | "
            f"{row['ratio']} | {status} | {row.get('load', '')} |"
        )
    misses = [r for r in report["figures"] if r["pass"] is False]
    if misses:
        lines += ["", "Why the misses:", ""]
        lines += [f"- {r['figure']}: {r.get('why', '')}." for r in misses]
    return "\n".join(lines) + "\n"


def update_doc(table: str) -> bool:
    """Copy the table between the markers of docs/performance.md (if it has them)."""
    if not DOC.is_file():
        return False
    text = DOC.read_text()
    if START not in text or END not in text:
        return False
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    atomic_write_text(DOC, pattern.sub(lambda _: f"{START}\n{table}{END}", text))
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=None, help="comma list of benchmark names")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    ap.add_argument("--render-only", action="store_true",
                    help="rebuild latest.md (and the doc table) from results/latest.json")
    args = ap.parse_args()
    if args.render_only:
        report = json.loads((RESULTS / "latest.json").read_text())
        report["figures"] = figures(report["results"])
        write_report(report, doc=not args.no_doc and not report.get("quick"))
        return
    machine = machine_info()
    raw = RESULTS / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    chosen = benches(machine["cpu_bf16"])
    if args.only:
        names = set(args.only.split(","))
        chosen = [b for b in chosen if b.name in names]
    t0, load_start = time.perf_counter(), load_average()
    results = {b.name: run_bench(b, args.quick, raw) for b in chosen}
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": args.quick,
        "machine": machine,
        "versions": versions(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "wall_s": round(time.perf_counter() - t0, 1),
        "figures": figures(results),
        "results": results,
    }
    gpu = results.get("gpu", {})
    if gpu.get("available"):
        name = re.sub(r"[^A-Za-z0-9]+", "_", gpu["gpu"]["name"]).strip("_").lower()
        atomic_write_json(RESULTS / f"gpu_{name}.json", gpu)
    write_report(report, doc=not args.no_doc and not args.quick)


def write_report(report: dict[str, Any], doc: bool) -> None:
    """latest.json, latest.md and (``doc``) the table in docs/performance.md."""
    atomic_write_json(RESULTS / "latest.json", report)
    table = markdown(report)
    atomic_write_text(RESULTS / "latest.md", table)
    if doc and update_doc(table):
        print(f"[bench] table copied into {DOC}")
    print(table)


if __name__ == "__main__":
    main()
