"""Benchmark and evaluate drift detection (a benchmark, not a test).

1. Throughput: image features alone, the detector alone, and the detector with features and backbone embeddings
   captured in the same forward pass (slices/s), on real slices.
2. Detection: the valid split is cut in two by blocks of 20 consecutive figshare indices (patients stay on one
   side). A reference profile of `--n_ref` training slices plus valid half A (the held-out prediction reference);
   a pool of `--pool` slices of valid half B; `--trials` batches of `--batch` drawn from the pool must pass
   (false-alarm rate), and the same batches after scanner-like perturbations should be flagged (detection rate),
   with image + prediction features and embeddings, and without embeddings.

    .venv/bin/python benchmarks/bench_drift.py --weights models/reference/best.pt --data data/brain-tumor/data.yaml
"""
import json, tempfile, time
from pathlib import Path
import numpy as np
from fastcore.script import call_parse
from tumor_detect.core import lazy
from tumor_detect.drift import (_read_items, build_reference, evaluate_detection, features_and_embeddings,
                                image_features, load_reference, perturb, _split_images)
from tumor_detect.predict import Detector, default_weights

CONDS = dict(brightness=(0.05, 0.1, 0.2), contrast=(0.1, 0.2), noise=(2, 4, 8), blur=(0.5, 1.0, 2.0))

def _rate(n, secs): return round(n/secs, 1)

def valid_halves(data:Path, dest:Path) -> tuple:
    "A dataset view at `dest` (train, and valid half A as held-out split) and the image files of valid half B."
    fs = sorted(_split_images(data, 'valid').resolve().iterdir()); blk = lambda f: int(f.name.split('_')[0])//20 % 2
    (dest/'valid'/'images').mkdir(parents=True); (dest/'train').mkdir(); (dest/'train'/'images').symlink_to(_split_images(data, 'train').resolve())
    for f in fs:
        if blk(f) == 0: (dest/'valid'/'images'/f.name).symlink_to(f)
    (dest/'data.yaml').write_text('names: [glioma, meningioma, pituitary]\nnc: 3\ntrain: train/images\nval: valid/images\n')
    return dest/'data.yaml', [(f.name, f) for f in fs if blk(f) == 1]

@call_parse
def main(weights:str='', # .pt model; default models/reference/best.pt
         data:str='data/brain-tumor/data.yaml', # dataset (train split: reference; valid split: pool)
         n_ref:int=400, # reference slices (random subset of train)
         pool:int=200, # held-out slices to draw batches from
         batch:int=50, # slices per tested batch
         trials:int=30, # batches per condition
         n_speed:int=64, # slices timed for throughput
         out:str='' # also write the results as JSON here
        ):
    pd = lazy('pandas'); w = Path(weights or default_weights(prefer='pt')); det = Detector.load(w)
    tmp = Path(tempfile.mkdtemp()); view, val = valid_halves(Path(data), tmp/'data')
    rng = np.random.default_rng(0); pick = sorted(rng.choice(len(val), min(pool, len(val)), replace=False))
    items = _read_items([val[i] for i in pick])
    imgs = [a for _, _, a in items]
    # throughput
    sp = imgs[:n_speed]; det(sp[:4])
    t = time.perf_counter(); [image_features(a) for a in sp]; t_feat = time.perf_counter() - t
    t = time.perf_counter(); det(sp); t_det = time.perf_counter() - t
    t = time.perf_counter(); features_and_embeddings(det, sp); t_all = time.perf_counter() - t
    speed = dict(size=f'{sp[0].shape[1]}x{sp[0].shape[0]}', features_only=_rate(len(sp), t_feat), detector_only=_rate(len(sp), t_det),
                 detector_features_embeddings=_rate(len(sp), t_all), features_ms=round(t_feat/len(sp)*1000, 2))
    print('throughput (slices/s):', speed)
    # reference and pool
    t = time.perf_counter()
    ref_json = build_reference(w, view, tmp/'drift-reference', n=n_ref)
    ref = load_reference(ref_json); t_ref = time.perf_counter() - t
    clean, clean_emb = features_and_embeddings(det, imgs)
    shifted, embs = {}, {'reference': ref.embeddings, 'clean': clean_emb}
    for k, ss in CONDS.items():
        for s in ss:
            c = f'{k} {s}'
            shifted[c], embs[c] = features_and_embeddings(det, [perturb(a, k, s, seed=j) for j, a in enumerate(imgs)])
    rows = evaluate_detection(ref, clean, shifted, batch=batch, trials=trials, embeddings=embs)
    rows_feat = evaluate_detection(ref.features, clean, shifted, batch=batch, trials=trials)
    for r, q in zip(rows, rows_feat): r['flagged_without_embeddings'] = q['flagged']
    print(f'reference: {ref.meta["splits"]} slices in {t_ref:.0f} s')
    print(pd.DataFrame(rows).to_markdown(index=False) if hasattr(pd.DataFrame, 'to_markdown') else pd.DataFrame(rows))
    if out: Path(out).write_text(json.dumps(dict(speed=speed, detection=rows, n_ref=n_ref, pool=len(imgs), batch=batch, trials=trials), indent=1))
