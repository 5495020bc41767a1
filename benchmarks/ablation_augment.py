"""Ablation of the MRI augmentation, judged on a source the runs never train on.

Each arm fine-tunes the same start model on the same training list (home + Br35H, no LGG) with one augmentation
spec, then is scored on the LGG validation patients (another cohort, three sequences: the leave-one-source-out
question). Arms differ only in `augment`; ratios and differences come from one run of this script.

    python benchmarks/ablation_augment.py --start runs/reference-v4/start.pt --epochs 1 --out models/reference/ablation.json
"""
import argparse, csv, json, time
from pathlib import Path
import numpy as np
from tumor_detect.core import project_root, rel_path
from tumor_detect.release import train_list, group_table

ARMS = {'none': 'none', 'mri': 'mri', 'mri without skull/normalise': 'mri,-skull,-normalise',
        'mri without TorchIO parts': 'skull,normalise'}

def _sens_at_spec(s, y, spec=0.9):
    thr = np.quantile(s[~y], spec) if (~y).any() else 1.0
    return float((s[y] > thr).mean()) if y.any() else None

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--start', required=True, help='model every arm starts from (.pt)')
    ap.add_argument('--data', default='data/multisource', help='combined dataset with home, Br35H and LGG')
    ap.add_argument('--epochs', type=int, default=1); ap.add_argument('--home', type=float, default=0.25)
    ap.add_argument('--arms', default=','.join(ARMS), help='comma-separated arm names')
    ap.add_argument('--out', default='runs/ablation/ablation.json')
    a = ap.parse_args()
    from tumor_detect.train import train
    from tumor_detect.operating import scores_embeddings, _tumor_flags
    from tumor_detect.predict import Detector
    root = project_root()/a.data
    y_train = train_list(root, {'lgg': 0, 'brain-tumor': a.home}, name='train-ablation')
    rows = [r for r in csv.DictReader(open(root/'manifest.csv')) if r['split'] == 'valid' and r['source'] == 'lgg']
    files = [str(root/r['file']) for r in rows]; y = _tumor_flags(files)
    seq = np.array([f"lgg/{r['sequence']}" for r in rows]); pts = [r['patient'] for r in rows]
    res = dict(start=rel_path(a.start), train=rel_path(y_train), epochs=a.epochs, held_out='lgg valid patients', arms={})
    for name in a.arms.split(','):
        t0 = time.time(); run = f"ablation-{ARMS[name].replace(',', '_').replace('-', 'no')}"
        rec = train(data=str(y_train), model=a.start, epochs=a.epochs, imgsz=320, batch=16, device='cpu', optimizer='AdamW',
                    lr0=0.0005, mosaic=0.0, close_mosaic=0, flipud=0.3, scale=0.4, hsv_v=0.3, augment=ARMS[name],
                    plots=False, project='runs/ablation', name=run, exist_ok=True)
        w = project_root()/'runs'/'ablation'/run/'weights'/'best.pt'
        s, _ = scores_embeddings(Detector.load(str(w)), files, 16)
        tab = group_table(s, y, seq, 0.23, pts, n_boot=300)
        res['arms'][name] = dict(augment=ARMS[name], seconds=round(time.time() - t0), table=tab,
                                 sens_at_spec90={g: _sens_at_spec(s[seq == g] if g != 'all' else s, y[seq == g] if g != 'all' else y)
                                                 for g in [*sorted(set(seq)), 'all']})
        print(name, {r['group']: round(r['auc'] or 0, 3) for r in tab}, flush=True)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1) + '\n')

if __name__ == '__main__': main()
