"""OOD warning, measured: AUROC of a model's OOD score between held-out in-distribution slices and (a) another
source (Br35H) and (b) images that are not brain MRI. With `--fit` the profile is fitted here on a training split
(e.g. for a model that carries none, like the first reference); otherwise the model's stamped profile is used.

    python benchmarks/ood_auroc.py models/reference/best.pt --ref data/combined/data.yaml:val --json runs/ood.json
    python benchmarks/ood_auroc.py OLD.pt --fit data/brain-tumor/data.yaml:train --ref data/brain-tumor/data.yaml:val
"""
import argparse, json, time
from pathlib import Path
import numpy as np
from tumor_detect.evaluate import image_files, resolve_split
from tumor_detect.operating import fit_ood, nonbrain_images, ood_report, ood_threshold, scores_embeddings
from tumor_detect.predict import Detector

def files(spec:str, n:int, seed:int=0) -> list:
    "Image files of `yaml:split` or a folder, at most `n` (seeded subset)."
    y, _, s = spec.rpartition(':') if ':' in spec and not Path(spec).exists() else ('', '', spec)
    fs = image_files(resolve_split(y, s)[0] if y else s)
    return sorted(np.random.default_rng(seed).choice(fs, n, replace=False).tolist()) if len(fs) > n else fs

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('weights'); ap.add_argument('--ref', required=True, help='in-distribution held-out images: yaml:split or folder')
    ap.add_argument('--fit', default='', help='fit the profile on these (yaml:split or folder) instead of the stamped one')
    ap.add_argument('--other', action='append', default=[], help='NAME=yaml:split or NAME=folder (repeatable)')
    ap.add_argument('--n', type=int, default=400, help='most images per set'); ap.add_argument('--json', default='')
    a = ap.parse_args(); t0 = time.time()
    det = Detector.load(a.weights); ref = files(a.ref, a.n)
    if a.fit:
        prof = fit_ood(scores_embeddings(det, files(a.fit, 1000))[1]); cal, ref = ref[::2], ref[1::2]
        prof.threshold = ood_threshold(prof.score(scores_embeddings(det, cal)[1]))
        det.set_stamp(dict(det.stamp, ood=prof.to_dict()))
    others = {k: files(v, a.n) for k, v in (o.split('=', 1) for o in a.other)}
    others['not a brain MRI'] = nonbrain_images()
    rep = dict(ood_report(det, ref, others), weights=a.weights, ref=a.ref, fit=a.fit or 'stamped profile', seconds=round(time.time() - t0, 1))
    print(f"{'set':<22} {'n':>5} {'AUROC':>7} {'flagged':>8}")
    print(f"{'reference (held out)':<22} {rep['reference']['n']:>5} {'':>7} {rep['reference']['flagged']:>8.3f}")
    for k in others: print(f"{k:<22} {rep[k]['n']:>5} {rep[k]['auroc']:>7.3f} {rep[k]['flagged']:>8.3f}")
    if a.json: Path(a.json).parent.mkdir(parents=True, exist_ok=True); Path(a.json).write_text(json.dumps(rep, indent=1) + '\n')

if __name__ == '__main__': main()
