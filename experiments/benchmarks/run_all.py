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
    """Run one benchmark script; its JSON (or an ``error`` entry) with its wall time."""
    out = raw / f"{bench.name}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / bench.script),
           *(bench.quick_args if quick else bench.args), "--out", str(out)]
    print(f"[bench] {bench.name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    log = raw / f"{bench.name}.log"
    with open(log, "w") as fh:
        try:
            code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=bench.timeout,
                                  cwd=HERE.parents[1]).returncode
            tail = log.read_text().strip()[-400:].replace("\n", " | ")
            error = None if code == 0 else f"exit {code}: {tail}"
        except subprocess.TimeoutExpired:
            error = f"timed out after {bench.timeout} s"
    result = json.loads(out.read_text()) if error is None and out.is_file() else {
        "error": error or "no JSON written"}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"[bench] {bench.name}: {result['wall_s']} s {result.get('error', '')}", flush=True)
    return result


# --------------------------------------------------------------------------- figures
def _row(figure: str, measured: str, target: str, reference: str, ratio: str, ok: bool | None,
         why: str = "", **extra: Any) -> dict[str, Any]:
    """One table row; ``why`` is kept only for a miss."""
    row = {"figure": figure, "measured": measured, "target": target, "reference": reference,
           "ratio": ratio, "pass": ok, **extra}
    return {**row, "why": why} if ok is False else row


def fig_pretrain(r: dict[str, Any], _: dict) -> dict[str, Any]:
    speedup, limit = r["speedup_cached_vs_online"], r["flop_ratio_limit"]
    cached, online = r["cached"], r["online"]
    ratio = (f"{speedup / limit:.2f}x the FLOP ratio (backbone "
             f"{online['backbone_achieved_gflops']:.0f} vs step "
             f"{cached['achieved_gflops_counted']:.0f} GFLOP/s)")
    if cached.get("matmul_peak_gflops"):
        ratio += (f"; step at {cached['peak_fraction']:.0%} of the "
                  f"{cached['matmul_peak_gflops']:.0f} GFLOP/s matmul peak")
    why = (f"the backbone ran at {online['backbone_achieved_gflops']:.0f} GFLOP/s vs the train "
           f"step's {cached['achieved_gflops_counted']:.0f}: the step is relatively slower on "
           "this CPU than the FLOP count says")
    if limit < r["target_speedup"]:
        why = f"the FLOP ratio itself is {limit:.1f}x at this setting"
    elif cached.get("top_kernels"):
        why += "; where the step's time goes (torch.profiler, self time): " + ", ".join(
            f"{k['op']} {k['share']:.0%}" for k in cached["top_kernels"][:6])
    return _row(
        "pre-training step, cached vs online backbone (model=paper, "
        f"{r['precision']}, batch {r['model']['batch']})",
        f"{speedup:.1f}x ({cached['clips_per_s']:.3f} vs {online['clips_per_s']:.4f} clips/s)",
        f">= {r['target_speedup']:.0f}x",
        f"FLOP ratio {limit:.1f}x (the speedup at equal GFLOP/s of both paths)", ratio,
        # issue 18: the cached step at >= 0.9 of the FLOP ratio (or the profile says why not)
        speedup >= r["target_speedup"] and speedup >= 0.9 * limit, why)


def fig_preprocess(r: dict[str, Any], _: dict) -> dict[str, Any]:
    b, sec = r["backbone"], r["seconds"]
    return _row(
        f"end-to-end preprocessing, `+experiment=preprocess data=contextual` ({b['arch']} "
        f"{b['precision']}, {b['crops']} crops/frame, {r['decode_workers']} decode workers; "
        f"{r['manifest']})",
        f"{r['end_to_end_frames_per_s']} frames/s", f">= {r['target_ratio']} of backbone-only",
        f"backbone alone on the same frames and crops {r['backbone_only_frames_per_s']} "
        f"frames/s; decoding alone {r['decode_only_frames_per_s']} frames/s",
        f"{r['ratio']:.2f} of backbone-only", bool(r["meets_target"]),
        f"decoding and cache writing are not hidden behind the backbone: decode "
        f"{sec['decode_only']} s, backbone {sec['backbone_only']} s, end to end "
        f"{sec['end_to_end']} s")


