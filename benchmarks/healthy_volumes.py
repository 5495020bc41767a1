"""Healthy skull-stripped T1 volumes through `predict_volume`, as a user would run `tumor-detect predict` on NIfTI files.

No healthy volunteer's scan is available here, but nilearn (a dev dependency) bundles the ICBM 2009a MNI152 template:
an average of 152 healthy adults' T1 scans, skull-stripped, 1 mm. It is unlike every training source (another
scanner population, an average's smooth look, skull stripping done in 3-D), so it is a fair test of false alarms on
healthy brains in a challenge-like look. Five NIfTI volumes are built from it: 1 mm, 2 mm, 1x1x3 mm thick slices,
1 mm with a smooth bias field and Rician noise, 2 mm with a gamma curve. They are variants of one average brain,
not five volunteers: read the numbers as a check, not as a rate. Slices with less than 2 % brain are left out of
the slice counts (the model never sees an empty slice: the image checks refuse it).

    python benchmarks/healthy_volumes.py models/reference/best.pt [more weights] --out models/reference/healthy_volumes.json
"""
import argparse, json, tempfile
from pathlib import Path
import numpy as np
from tumor_detect.core import rel_path

def volumes(d:Path) -> dict:
    "The five NIfTI variants of the MNI152 template, written under `d`; name -> (path, the array written)."
    import nibabel as nib
    from nilearn import datasets
    t1, t2 = datasets.load_mni152_template(resolution=1), datasets.load_mni152_template(resolution=2)
    a1, a2 = np.asarray(t1.dataobj, np.float32), np.asarray(t2.dataobj, np.float32)
    rng = np.random.default_rng(0)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in a1.shape], indexing='ij')
    bias = np.exp(0.25*x - 0.2*y + 0.15*z + 0.2*x*y)                                  # a smooth receive-coil field
    sd = 0.03*a1.max(); noisy = np.hypot(a1*bias + rng.normal(0, sd, a1.shape), rng.normal(0, sd, a1.shape))*(a1 > 0)
    n3 = a1.shape[2]//3; thick = a1[:, :, :3*n3].reshape(*a1.shape[:2], n3, 3).mean(3)
    aff3 = t1.affine.copy(); aff3[:3, 2] *= 3
    out = {'mni152-1mm': (a1, t1.affine), 'mni152-2mm': (a2, t2.affine), 'mni152-1x1x3mm': (thick, aff3),
           'mni152-1mm-bias-noise': (noisy.astype(np.float32), t1.affine), 'mni152-2mm-gamma': ((a2/a2.max())**1.6, t2.affine)}
    paths = {}
    for k, (a, aff) in out.items():
        p = d/f'{k}.nii.gz'; nib.save(nib.Nifti1Image(a.astype(np.float32), aff), str(p)); paths[k] = (p, a)
    return paths

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('weights', nargs='+'); ap.add_argument('--out', default='')
    a = ap.parse_args()
    from tumor_detect.predict import Detector, predict_volume
    res = {}
    with tempfile.TemporaryDirectory() as d:
        vols = volumes(Path(d))
        for w in a.weights:
            det, rows = Detector.load(w), {}
            for k, (p, arr) in vols.items():
                v = predict_volume(det, p); brain = (arr > 0).mean((0, 1)) >= 0.02      # slices with brain (axial: the last axis)
                called = [r.frame for r in v.slices if r.tumor_present]
                rows[k] = dict(n_slices=len(v.slices), brain_slices=int(brain.sum()),
                               called_tumor=len(called), called_share=round(len(called)/max(int(brain.sum()), 1), 4),
                               slices_called=called, series_tumor=bool(v.series['tumor_present']), series_score=v.series.get('score'),
                               ood_slices=int(sum(bool(r.is_ood) for r in v.slices if r.score is not None)),
                               refused=int(sum(bool(r.refused) for r in v.slices)))
                print(f"{rel_path(w)} {k}: {rows[k]['called_tumor']}/{rows[k]['brain_slices']} brain slices called tumor,"
                      f" series {'TUMOR' if rows[k]['series_tumor'] else 'no tumor'}, OOD warnings {rows[k]['ood_slices']}")
            n = sum(r['series_tumor'] for r in rows.values())
            res[rel_path(w)] = dict(threshold=det.threshold, series_rule=det.stamp.get('series'), volumes=rows,
                                    volumes_called_tumor=f'{n}/{len(rows)}',
                                    slices_called_share=round(sum(r['called_tumor'] for r in rows.values())/sum(r['brain_slices'] for r in rows.values()), 4))
            print(f"{rel_path(w)}: {n}/{len(rows)} healthy volumes called tumor; {res[rel_path(w)]['slices_called_share']:.1%} of brain slices")
    if a.out: Path(a.out).write_text(json.dumps(res, indent=1) + '\n')

if __name__ == '__main__': main()
