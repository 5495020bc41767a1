"""The precision guard (`tumor_detect.serving.precision_guard`) of every opt-in engine against float32 ONNX Runtime, on one labelled split.

Each variant (OpenVINO float32, OpenVINO BF16, the INT8 model when it exists) is scored on the same images as the
float32 reference; the guard's fields (mAP50-95 delta, served boxes that agree, verdict and OOD flips) are printed and
written as JSON. BF16 runs on the CPU's BF16 units where it has them (AMX or AVX-512 BF16) and is emulated, slowly,
elsewhere: read its speed in `bench_volume.py --openvino`.

    python benchmarks/guard_engines.py --out benchmarks/guard_engines.json
"""
import argparse, json
from pathlib import Path

def main():
    from tumor_detect.core import project_root
    from tumor_detect.predict import Detector
    from tumor_detect.serving import cpu_flags, precision_guard
    ref = project_root()/'models'/'reference'
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--onnx', default=str(ref/'best.onnx')); ap.add_argument('--int8', default=str(ref/'best_int8.onnx'))
    ap.add_argument('--images', default=str(project_root()/'data'/'multisource'/'valid'/'images'))
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--out', default='')
    a = ap.parse_args()
    base = Detector.load(a.onnx, threads=a.threads); labels = Path(a.images).parent/'labels'; res = {}
    variants = [('openvino', a.onnx, 'openvino'), ('openvino-bf16', a.onnx, 'openvino-bf16')] + ([('int8', a.int8, None)] if Path(a.int8).is_file() else [])
    for name, w, backend in variants:
        g = precision_guard(base, Detector.load(w, backend=backend, threads=a.threads), a.images, labels)
        res[name] = g; print(name, json.dumps({k: g[k] for k in ('map_delta', 'boxes_agree', 'max_conf_gap', 'p99_conf_gap', 'verdict_flips', 'ood_flips', 'passed')}))
    res['cpu_flags'] = cpu_flags()
    if a.out: Path(a.out).write_text(json.dumps(res, indent=1) + '\n')

if __name__ == '__main__': main()