def fig_sweep(r: dict[str, Any], _: dict) -> dict[str, Any]:
    s, runs, speedup = r["setup"], r["runs"], r.get("speedup_2_vs_1")
    one = runs.get("jobs=1") or next(iter(runs.values()))
    walls = ", ".join(f"{k.replace('jobs=', '')} worker(s) {v['sweep_s']:.0f} s"
                      for k, v in runs.items())
    return _row(
        f"LOSO sweep, {one['folds']} folds of `model={s['model']}`, {s['epochs']} epochs, "
        f"synth={s['preset']} (1 thread per fold)",
        f"{walls}; one fold: fit {one['fold_fit_s']:.1f} s, everything else "
        f"{one['fold_overhead_s']:.1f} s",
        "cache read, never rebuilt; 2 workers faster than 1",
        f"per fold outside fit: set-up {one['fold_setup_s']:.1f} s, test "
        f"{one['fold_test_s']:.1f} s, the rest process start, config, report; cache shards "
        f"untouched: {'yes' if r['cache_untouched'] else 'NO'}",
        f"{one['overhead_fraction']:.0%} of a fold outside training"
        + (f"; 2 vs 1 worker {speedup:.2f}x" if speedup else ""),
        bool(r["cache_untouched"]) and (speedup is None or speedup > 1.0),
        "each joblib worker is a fresh process that imports torch and Lightning once; with "
        "few, short folds that start-up outweighs the parallel training"
        if r["cache_untouched"] else "the cache was rewritten during the sweep")


def fig_extract(r: dict[str, Any], _: dict) -> dict[str, Any]:
    # the fastest exact path: compiled (backbone.compile=true) where it was measured
    key = r["compiled_key"] if r.get("compiled_key") in r["frames_per_s"] else r["production_key"]
    fps, prec, run = r["frames_per_s"][key], r["production_precision"], r["runs"][key]
    limit = round(run.get("flop_limit_at_best", r["flop_limited_frames_per_s"][prec]), 1)
    others = ", ".join(f"{k} {v}" for k, v in r["frames_per_s"].items() if k != key)
    threads, rates = r.get("cpu_threads"), ", ".join(f"{v:.0f}" for v in run.get("rates", []))
    why = (f"the backbone's convolutions run at {fps / limit:.0%} of the square-matmul rate "
           f"measured just before them (oneDNN, {prec}, channels-last, BN folded; load "
           f"{run['load_average_1m']} on {threads} threads): ResNet-152's late stages at "
           "112x112 are 4x4 and 7x7 feature maps, smaller GEMMs than the reference's 2048x2048"
           if fps / limit >= 0.7 else
           f"only {fps / limit:.0%} of the matmul rate measured just before it (repeats: {rates} "
           f"frames/s): other processes' load on the {threads} threads changes within seconds; "
           "this figure needs a quiet machine")
    return _row(
        f"descriptor extraction, ResNet-152 @ 112x112 ({key}, batch {r['batch_size']})",
        f"{fps:.1f} frames/s",
        f">= {r['target_frames_per_s']:.0f} frames/s and >= 0.9 of the FLOP limit",
        f"FLOP limit {limit} frames/s ({limit * r['gflop_per_frame']:.0f} GFLOP/s {prec} "
        f"matmul, measured just before); {others}", f"{fps / limit:.2f} of FLOP limit",
        # issue 18: >= 0.9 of the FLOP limit at the precision used (issue 9: >= 55 frames/s)
        fps >= r["target_frames_per_s"] and fps / limit >= 0.9, why,
        load=run["load_average_1m"])


def fig_decode(r: dict[str, Any], results: dict) -> dict[str, Any]:
    ext = results.get("extract", {})
    ext_fps = ext.get("frames_per_s", {}).get(ext.get("production_key"))
    fast = r["decord"] if "frames_per_s" in r.get("decord", {}) else r["pyav"]
    fps, raw = fast["frames_per_s"], r["decode_only_limit"]["frames_per_s"]
    head = (f"decoding 720p H.264 -> 128x171 RGB @ 25 fps "
            f"({'decord' if fast is r['decord'] else 'pyav'})", f"{fps:.0f} frames/s",
            ">= 10x extraction",
            f"PyAV {r['pyav'].get('frames_per_s'):.0f} frames/s; libavcodec decode-only "
            f"{raw:.0f} frames/s")
    if not ext_fps:
        return _row(*head, "n/a (no extraction figure)", False,
                    "the extraction benchmark failed: no rate to compare with",
                    load=fast["load_average_1m"])
    why = (f"H.264 decoding itself (no colour conversion, no resize) runs at {raw:.0f} frames/s "
           f"= {raw / ext_fps:.1f}x extraction on these cores; our path reaches {fps / raw:.0%} "
           "of it (the rest is the bicubic 720p->128x171 RGB scale); decoding runs on the same "
           "cores as the backbone" if raw / ext_fps < 10 else
           f"our path reaches {fps / raw:.0%} of libavcodec's decode-only rate; the bicubic "
           "720p->128x171 RGB scale is the remaining cost")
    return _row(*head, f"{fps / ext_fps:.1f}x extraction ({ext_fps:.0f} frames/s); decoder "
                f"limit {raw / ext_fps:.1f}x", fps / ext_fps >= 10, why,
                load=fast["load_average_1m"])


