"""Attach the calibrated drift null to the released drift reference (models/reference/drift-reference.json).

The null is measured on clean home slices the reference does not hold: the training slices of data/brain-tumor
outside the reference's random subset (image features only, no model needed). The export names no patients; one
patient's slices have consecutive figshare indices, so windows are drawn by blocks of `--block` consecutive indices
(a stand-in for patients: windows of random slices from one pool are not a safe null, see nbs/06_drift.ipynb), and
each window is compared with the reference's rows of other blocks (its patients are new to the reference).
A window holds `--per_group` random slices of each of several blocks (a monitoring batch collected over several
patients: the design benchmarks/drift_budget.py measures on LGG patients, `new`); `--sites` > 0 draws the windows in
simulated sites instead (`calibrate_null(sites=)`, measured there as `sites`, not shipped).
One null per window size; `drift_tests` picks the nearest size. Rerun after `tumor-detect drift-reference`.

    nice -n 15 .venv/bin/python tools/drift_null.py
"""
import csv, time
from pathlib import Path
import pandas as pd
from fastcore.script import call_parse
from tumor_detect.core import project_root
from tumor_detect.drift import attach_null, default_reference, image_features, load_reference, null_threshold
from tumor_detect.predict import read_image


@call_parse
def main(reference:str='', # reference .json; models/reference/drift-reference.json when empty
         data:str='data/brain-tumor', # the dataset the reference profiles (with manifest.csv)
         sizes:str='20,30,50,100,200', # window sizes calibrated
         n:int=400, # null windows per size
         block:int=20, # consecutive figshare indices per block (the stand-in for a patient)
         per_group:int=10, # slices of each block in a window (0: whole blocks)
         sites:int=0, # simulated sites per size (0: one pool)
         site_groups:int=16, # blocks per site (at least)
         level:float=0.9, # share of sites within the false-alarm budget
         seed:int=0):
    t0 = time.time(); ref_path = Path(reference) if reference else default_reference(); root = project_root()/data
    ref = load_reference(ref_path); held = set(ref.features.loc[ref.features['split'] == 'train', 'source'])
    rows = [r for r in csv.DictReader(open(root/'manifest.csv')) if r['split'] == 'train' and Path(r['file']).name not in held]
    if not rows: raise SystemExit(f'{root}/manifest.csv: no training slices outside the reference; pass --data the dataset it profiles')
    feats = pd.DataFrame([image_features(read_image(root/r['file'])) for r in rows])
    groups = [f"block{int(r['figshare_id'])//block}" if r.get('figshare_id', '').isdigit() else Path(r['file']).name for r in rows]
    fid = {Path(r['file']).name: r.get('figshare_id', '') for r in csv.DictReader(open(root/'manifest.csv'))}
    ref_groups = [f"block{int(fid[s])//block}" if fid.get(s, '').isdigit() else s for s in ref.features.loc[ref.features['split'] == 'train', 'source']]
    src = (f'{len(rows)} {data} training slices outside the reference, windows by blocks of {block} consecutive figshare '
           f'indices ({len(set(groups))} blocks{f", {per_group} slices of each" if per_group else ""}), each compared with the reference rows of other blocks')
    ref = attach_null(ref_path, feats, groups, sizes=tuple(int(s) for s in sizes.split(',')), n=n, seed=seed, source=src, reference_groups=ref_groups,
                      sites=sites, site_groups=site_groups, level=level, per_group=per_group or None)
    for d in ref.meta['null']:
        print(f"windows of {d['size']}: {len(d['min_p'])} null windows ({d.get('per_group') or 'all'} slices a block, sites: {d.get('sites') or 'none'}), "
              f"threshold {null_threshold(d):.2e}")
    print(f'{src}; {time.time() - t0:.0f} s')
