"""Benchmark the inference engines on one model and one set of images (a benchmark, not a test).

Raw `ultralytics.YOLO(...).predict` (the baseline) vs `Detector` on PyTorch vs `Detector` on ONNX Runtime (float,
and INT8 with --int8), each in a fresh process: import time, load, cold first prediction, latency p50/p95 at
batch 1 (wall clock and CPU time), throughput at batch 16 and peak RSS. Prints a markdown table with speed-ups over the baseline.

    .venv/bin/python benchmarks/bench_predict.py --weights models/reference/best.pt \
        --images data/<dataset>/valid/images --labels data/<dataset>/valid/labels --int8
"""
import json, os, tempfile
from pathlib import Path
from fastcore.script import call_parse
from tumor_detect.core import sample_dir
from tumor_detect.predict import (Detector, bench, bench_table, default_weights, export_onnx, map50_95,
                                  quantize_onnx, _expand, _speedups)

@call_parse
def main(weights:str='', # .pt checkpoint; default models/reference/best.pt
         images:str='', # images to time; default the bundled sample's valid/images
         labels:str='', # YOLO labels of `images`: adds mAP50/mAP50-95 of every engine
         n:int=100, # images timed one by one, then in batches
         batch:int=16, # batch size for throughput
         threads:int=0, # CPU threads for every engine; 0 = ultralytics' choice, min(8, cores - 1)
         int8:bool=False, # also time an INT8 ONNX model (static quantisation)
         calib:str='', # calibration images for --int8; default `images`
         all_threads:bool=False, # add ONNX Runtime rows with as many threads as CPU cores
         out:str='' # also write the rows as JSON here
        ):
    w = Path(weights or default_weights(prefer='pt')); imgs = images or str(sample_dir()/'valid'/'images')
    tmp = Path(tempfile.mkdtemp())
    models = [export_onnx(w, tmp/f'{w.stem}.onnx')]
    if int8: models.append(quantize_onnx(models[0], calib or imgs, tmp/f'{w.stem}_int8.onnx'))
    rows = bench(w, imgs, n, batch, models, threads)
    if all_threads:
        extra = bench(w, imgs, n, batch, models, os.cpu_count(), baseline=False, torch=False)
        for r in extra: _speedups(r, rows[0])
        rows += extra
    if labels:
        files = _expand(imgs)
        maps = {m: map50_95(Detector.load(m)(files, conf=0.001), labels) for m in [w] + models}
        for r in rows:
            key = w if r['engine'] in ('ultralytics', 'torch') else next(m for m in models if m.name == r['model'])
            r['mAP50'], r['mAP50_95'] = (round(v, 4) for v in maps[key])
    print(bench_table(rows))
    if out: Path(out).write_text(json.dumps(rows, indent=1))
