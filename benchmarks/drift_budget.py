"""False-alarm rate and power of the drift check with a null calibrated by patient (a benchmark, not a test).

Slices of one patient are alike, so a window of 50 slices from a few patients is not 50 independent draws and
the Bonferroni rule of `drift_tests` raises more false alarms than its budget. This run compares that rule with
the calibrated null of `tumor_detect.drift.calibrate_null`, on image features (no model needed):

- data: the LGG set (`data/lgg`), where every slice names its patient; one sequence (a stream of one kind);
- reference: image features of `--n_reference` random train slices (48 train patients);
- the null is calibrated on `--n_null` windows drawn by patient from the valid patients; false alarms are counted
  on `--n_windows` windows drawn by patient from the test patients (and on as many windows of random test slices,
  the batches the robustness sweep used): three disjoint sets of patients;
- power: the test slices of the first `--n_power` windows perturbed with each kind of
  `tumor_detect.robustness.KINDS` at the severities of the committed sweep, both rules on the same windows;
- five clean random batches and a darkened one (grey levels x 0.6) through the calibrated rule.

Writes the JSON summary to --out (models/reference/drift_budget.json is the committed run).

    nice -n 10 .venv/bin/python benchmarks/drift_budget.py --out models/reference/drift_budget.json
"""
import csv, json, subprocess, time
from pathlib import Path
import numpy as np
import pandas as pd
from fastcore.script import call_parse
from tumor_detect.core import project_root
from tumor_detect.drift import IMAGE_FEATURES, _ks, calibrate_null, drift_tests, group_windows, image_features, null_threshold
from tumor_detect.predict import read_image


def _grey(path) -> np.ndarray:
    a = read_image(path)
    return a[..., 0] if a.ndim == 3 else a   # the slices are grey; one channel keeps 600 of them small
from tumor_detect.robustness import KINDS, _wilson, perturb


def _cpu_flags() -> str:
    r = subprocess.run("grep -o -E 'avx512[a-z_0-9]*|avx2' /proc/cpuinfo | sort -u", shell=True, capture_output=True, text=True)
    return ' '.join(r.stdout.split())


def _feats(imgs) -> pd.DataFrame:
    return pd.DataFrame([image_features(a) for a in imgs])


def _rate(flags) -> dict:
    k, n = int(np.sum(flags)), len(flags)
    return dict(alarms=k, windows=n, rate=round(k/n, 4), ci95=_wilson(k, n))


