"""A series scored fast: `predict_volume` (ONNX Runtime, float32 and INT8) against raw ultralytics batched over the same slices, side by side.

Each engine runs in its own fresh interpreter with the same number of CPU threads, on the same slices (those
`read_nifti` gives), `--repeats` times alternately; the table reports the median wall-clock and CPU time per volume,
the ratios (>1: `predict_volume` faster), GFLOP/s against the machine's fp32 and int8 peaks for that many threads, and
whether the engines answer alike (per-slice top score and the slice calls at the model's threshold). `predict_volume`
includes reading and windowing the NIfTI file; the baseline is handed the decoded slices. By default the volume is a
synthetic skull-stripped head the size of a BraTS volume (155 axial slices of 240 x 240, the first and last 20 empty).
The INT8 model is `--int8` (default models/reference/best_int8.onnx, which `tumor-detect quantize` builds); when that
file is missing it is built into a temporary folder first, with the same recipe. One further call of each ONNX Runtime
engine is profiled (cProfile, process CPU time); `ceiling_cpu` is the ratio that engine would reach if nothing but its
network cost CPU time.

    python benchmarks/bench_volume.py                       # reference model, 2 threads, 3 repeats
    python benchmarks/bench_volume.py --volume some.nii.gz --threads 2 --repeats 5
"""
import argparse, json, os, statistics, subprocess, sys, tempfile
from pathlib import Path
import numpy as np

WORKER = r'''
import json, sys, time
import numpy as np
kind, weights, vol, threads, prof, conf = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == '1', float(sys.argv[6])
from tumor_detect.readers import read_nifti
extra = {}
if kind == 'ultralytics':
    import torch; from ultralytics import YOLO
    m = YOLO(weights, task='detect'); slices = read_nifti(vol).slices
    kw = dict(conf=conf, iou=0.5, agnostic_nms=True, device='cpu', verbose=False, batch=16, stream=True)
    list(m.predict(slices[:4], **kw)); torch.set_num_threads(threads)     # its predictor setup resets the thread count
    def run():
        out = []
        for r in m.predict(slices, **kw):
            s = r.boxes.conf.numpy() if len(r.boxes) else np.zeros(1)
            out.append(float(s.max()))
        return out
    extra['forward'] = len(slices)
else:
    from tumor_detect.predict import Detector, predict_volume, _key
    d = Detector.load(weights, backend=None if kind == 'onnx' else kind, threads=threads); v = predict_volume(d, vol)  # warm: session and caches
    run = lambda: [r.top_score for r in predict_volume(d, vol, conf=conf).slices]
    sl = read_nifti(vol).slices
    extra['forward'] = len({_key(a) for a, r in zip(sl, v.slices) if r.score is not None})   # distinct slices the network ran on
    extra['not_scored'] = len(v.to_dict()['not_scored']['slices'])
t, c = time.perf_counter(), time.process_time(); scores = run()
wall, cpu = time.perf_counter() - t, time.process_time() - c
if prof and kind != 'ultralytics':                                       # where predict_volume's CPU seconds go
    import cProfile, pstats
    pr = cProfile.Profile(time.process_time); pr.enable(); run(); pr.disable()
    st = pstats.Stats(pr).stats; total = sum(v[2] for v in st.values())
    cum = lambda *names: sum(v[3] for k, v in st.items() if k[2] in names)
    parts = dict(read_window=cum('read_nifti'), image_checks=cum('image_checks'),
                 network=cum('<built-in method onnxruntime.capi.onnxruntime_pybind11_state.run>'),
                 letterbox=cum('letterbox'), nms_unletterbox=cum('postprocess', 'unletterbox'), ood=cum('score'))
    parts['rest'] = total - sum(parts.values())
    extra['profile_cpu_s'] = {k: round(v, 3) for k, v in parts.items()}
print('BENCH', json.dumps(dict(wall=wall, cpu=cpu, scores=scores, **extra)))
'''