def fig_loader(r: dict[str, Any], _: dict) -> dict[str, Any]:
    run, p2 = r["lightning_profiled"], r["paper_dim_2048"]
    return _row(
        "pre-training data loading, cached features (Lightning SimpleProfiler)",
        f"{r['fraction']:.2%} of step time ({run['loader_s_per_step_median'] * 1e3:.1f} ms "
        f"loader vs {run['step_s_median']:.2f} s step, batch {run['batch']})",
        f"< {r['target_fraction']:.0%}",
        f"2048-d cache: {p2['s_per_clip'] * 1e3:.1f} ms/clip per loader process; workers to "
        "keep up at 40% peak: " + ", ".join(
            f"{k} {v['workers_to_keep_up']}" for k, v in p2["gpu_projection"].items()),
        f"{r['fraction'] / r['target_fraction']:.2f} of budget", bool(r["meets_target"]),
        "the loader (memmap read + fp16->fp32 + collate) is slower than the step")


def fig_memory(r: dict[str, Any], _: dict) -> dict[str, Any]:
    f, n = r["setup"]["factor"], r["setup"]["clips_1x"]
    one, ten = r["runs"]["1x"], r["runs"][f"{f}x"]
    grew = ten["peak_rss_file_mib"] - one["peak_rss_file_mib"]
    return _row(
        f"peak memory of pre-training, {n} vs {n * f} clips (memory-mapped fp16 cache)",
        f"peak RSS {one['peak_rss_mib']:.0f} -> {ten['peak_rss_mib']:.0f} MiB "
        f"({r['peak_rss_ratio']:.2f}x)", f"same (<= {1 + r['tolerance']:.2f}x)",
        f"private (anon) peak {one['peak_rss_anon_mib']:.0f} -> "
        f"{ten['peak_rss_anon_mib']:.0f} MiB ({r['peak_rss_anon_ratio']:.2f}x); cache "
        f"{one['cache_mib']:.0f} -> {ten['cache_mib']:.0f} MiB",
        f"{r['peak_rss_ratio']:.2f}x", bool(r["flat_rss"]),
        f"file-backed pages of the memory-mapped shards count in RSS (RssFile +{grew:.0f} "
        "MiB): page cache, shared and reclaimable, not the process's memory; the private "
        f"memory is {'flat' if r['flat_anon'] else 'NOT flat'} ({r['peak_rss_anon_ratio']:.2f}x)"
        ". FeatureCache keeps every shard mapped; dropping/madvise(DONTNEED) of read windows "
        "would make RSS flat too")


def fig_gpu(r: dict[str, Any], _: dict) -> dict[str, Any]:
    head = ("GPU: model=paper pre-training step in bf16, % of bf16 peak",)
    if not r.get("available", False):
        return _row(*head, "no GPU here", ">= 40% of bf16 peak", "-", "-", None)
    g, frac = r["gpu"], r["gpu"]["peak_fraction_6NT"]
    return _row(
        *head, f"{r['cached']['clips_per_s']:.1f} clips/s on {g['name']} "
        f"({r['cached']['achieved_gflops_6NT'] / 1e3:.0f} TFLOP/s by 6NT)",
        ">= 40% of bf16 peak", f"bf16 peak {g['bf16_peak_tflops']} TFLOP/s",
        f"{frac:.0%} of peak" if frac is not None else "peak unknown",
        frac is not None and frac >= g["target_peak_fraction"],
        "see results/raw/gpu.json (batch, attention kernel, optimizer)")


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
        pair = r.get("load_average_1m_before_after")
        rows.append({"benchmark": name, "load": round(max(pair), 2) if pair else None,
                     **fn(r, results)})
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