@call_parse
def main(data:str='data/lgg', # normalised dataset whose manifest names each slice's patient
         sequence:str='flair', # the sequence checked (one stream)
         n_reference:int=400, # random train slices in the reference
         size:int=50, # slices per window
         n_null:int=200, # null windows (first half of the valid groups)
         n_windows:int=100, # clean windows counted for false alarms (second half)
         n_power:int=40, # windows per shifted level
         power_patients:int=6, # test patients the power windows are drawn from
         severities:str='2,5', # severities of every kind (the committed robustness sweep's)
         alpha:float=0.05, # false-alarm budget
         seed:int=0, # seed of subsets, group halves, windows and perturbations
         out:str='' # JSON summary; printed only when empty
        ):
    t0 = time.time(); root = project_root()/data
    rows = [r for r in csv.DictReader(open(root/'manifest.csv')) if r['sequence'] == sequence]
    if not rows or not all(r['patient'] for r in rows): raise SystemExit(f'{root}/manifest.csv: no {sequence} slices with a patient; pass --data data/lgg')
    by = lambda sp: sorted((r for r in rows if r['split'] == sp), key=lambda r: (r['patient'], int(r['slice'] or 0)))
    tr, val, te = by('train'), by('valid'), by('test')
    rng = np.random.default_rng(seed)
    ref_rows = [tr[i] for i in np.sort(rng.choice(len(tr), min(n_reference, len(tr)), replace=False))]
    t = time.time(); ref = _feats(_grey(root/r['file']) for r in ref_rows)
    cal = _feats(_grey(root/r['file']) for r in val); ev_imgs = [_grey(root/r['file']) for r in te]; ev = _feats(ev_imgs)
    feat_s = time.time() - t
    cal_g, ev_g = np.array([r['patient'] for r in val]), np.array([r['patient'] for r in te])
    print(f'{len(ref)} reference, {len(cal)} null ({len(set(cal_g))} patients), {len(ev)} checked ({len(set(ev_g))} patients), {feat_s:.0f} s', flush=True)
    cols = list(IMAGE_FEATURES)
    R = ref[cols].to_numpy(float)
    minp = lambda df, w: min(_ks(R[:, j], df[cols].to_numpy(float)[w, j]) for j in range(len(cols)))   # drift_tests' statistic, without pandas
    t = time.time(); nw = group_windows(cal_g, size, n_null, seed)
    null = dict(calibrate_null(ref, cal, cal_g, size=size, n=3, seed=seed, columns=cols), n=n_null, min_p=[float(minp(cal, w)) for w in nw])
    assert np.allclose(calibrate_null(ref, cal, cal_g, size=size, n=3, seed=seed, columns=cols)['min_p'], null['min_p'][:3])   # same windows, same statistic
    null_s = time.time() - t; thr = null_threshold(null, alpha)
    old = lambda df, w: minp(df, w) <= alpha/len(cols)
    new = lambda df, w: minp(df, w) < thr
    chk = lambda df, w: (old(df, w), new(df, w)) == (drift_tests(ref, df.iloc[w].reset_index(drop=True), alpha=alpha, columns=cols)['drift'],
                                                     drift_tests(ref, df.iloc[w].reset_index(drop=True), alpha=alpha, null=null)['drift'])
    by_group = group_windows(ev_g, size, n_windows, seed + 1)
    at_random = [np.sort(r.choice(len(ev), size, replace=False)) for r in [np.random.default_rng(seed + 2)] for _ in range(n_windows)]
    fa = dict(by_patient=dict(bonferroni=_rate([old(ev, w) for w in by_group]), calibrated=_rate([new(ev, w) for w in by_group])),
              random_slices=dict(bonferroni=_rate([old(ev, w) for w in at_random]), calibrated=_rate([new(ev, w) for w in at_random])))
    assert all(chk(ev, w) for w in by_group[:2] + at_random[:2])   # the fast rules give drift_tests' verdicts
    print('false alarms', json.dumps(fa), flush=True)
    sweep = {(r['kind'], float(r['severity'])): r for r in csv.DictReader(open(project_root()/'models/reference/robustness.csv'))}
    pool = np.flatnonzero(np.isin(ev_g, sorted(set(ev_g))[:power_patients]))   # power windows from a few test patients (perturbing is the cost)
    pw_w = [pool[w] for w in group_windows(ev_g[pool], size, n_power, seed + 4)]; power = []; t = time.time(); used = np.unique(np.concatenate(pw_w))
    for k in KINDS:
        for s in [float(x) for x in severities.split(',')]:
            sh = ev.copy(); sh.loc[used, :] = _feats(perturb(ev_imgs[j], k, s, seed=seed*1_000_003 + j) for j in used).set_index(used)[ev.columns]
            o, c = _rate([old(sh, w) for w in pw_w]), _rate([new(sh, w) for w in pw_w]); r = sweep.get((k, s), {})
            power.append(dict(kind=k, severity=s, home_d_map50=float(r['d_map50']) if r else None,
                              home_map50_drop=bool(r) and float(r['d_map50']) < -5.0, bonferroni=o, calibrated=c))
            print(k, s, o['rate'], c['rate'], flush=True)
    power_s = time.time() - t
    r5 = np.random.default_rng(seed + 3); five = [np.sort(r5.choice(len(ev), size, replace=False)) for _ in range(5)]
    dark = ev.copy(); dark.loc[five[0], :] = _feats(np.clip(ev_imgs[j].astype(np.float32)*0.6, 0, 255).astype(np.uint8) for j in five[0]).set_index(five[0])[ev.columns]
    bar = dict(clean=[bool(new(ev, w)) for w in five], darkened=bool(new(dark, five[0])))
    drops = [p for p in power if p['home_map50_drop']]
    summ = dict(
        command='benchmarks/drift_budget.py ' + ' '.join(f'--{k} {v}' for k, v in dict(data=data, sequence=sequence, n_reference=n_reference, size=size,
                n_null=n_null, n_windows=n_windows, n_power=n_power, power_patients=power_patients, severities=severities, alpha=alpha, seed=seed).items()),
        measured=time.strftime('%Y-%m-%d'), cpu_flags=_cpu_flags(), seconds=round(time.time() - t0, 1),
        features_s=round(feat_s, 1), null_s=round(null_s, 1), power_s=round(power_s, 1),
        design='image features; windows of whole patients (in random order, the last one cut); null of the smallest feature '
               'p-value calibrated on clean windows of the valid patients, false alarms and power on windows of the test patients; '
               'reference: train slices (three disjoint sets of patients)',
        sequence=sequence, n_reference=len(ref), n_reference_patients=len({r['patient'] for r in ref_rows}),
        n_null_slices=len(cal), n_null_patients=len(set(cal_g)), n_eval_slices=len(ev), n_eval_patients=len(set(ev_g)), size=size, alpha=alpha, columns=cols,
        n_null=n_null, threshold=thr, bonferroni_threshold=alpha/len(cols), false_alarms=fa, power=power,
        power_at_drops=dict(levels=len(drops), bonferroni_mean=round(float(np.mean([p['bonferroni']['rate'] for p in drops])), 4) if drops else None,
                            calibrated_mean=round(float(np.mean([p['calibrated']['rate'] for p in drops])), 4) if drops else None,
                            calibrated_min=min((p['calibrated']['rate'] for p in drops), default=None)),
        bar=bar, n_power_slices=len(used), null_min_p=null['min_p'],
        note='windows overlap (drawn from a pool of about 500 slices of 16 patients), so the CIs treat them as independent and are optimistic')
    txt = json.dumps(summ, indent=1)
    if out: Path(out).write_text(txt + '\n')
    print(txt[:3000])
