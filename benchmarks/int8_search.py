"""INT8 recipes of `quantize_onnx` against float32, on valid slices spread over every source: the precision guard's fields and per-source verdicts.

Each candidate is a set of `quantize_onnx` arguments; every candidate is built (calibrated on the training folder), then
the float32 model and each candidate score the same valid slices once (conf 0.001), and the guard's figures are computed
from those answers (mAP50-95 delta, served boxes agreeing at the model's threshold, worst / p99 confidence gap, slice
verdict and OOD flips), with sensitivity and specificity of the slice verdict per source (from manifest.csv). Speed is
`benchmarks/bench_volume.py`'s business (build the chosen model with `tumor-detect quantize`, then run it).

    python benchmarks/int8_search.py                          # 400 valid slices (100 brain-tumor, 200 LGG, 50 + 50 Br35H), every candidate
    python benchmarks/int8_search.py --full --only per_tail symmetric --json /tmp/int8.json
"""
import argparse, collections, csv, json, tempfile, time
from pathlib import Path

CANDIDATES = {
    'per_tail': {},                                                          # the default recipe
    'symmetric': dict(symmetric_ranges=True),                                # the recipe before session 6
    'per_tail_cls_float': dict(exclude=[r'/model\.22/cv3\.\d+/cv3\.\d+\.[01]/']),
    'per_tail_conv_only': dict(op_types=['Conv']),
    'head_float': dict(head=False),
    'pct99.99': dict(symmetric_ranges=True, percentile=99.99),
    'per_tail_pct99.9999': dict(percentile=99.9999),
    'minmax': dict(method='minmax'),
    'symmetric_activations': dict(symmetric_activations=True),
    'reduce_range': dict(reduce_range=True, symmetric_ranges=True),
    'qoperator': dict(fmt='QOperator'),
}


def _subset(ms:Path, per_source:dict) -> list:
    from tumor_detect.serving import _spread
    rows = [r for r in csv.DictReader(open(ms/'manifest.csv')) if r['split'] == 'valid']
    return sum((_spread([ms/r['file'] for r in rows if r['source'] == s], k) for s, k in per_source.items()), [])


def _sens_spec(results:list, labels:Path, source:dict) -> dict:
    "Slice verdicts per source: tumor slices called tumor (sens), tumor-free slices called tumor-free (spec)."
    t = collections.defaultdict(lambda: [0, 0, 0, 0])
    for r in results:
        lab = labels/f'{Path(r.source).stem}.txt'; pos = lab.exists() and lab.read_text().strip() != ''
        c = t[source.get(Path(r.source).name, '?')]
        if pos: c[0] += bool(r.tumor_present); c[1] += 1
        else: c[2] += not r.tumor_present; c[3] += 1
    return {s: dict(sens=f'{c[0]}/{c[1]}', spec=f'{c[2]}/{c[3]}') for s, c in sorted(t.items())}


def main(argv=None):
    from tumor_detect.core import project_root
    from tumor_detect.predict import Detector
    from tumor_detect.readers import _expand
    from tumor_detect.serving import guard_figures, quantize_onnx
    ref = project_root()/'models'/'reference'/'best.onnx'; ms = project_root()/'data'/'multisource'
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--onnx', default=str(ref)); ap.add_argument('--data', default=str(ms), help='combined dataset (manifest.csv, train/, valid/)')
    ap.add_argument('--full', action='store_true', help='every valid slice instead of 400 spread over the sources')
    ap.add_argument('--only', nargs='*', default=None, help=f"candidates to run (default all: {', '.join(CANDIDATES)})")
    ap.add_argument('--n-calib', type=int, default=192); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--json', default='', help='also write the results here')
    a = ap.parse_args(argv); ms = Path(a.data); labels = ms/'valid'/'labels'
    files = sorted(_expand(ms/'valid'/'images')) if a.full else _subset(ms, {'brain-tumor': 100, 'lgg': 200, 'br35h-no-tumor': 50, 'br35h-tumor': 50})
    source = {Path(r['file']).name: r['source'] for r in csv.DictReader(open(ms/'manifest.csv')) if r['split'] == 'valid'}
    ra = Detector.load(a.onnx, threads=a.threads)(files, conf=0.001)
    out = dict(n_images=len(files), fp32=dict(sens_spec=_sens_spec(ra, labels, source)))
    d = Path(tempfile.mkdtemp())
    for name in a.only or list(CANDIDATES):
        kw = CANDIDATES[name]; t = time.time()
        q = quantize_onnx(a.onnx, ms/'train'/'images', d/f'{name}.onnx', n_calib=a.n_calib, **kw)
        rb = Detector.load(q, threads=a.threads)(files, conf=0.001)
        g = guard_figures(ra, rb, labels, serve_conf=ra[0].threshold or 0.25)
        keep = ('map50_95_ref', 'map_delta', 'n_boxes', 'boxes_agree', 'max_conf_gap', 'p99_conf_gap', 'median_conf_gap', 'verdict_flips', 'ood_flips', 'passed')
        out[name] = dict(args=kw, **{k: g[k] for k in keep}, sens_spec=_sens_spec(rb, labels, source), seconds=round(time.time() - t))
        print(name, json.dumps(out[name]), flush=True)
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1) + '\n')
    return out


if __name__ == '__main__': main()
