"""Ablations for the multi-source reference, each arm a short fine-tune from the same start, scored in one run.

--kind augment: what the MRI augmentation adds on a source the runs never train on. Every arm trains on the same
  list (home + Br35H, no LGG) and differs only in `augment`; scored on the LGG validation patients (another cohort,
  three sequences: the leave-one-source-out question), and on the challenge-like proxy of benchmarks/proxies.py
  (the same patients skull-stripped, z-scored, at 240 px) and its 2x-downsampled T1 tumor-free slices.
--kind boxes: LGG masks as one box per connected component (`data import --boxes components`) or one box around all
  (`--boxes union`); otherwise as --kind labels.
--kind labels: how LGG boxes are labelled. The arms train on the same images (home, Br35H, LGG FLAIR/T1c) with the
  LGG boxes as the untyped class `tumor` or as `glioma`; scored on LGG validation patients (agnostic image level)
  and on the home validation split (typed mAP: does the glioma class suffer from FLAIR-abnormality boxes?).

    python benchmarks/ablation.py --kind augment --start runs/reference-v4/start.pt --out models/reference/ablation.json
"""
import argparse, csv, json, time
from pathlib import Path
import numpy as np
from tumor_detect.core import project_root, rel_path
from tumor_detect.release import train_list, group_table

AUGMENT = {'none': 'none', 'mri': 'mri', 'mri without skull/normalise': 'mri,-skull,-normalise'}
LABELS = {'tumor (untyped)': 'data/multisource', 'glioma': 'data/multisource-glioma'}
BOXES = {'components': 'data/multisource', 'union': 'data/multisource-union'}

def _sens_at_spec(s, y, spec=0.9):
    if not y.any() or y.all(): return None
    return float((s[y] > np.quantile(s[~y], spec)).mean())

def _lgg_valid(root:Path) -> tuple:
    rows = [r for r in csv.DictReader(open(root/'manifest.csv')) if r['split'] == 'valid' and r['source'].startswith('lgg')]
    from tumor_detect.operating import _tumor_flags
    files = [str(root/r['file']) for r in rows]
    return files, _tumor_flags(files), np.array([f"lgg/{r['sequence']}" for r in rows]), [r['patient'] for r in rows]

def _score_lgg(w, files, y, seq, pts) -> dict:
    from tumor_detect.operating import scores_embeddings
    from tumor_detect.predict import Detector
    s, _ = scores_embeddings(Detector.load(str(w)), files, 16)
    return dict(table=group_table(s, y, seq, 0.23, pts, n_boot=300),
                sens_at_spec90={g: _sens_at_spec(s[seq == g], y[seq == g]) for g in sorted(set(seq))} | {'all': _sens_at_spec(s, y)})

def _score_proxies(w, proxies) -> list:
    from tumor_detect.operating import scores_embeddings
    from tumor_detect.predict import Detector
    ims, y, grp, pts = proxies; s, _ = scores_embeddings(Detector.load(str(w)), [np.repeat(i[..., None], 3, 2) for i in ims], 16)
    return group_table(s, y, grp, 0.23, pts, n_boot=300)

def _tiny_val(y:Path, n:int=16):
    "Point a data YAML's `val` at a few of its validation images: ultralytics validates every epoch, the arms are scored on LGG."
    import yaml
    cfg = yaml.safe_load(y.read_text()); d = y.parent; imgs = sorted((d/cfg['val']).glob('*'))[:n]
    (d/'val-tiny.txt').write_text(''.join(f'./{p.relative_to(d)}\n' for p in imgs)); cfg['val'] = 'val-tiny.txt'
    y.write_text(yaml.safe_dump(cfg, sort_keys=False))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--kind', choices=['augment', 'labels', 'boxes'], required=True)
    ap.add_argument('--start', required=True, help='model every arm starts from (.pt)')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--out', default='')
    ap.add_argument('--arms', default='', help='only these arms (comma separated); the others are kept from --out if it exists')
    a = ap.parse_args()
    from tumor_detect.train import train
    from tumor_detect.evaluate import evaluate
    arms = dict(augment=AUGMENT, labels=LABELS, boxes=BOXES)[a.kind]
    import sys; sys.path.insert(0, str(Path(__file__).parent)); from proxies import build
    proxies = build(project_root()/'data/multisource')
    res = dict(kind=a.kind, start=rel_path(a.start), epochs=a.epochs, arms={})
    out = Path(a.out or f'runs/ablation/{a.kind}.json')
    if a.arms:
        res = json.loads(out.read_text()) if out.exists() else res
        arms = {k: v for k, v in arms.items() if k in a.arms.split(',')}
    for name, v in arms.items():
        t0 = time.time()
        root = project_root()/('data/multisource' if a.kind == 'augment' else v)
        lgg = 'lgg' if a.kind == 'augment' else root.name.replace('multisource', 'lgg')
        f = {'lgg': 0, 'brain-tumor': 0.15} if a.kind == 'augment' else {
            'brain-tumor': 0.25, 'br35h-tumor': 0.5, 'br35h-no-tumor': 0.5, lgg: 0.5, f'{lgg}/t1': 0, f'{lgg}/no tumor': 0.15}
        y_train = train_list(root, f, name=f'train-ablation-{a.kind}')
        _tiny_val(y_train)                               # the arms are scored below; ultralytics' own validation is skipped
        run = f"ablation-{a.kind}-{name.split()[0].replace('/', '_')}"
        train(data=str(y_train), model=a.start, epochs=a.epochs, imgsz=320, batch=16, device='cpu', optimizer='AdamW', lr0=0.0005,
              mosaic=0.0, close_mosaic=0, flipud=0.3, scale=0.4, hsv_v=0.3, augment=v if a.kind == 'augment' else 'mri',
              plots=False, project='runs/ablation', name=run, exist_ok=True)
        w = project_root()/'runs'/'ablation'/run/'weights'/'best.pt'
        arm = dict(setting=v, train_images=sum(1 for _ in open(y_train.with_suffix('.txt'))), **_score_lgg(w, *_lgg_valid(root)))
        arm['proxies'] = _score_proxies(w, proxies)
        if a.kind != 'augment':
            m = evaluate(str(w), str(project_root()/'data/brain-tumor/data.yaml'), 'val', n_boot=0)
            arm['home'] = dict(map50=m['map50'], map50_95=m['map50_95'], per_class={k: {kk: v2 for kk, v2 in d.items() if kk in ('map50', 'map50_95')}
                               for k, d in (m.get('per_class') or {}).items()})
        arm['seconds'] = round(time.time() - t0); res['arms'][name] = arm
        print(name, {r['group']: (round(r['auc'] or 0, 3)) for r in arm['table'] + arm['proxies']}, arm.get('home', ''), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(res, indent=1) + '\n')

if __name__ == '__main__': main()