def synthetic_volume(path:Path, n:int=155, size:int=240, empty:int=20, seed:int=0) -> Path:
    "A skull-stripped-looking head: phantom slices (a lesion on a third of them) between `empty` blank slices at each end."
    nib = __import__('nibabel'); from tumor_detect.phantom import phantom_slice
    vol = np.zeros((size, size, n), np.float32)
    for k in range(empty, n - empty):
        img = phantom_slice('glioma' if (k // 10) % 3 == 0 else None, seed=seed + k, size=size)[0].astype(np.float32)
        vol[..., k] = np.rot90(img, -1)
    nib.save(nib.Nifti1Image(vol, np.diag([1., 1., 1., 1.])), path)
    return path


def run_engine(kind:str, weights, vol, threads:int, prof:bool=False, conf:float=0.25) -> dict:
    env = {**os.environ, **{k: str(threads) for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')}}
    r = subprocess.run([sys.executable, '-c', WORKER, kind, str(weights), str(vol), str(threads), '1' if prof else '0', str(conf)], capture_output=True, text=True, env=env)
    line = [l for l in r.stdout.splitlines() if l.startswith('BENCH ')]
    if r.returncode or not line: raise RuntimeError(f'{kind} failed:\n{r.stderr[-3000:]}')
    return json.loads(line[0][6:])


def _compare(a:np.ndarray, b:np.ndarray, thr:float) -> dict:
    "Same slice calls at `thr`, and the largest top-score gap where either engine returned a box."
    both = (a > 0) | (b > 0)
    return dict(same_slice_calls=bool(((a >= thr) == (b >= thr)).all()), slice_calls_differ=int(((a >= thr) != (b >= thr)).sum()),
                max_score_diff_where_boxed=round(float(np.abs(np.where(both, a - b, 0)).max()), 4))


def main(argv=None):
    from tumor_detect.core import project_root, rel_path, sample_dir
    from tumor_detect.readers import read_nifti
    from tumor_detect.serving import cpu_flags, cpu_peak_gflops, model_gflops, quantize_onnx
    from tumor_detect.predict import Detector, read_stamp
    ref = project_root()/'models'/'reference'
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--volume', default='', help='NIfTI volume; a synthetic BraTS-sized head when empty')
    ap.add_argument('--pt', default=str(ref/'best.pt')); ap.add_argument('--onnx', default=str(ref/'best.onnx'))
    ap.add_argument('--int8', default=str(ref/'best_int8.onnx'), help='INT8 model (tumor-detect quantize); built into a temporary folder when missing')
    ap.add_argument('--threads', type=int, default=2); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--openvino', action='store_true', help='also time predict_volume on OpenVINO, float32 (same arithmetic) and BF16 (where the CPU has BF16 units: AMX or AVX-512 BF16); opt-in engines')
    ap.add_argument('--json', default='', help='also write the result here')
    ap.add_argument('--note', default='', help='a line on the machine and its load, kept in the JSON beside the figures')
    a = ap.parse_args(argv)
    load0 = os.getloadavg()
    vol = Path(a.volume) if a.volume else synthetic_volume(Path(tempfile.mkdtemp())/'head.nii.gz')
    int8, built = Path(a.int8), False
    if not int8.is_file():
        ms = project_root()/'data'/'multisource'/'train'/'images'
        int8 = quantize_onnx(a.onnx, ms if ms.is_dir() else sample_dir()/'train'/'images', Path(tempfile.mkdtemp())/'best_int8.onnx'); built = True
    n = len(read_nifti(vol)); side = read_nifti(vol)[0].shape[:2]
    thr = read_stamp(a.onnx).get('threshold') or 0.25        # every engine returns boxes from the model's threshold: their calls compare
    names = ['ultralytics', 'predict_volume', 'predict_volume_int8'] + (['predict_volume_openvino', 'predict_volume_openvino_bf16'] if a.openvino else [])
    runs = {k: [] for k in names}
    for _ in range(a.repeats):                                             # alternate: all see the same machine load
        runs['ultralytics'].append(run_engine('ultralytics', a.pt, vol, a.threads, conf=thr))
        runs['predict_volume'].append(run_engine('onnx', a.onnx, vol, a.threads, prof=not runs['predict_volume'], conf=thr))   # profiled after its timing, once
        runs['predict_volume_int8'].append(run_engine('onnx', int8, vol, a.threads, prof=not runs['predict_volume_int8'], conf=thr))
        if a.openvino:
            runs['predict_volume_openvino'].append(run_engine('openvino', a.onnx, vol, a.threads, conf=thr))
            runs['predict_volume_openvino_bf16'].append(run_engine('openvino-bf16', a.onnx, vol, a.threads, conf=thr))
    med = {k: {m: statistics.median(r[m] for r in v) for m in ('wall', 'cpu')} for k, v in runs.items()}
    gf, peak = model_gflops(a.pt, Detector.load(a.onnx).imgsz), cpu_peak_gflops()
    sc = {k: np.array(v[0]['scores']) for k, v in runs.items()}
    flags = cpu_flags()
    ul = med['ultralytics']
    res = dict(slices=n, slice_px=list(side), threads=a.threads, repeats=a.repeats, gflop_per_slice=gf, threshold=thr,
               int8_model=str(int8) if built else rel_path(a.int8), int8_built_for_this_run=built)
    for k in names:
        m, fw = med[k], runs[k][0]['forward']
        res[k] = dict(wall_s=round(m['wall'], 2), cpu_s=round(m['cpu'], 2), forward_passes=fw,
                      gflop_s=round(gf*n/m['wall'], 1),                               # slices handled per second, as GFLOP
                      gflop_per_cpu_s=round(gf*fw/m['cpu'], 1))                      # arithmetic actually done per core-second
        if k != 'ultralytics':
            res[k].update(speedup_cpu=round(ul['cpu']/m['cpu'], 2), speedup_wall=round(ul['wall']/m['wall'], 2),
                          not_scored_slices=runs[k][0]['not_scored'], profile_cpu_s=runs[k][0].get('profile_cpu_s'),
                          vs_ultralytics=_compare(sc['ultralytics'], sc[k], thr))
    for k in names[2:]: res[k]['vs_float'] = _compare(sc['predict_volume'], sc[k], thr)
    for k in names[1:]:                                                   # the network alone, at no other cost: the most this engine could reach
        if (pc := res[k].get('profile_cpu_s')): res[k]['ceiling_cpu'] = round(ul['cpu']/pc['network'], 2)
    res['int8_over_float'] = dict(cpu=round(med['predict_volume']['cpu']/med['predict_volume_int8']['cpu'], 2),
                                  wall=round(med['predict_volume']['wall']/med['predict_volume_int8']['wall'], 2))
    res.update(peak_gflop_s=dict(fp32=round(peak['fp32']*a.threads, 1), int8=round(peak['int8']*a.threads, 1)),
               peak_gflop_s_per_core=dict(fp32=peak['fp32'], int8=peak['int8']), peak_how=peak['how'], cpu_flags=flags,
               load_average=dict(start=[round(x, 2) for x in load0], end=[round(x, 2) for x in os.getloadavg()]), nice=os.nice(0),
               **(dict(note=a.note) if a.note else {}))
    print(json.dumps(res, indent=1))
    for k in names[1:]:
        r = res[k]; pk = res['peak_gflop_s']['int8' if k.endswith('int8') else 'fp32']
        print(f"\n{k}: {r['speedup_cpu']}x raw ultralytics in CPU time ({r['speedup_wall']}x wall-clock, medians of {a.repeats} alternating runs), "
              f"{r['gflop_s']} GFLOP/s of a {pk} GFLOP/s {'int8' if k.endswith('int8') else 'fp32'} peak on {a.threads} threads, "
              f"same slice calls as ultralytics: {r['vs_ultralytics']['same_slice_calls']}")
    for k in names[3:]: print(f"{k} over float32 ONNX Runtime: {round(med['predict_volume']['cpu']/med[k]['cpu'], 2)}x CPU; same slice calls: {res[k]['vs_float']['same_slice_calls']}, max score gap {res[k]['vs_float']['max_score_diff_where_boxed']}")
    print(f"INT8 over float32: {res['int8_over_float']['cpu']}x CPU, {res['int8_over_float']['wall']}x wall; same slice calls: "
          f"{res['predict_volume_int8']['vs_float']['same_slice_calls']}; load average {res['load_average']}, nice {res['nice']}; CPU flags: {' '.join(flags)}")
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1) + '\n')
    return res


if __name__ == '__main__': main()
