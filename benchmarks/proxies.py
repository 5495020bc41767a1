"""Proxies for the kinds of unseen data the release is judged on, built from validation patients only.

- `challenge-like`: LGG validation slices (FLAIR, T1c) as a challenge release ships them: skull removed (the
  2-D approximation of `tumor_detect.augment`, labelled boxes kept), z-score normalised, resized to 240 px.
- `t1-tumor-free`: LGG validation T1 (before contrast) tumor-free slices, the closest local stand-in for healthy
  volunteers' T1 scans, also downsampled to half resolution and back (thick-slice / 2 mm look).
Beside the slice table, the model's stamped series rule is applied per patient (slices in order, a gap in the slice
numbers breaks a run): challenge-like patients called tumor, and tumor-free T1 series (a patient's tumor-free T1
slices, the stand-in for a healthy volunteer's series) called tumor.
The first proxy uses the same transforms the training augmentation draws, so it is optimistic for a model trained
with them; it is a fair test only for a model trained without them (the v3 reference).
- `challenge-like-b`: the same slices through another pipeline the augmentation never draws (Otsu brain mask, z-score
  clipped to [-3, 3], the head shrunk to 200 px inside a 240 px frame, as challenge volumes frame it); also on the
  home validation slices (`home-challenge-b/t1c`), whose tumors enhance on T1c as the challenge's high-grade gliomas do
  (in-domain otherwise: the home split is by slice, so this row is optimistic).
- `challenge-like-x` / `home-challenge-x`: the same slices through `extract_strip` (a brain extraction cut free of the
  scalp, no rectangle kept; slices where it declines are left out) and challenge normalisation: the look of the
  'brats' augmentation part, so it is fair for models trained without it (v5 and earlier) and optimistic for v6.
Prints a table per model.

    python benchmarks/proxies.py models/reference/best.pt runs/v4/best.pt --out models/reference/proxies.json
"""
import argparse, csv, json
from pathlib import Path
import numpy as np
from PIL import Image
from tumor_detect.core import project_root, rel_path
from tumor_detect.augment import skull_strip, challenge_normalise, extract_strip, _keep_mask
from tumor_detect.release import group_table, table_md
from scipy import ndimage
from skimage.filters import threshold_otsu

def _boxes(lbl:Path) -> list:
    return [list(map(float, l.split()[1:5])) for l in lbl.read_text().splitlines() if l.strip()] if lbl.exists() else []

def other_pipeline(g:np.ndarray, keep:np.ndarray|None) -> np.ndarray:
    "A second challenge-style pipeline, unlike the training augmentation's: Otsu brain mask eroded by 9 % of its radius, z-score clipped to [-3, 3], the frame shrunk to 200 px and padded to 240."
    lab, n = ndimage.label(ndimage.gaussian_filter(g, 1) > threshold_otsu(g, nbins=256))
    m = ndimage.binary_fill_holes(lab == np.argmax(np.bincount(lab.ravel())[1:]) + 1) if n else np.ones_like(g, bool)
    r = max(1, int(round(.09*np.sqrt(m.sum()/np.pi)))); m = ndimage.binary_erosion(m, iterations=r)
    if keep is not None: m = m | keep
    v = g[m]; z = np.clip((g - v.mean())/max(float(v.std()), 1e-6), -3, 3)
    c = np.where(m, (z + 3)/6, 0)
    small = np.asarray(Image.fromarray((c*255 + .5).astype(np.uint8)).resize((200, 200), Image.BILINEAR))
    out = np.zeros((240, 240), np.uint8); out[20:220, 20:220] = small
    return out

