"""Benchmark the inference engines on one model and one set of images (a benchmark, not a test).

Raw `ultralytics.YOLO(...).predict` (the baseline) vs `Detector` on PyTorch, ONNX Runtime (float, and INT8 with
--int8) and OpenVINO (float32 and BF16 with --openvino), each in a fresh process and at each thread count: median
and p95 latency at batch 1 (wall clock, and CPU time), throughput at batch 16, speed-up over the baseline measured
in the same run at the same thread count, peak RSS, mAP50-95 on the images (with --labels), and the achieved
GFLOP/s beside what the engine's threads could issue at most in its precision. Prints a markdown table.

    nice -n 5 .venv/bin/python benchmarks/bench_predict.py --weights models/reference/best.pt \
        --images data/brain-tumor/valid/images --labels data/brain-tumor/valid/labels --n 40 --openvino --int8
"""
import json, tempfile
from pathlib import Path
from fastcore.script import call_parse
from tumor_detect.core import sample_dir
from tumor_detect.predict import default_weights
from tumor_detect.readers import _expand
from tumor_detect.serving import bench, bench_table, cpu_peak_gflops, export_onnx, quantize_onnx

@call_parse
def main(weights:str='', # .pt checkpoint; default models/reference/best.pt
         images:str='', # images to time; default the bundled sample's valid/images
         labels:str='', # YOLO labels of `images`: adds mAP50-95 of every engine; default the folder beside `images`
         n:int=100, # images timed one by one (the first n of `images`, cycled), then in batches
         batch:int=16, # batch size for throughput
         threads:str='1,2', # comma-separated thread counts: a row per engine and count
         onnx:str='', # .onnx file(s) to time, comma-separated; exported from `weights` when empty
         int8:str='', # also time an INT8 model: its path, or 'calib:FOLDER' to quantise the first .onnx on FOLDER's images
         openvino:bool=False, # also time OpenVINO float32 and BF16 on the first .onnx
         out:str='' # also write the rows as JSON here
        ):
    w = Path(weights or default_weights(prefer='pt')); imgs = Path(images or sample_dir()/'valid'/'images')
    lab = Path(labels) if labels else imgs.parent/'labels'
    models = [Path(o) for o in onnx.split(',') if o] or [export_onnx(w, Path(tempfile.mkdtemp())/f'{w.stem}.onnx')]
    if int8.startswith('calib:'): models.append(quantize_onnx(models[0], int8[6:], Path(tempfile.mkdtemp())/f'{w.stem}_int8.onnx'))
    elif int8: models.append(Path(int8))
    files = _expand(imgs)[:n]
    rows = bench(w, files, n, batch, models, [int(t) for t in threads.split(',')], openvino=openvino, labels=lab if lab.is_dir() else None)
    print(bench_table(rows)); print(f"\npeak per core: {cpu_peak_gflops()['how']}; model {rows[0]['model']}")
    if out: Path(out).write_text(json.dumps(rows, indent=1))
