"""Proxies for the kinds of unseen data the release is judged on, built from validation patients only.

- `challenge-like`: LGG validation slices (FLAIR, T1c) as a challenge release ships them: skull removed (the
  2-D approximation of `tumor_detect.augment`, labelled boxes kept), z-score normalised, resized to 240 px.
- `t1-tumor-free`: LGG validation T1 (before contrast) tumor-free slices, the closest local stand-in for healthy
  volunteers' T1 scans, also downsampled to half resolution and back (thick-slice / 2 mm look).
The first proxy uses the same transforms the training augmentation draws, so it is optimistic for a model trained
with them; it is a fair test only for a model trained without them (the v3 reference). Prints a table per model.

    python benchmarks/proxies.py models/reference/best.pt runs/v4/best.pt --out models/reference/proxies.json
"""
import argparse, csv, json
from pathlib import Path
import numpy as np
from PIL import Image
from tumor_detect.core import project_root, rel_path
from tumor_detect.augment import skull_strip, challenge_normalise, _keep_mask
from tumor_detect.release import group_table, table_md

def _boxes(lbl:Path) -> list:
    return [list(map(float, l.split()[1:5])) for l in lbl.read_text().splitlines() if l.strip()] if lbl.exists() else []

def build(root:Path) -> tuple:
    rows = [r for r in csv.DictReader(open(root/'manifest.csv')) if r['split'] == 'valid' and r['source'] == 'lgg']
    ims, y, grp, pts = [], [], [], []
    for r in rows:
        f = root/r['file']; lbl = root/'valid'/'labels'/(f.stem + '.txt'); b = _boxes(lbl)
        g = np.asarray(Image.open(f).convert('L'), np.float32)/255
        if r['sequence'] in ('flair', 't1c'):
            c = challenge_normalise(skull_strip(g, _keep_mask(g.shape, b)), None)
            c = np.asarray(Image.fromarray((c*255 + .5).astype(np.uint8)).resize((240, 240), Image.BILINEAR))
            ims.append(c); y.append(bool(b)); grp.append(f"challenge-like/{r['sequence']}"); pts.append(r['patient'])
        if r['sequence'] == 't1' and not b:
            h, w = g.shape; lo = Image.fromarray((g*255 + .5).astype(np.uint8)).resize((w//2, h//2), Image.BILINEAR).resize((w, h), Image.BILINEAR)
            ims.append(np.asarray(lo)); y.append(False); grp.append('t1-tumor-free/2x-downsampled'); pts.append(r['patient'])
    return ims, np.array(y), np.array(grp), pts

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('weights', nargs='+'); ap.add_argument('--data', default='data/multisource'); ap.add_argument('--out', default='')
    a = ap.parse_args()
    from tumor_detect.operating import read_stamp, scores_embeddings
    from tumor_detect.predict import Detector
    ims, y, grp, pts = build(project_root()/a.data); res = {}
    for w in a.weights:
        s, _ = scores_embeddings(Detector.load(w), [np.repeat(i[..., None], 3, 2) for i in ims], 16)
        thr = float(read_stamp(w).get('threshold', 0.25)); tab = group_table(s, y, grp, thr, pts, n_boot=300)
        res[rel_path(w)] = dict(threshold=thr, table=tab); print(rel_path(w), f'threshold {thr:.3f}'); print(table_md(tab, 'proxy'))
    if a.out: Path(a.out).write_text(json.dumps(res, indent=1) + '\n')

if __name__ == '__main__': main()