def build(root:Path) -> tuple:
    rows = [r for r in csv.DictReader(open(root/'manifest.csv')) if r['split'] == 'valid' and r['source'] in ('lgg', 'brain-tumor')]
    ims, y, grp, pts, sl = [], [], [], [], []
    def add(im, tumor, group, patient, slice_):
        ims.append(im); y.append(tumor); grp.append(group); pts.append(patient); sl.append(slice_)
    for r in rows:
        f = root/r['file']; lbl = root/'valid'/'labels'/(f.stem + '.txt'); b = _boxes(lbl)
        g = np.asarray(Image.open(f).convert('L'), np.float32)/255
        x = extract_strip(g, _keep_mask(g.shape, b)) if r['source'] == 'brain-tumor' or r['sequence'] in ('flair', 't1c') else None
        x = None if x is None else np.asarray(Image.fromarray((challenge_normalise(x, x > 0)*255 + .5).astype(np.uint8)).resize((240, 240), Image.BILINEAR))
        if r['source'] == 'brain-tumor':                               # enhancing tumors (most are high-grade gliomas,
            add(other_pipeline(g, _keep_mask(g.shape, b)), bool(b), 'home-challenge-b/t1c', r['file'], 0)   # meningiomas, pituitary) on T1c
            if x is not None: add(x, bool(b), 'home-challenge-x/t1c', r['file'], 0)
            continue
        if r['sequence'] in ('flair', 't1c'):
            c = challenge_normalise(skull_strip(g, _keep_mask(g.shape, b)), None)
            c = np.asarray(Image.fromarray((c*255 + .5).astype(np.uint8)).resize((240, 240), Image.BILINEAR))
            add(c, bool(b), f"challenge-like/{r['sequence']}", r['patient'], int(r['slice']))
            add(other_pipeline(g, _keep_mask(g.shape, b)), bool(b), f"challenge-like-b/{r['sequence']}", r['patient'], int(r['slice']))
            if x is not None: add(x, bool(b), f"challenge-like-x/{r['sequence']}", r['patient'], int(r['slice']))
        if r['sequence'] == 't1' and not b:
            h, w = g.shape; lo = Image.fromarray((g*255 + .5).astype(np.uint8)).resize((w//2, h//2), Image.BILINEAR).resize((w, h), Image.BILINEAR)
            add(np.asarray(lo), False, 't1-tumor-free/2x-downsampled', r['patient'], int(r['slice']))
    return ims, np.array(y), np.array(grp), pts, np.array(sl)

def series(s, y, grp, pts, sl, rule:dict, thr:float) -> list:
    "Per group, the model's series rule on each patient's slices in slice order; a missing slice (another label) breaks a run."
    from tumor_detect.predict import series_verdict
    pts, out = np.array(pts), []
    for g in (g for g in dict.fromkeys(grp) if not g.startswith('home')):   # home slices have no series
        calls, tumor = [], []
        for p in dict.fromkeys(pts[grp == g]):
            i = np.flatnonzero((grp == g) & (pts == p)); full = np.zeros(sl[i].max() + 1)
            full[sl[i]] = s[i]                                          # gaps score 0: no run spans them
            calls.append(series_verdict(full, rule, thr)['tumor_present']); tumor.append(bool(y[i].any()))
        calls, tumor = np.array(calls), np.array(tumor)
        out.append(dict(group=g, n_patients=len(calls), n_tumor_patients=int(tumor.sum()), called_tumor_of_tumor=int(calls[tumor].sum()),
                        called_tumor_of_free=int(calls[~tumor].sum()), n_free_patients=int((~tumor).sum())))
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('weights', nargs='+'); ap.add_argument('--data', default='data/multisource'); ap.add_argument('--out', default='')
    a = ap.parse_args()
    from tumor_detect.operating import read_stamp, scores_embeddings
    from tumor_detect.predict import Detector
    ims, y, grp, pts, sl = build(project_root()/a.data); res = {}
    for w in a.weights:
        s, _ = scores_embeddings(Detector.load(w), [np.repeat(i[..., None], 3, 2) for i in ims], 16)
        st = read_stamp(w); thr = float(st.get('threshold', 0.25)); tab = group_table(s, y, grp, thr, pts, n_boot=300)
        ser = series(np.asarray(s, float), y, grp, pts, sl, st.get('series'), thr)
        res[rel_path(w)] = dict(threshold=thr, table=tab, series_rule=st.get('series'), series=ser)
        print(rel_path(w), f'threshold {thr:.3f}'); print(table_md(tab, 'proxy'))
        for r in ser: print(f"  series, {r['group']}: tumor patients called {r['called_tumor_of_tumor']}/{r['n_tumor_patients']},"
                            f" tumor-free series called {r['called_tumor_of_free']}/{r['n_free_patients']}")
    if a.out: Path(a.out).write_text(json.dumps(res, indent=1) + '\n')

if __name__ == '__main__': main()
