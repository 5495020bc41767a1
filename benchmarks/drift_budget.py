"""False-alarm rate and power of the drift check with a null calibrated by patient (a benchmark, not a test).

Slices of one patient are alike, so a window of 50 slices from a few patients is not 50 independent draws and
the Bonferroni rule raises far more false alarms than its budget. This run measures three rules on image features
(no model needed) on the LGG set (`data/lgg`), where every slice names its patient, one sequence at a time:

- **new** (the design `attach_null` ships): reference = `--n_reference` random slices of all train patients;
  null = `--n_null` windows drawn by patient in `--sites` simulated sites of `--site_patients` patients resampled
  with replacement from all train and valid patients (64), each window compared with the reference rows of *other*
  patients (`calibrate_null(reference_groups=)`: its patients are new to the reference, as checked patients will
  be); threshold: the one that keeps at most alpha of a site's windows in `--level` of the sites
  (`calibrate_null(sites=)`); the statistic is a window's smallest feature p-value;
- **previous** (the committed run before it): the same reference and statistic, null = `--n_null` windows drawn
  by patient from one pool of all train and valid patients, threshold its alpha quantile;
- **bonferroni**: the same reference, alpha / 16 per feature;
- false alarms on `--n_windows` windows of the test patients (never in a reference or a null), drawn by patient
  and as many of random test slices: the same windows for every rule; 95 % CIs by Wilson over windows and by
  patient-cluster bootstrap (`cluster_ci`: windows share patients), pooled over the sequences too (a patient is one
  cluster in every sequence);
- power: the slices of the first `--n_power` test windows (from `--power_patients` test patients) perturbed with
  each kind of `tumor_detect.robustness.KINDS` at the severities of the committed sweep, every rule on the same
  windows; the bar: five clean random test batches and one darkened (grey levels x 0.5), new rule;
- `--confirm`: other sequences (streams never looked at while choosing the design), false alarms only.

Writes the JSON summary to --out (models/reference/drift_budget.json is the committed run).

    nice -n 15 .venv/bin/python benchmarks/drift_budget.py --out models/reference/drift_budget.json
"""
import csv, json, subprocess, time
from pathlib import Path
import numpy as np
import pandas as pd
from fastcore.script import call_parse
from tumor_detect.core import project_root
from tumor_detect.drift import IMAGE_FEATURES, _ks, calibrate_null, cluster_ci, drift_tests, group_windows, image_features, null_threshold
from tumor_detect.predict import read_image
from tumor_detect.robustness import KINDS, _wilson, perturb


def _grey(path) -> np.ndarray:
    a = read_image(path)
    return a[..., 0] if a.ndim == 3 else a   # the slices are grey; one channel keeps them small


def _cpu_flags() -> str:
    r = subprocess.run("grep -o -E 'avx512[a-z_0-9]*|avx2' /proc/cpuinfo | sort -u", shell=True, capture_output=True, text=True)
    return ' '.join(r.stdout.split())


def _feats(imgs) -> pd.DataFrame:
    return pd.DataFrame([image_features(a) for a in imgs])


def _rate(flags, pats=None) -> dict:
    "Alarms, rate, Wilson CI over windows and (given the patients of each window) the patient-cluster bootstrap CI."
    k, n = int(np.sum(flags)), len(flags)
    return dict(alarms=k, windows=n, rate=round(k/n, 4), ci95=_wilson(k, n), **({'ci95_patients': cluster_ci(flags, pats)} if pats is not None else {}))


def _rows(root:Path, sequence:str) -> dict:
    rows = [r for r in csv.DictReader(open(root/'manifest.csv')) if r['sequence'] == sequence]
    if not rows or not all(r['patient'] for r in rows): raise SystemExit(f'{root}/manifest.csv: no {sequence} slices with a patient; pass --data data/lgg')
    return {sp: sorted((r for r in rows if r['split'] == sp), key=lambda r: (r['patient'], int(r['slice'] or 0))) for sp in ('train', 'valid', 'test')}


class Rules:
    "The three rules of one sequence: references, nulls and thresholds (fast min-p, checked against `drift_tests`)."
    def __init__(self, root, rows, n_reference, size, n_null, alpha, seed, cols, sites=20, site_patients=16, level=0.9):
        tr, val, te = rows['train'], rows['valid'], rows['test']; rng = np.random.default_rng(seed); self.cols, self.alpha = cols, alpha
        null_rows = tr + val   # every train and valid patient; a window is compared with the reference rows of other patients
        new_ref = [tr[i] for i in np.sort(rng.choice(len(tr), min(n_reference, len(tr)), replace=False))]
        feat = {}
        def F(rs): 
            for r in rs:
                if r['file'] not in feat: feat[r['file']] = image_features(_grey(root/r['file']))
            return pd.DataFrame([feat[r['file']] for r in rs])
        t = time.time(); self.ref = F(new_ref); cal = F(null_rows)
        self.ev_imgs = [_grey(root/r['file']) for r in te]; self.ev = _feats(self.ev_imgs); self.features_s = time.time() - t
        self.ev_g = np.array([r['patient'] for r in te])
        t = time.time()
        pg, rg = [r['patient'] for r in null_rows], [r['patient'] for r in new_ref]
        self.null = calibrate_null(self.ref, cal, pg, size=size, n=n_null, seed=seed, columns=cols, reference_groups=rg,
                                   sites=sites, site_groups=site_patients, level=level)
        self.old_null = calibrate_null(self.ref, cal, pg, size=size, n=n_null, seed=seed, columns=cols, reference_groups=rg)
        self.null_s = time.time() - t
        self.thr, self.old_thr = null_threshold(self.null, alpha), null_threshold(self.old_null, alpha)
        self.R = self.ref[cols].to_numpy(float)
        self.info = dict(n_reference=len(new_ref), n_reference_patients=len({r['patient'] for r in new_ref}), n_null_slices=len(null_rows),
                         n_null_patients=len({r['patient'] for r in null_rows}), n_null=len(self.null['min_p']), sites=sites,
                         site_patients=self.null['site_groups'], level=level, threshold=self.thr,
                         previous=dict(n_null=len(self.old_null['min_p']), threshold=self.old_thr, windows='one pool of all train and valid patients'),
                         bonferroni_threshold=alpha/len(cols), n_eval_slices=len(te), n_eval_patients=len(set(self.ev_g)))
    def minp(self, R, df, w): 
        X = df[self.cols].to_numpy(float)
        return min(_ks(R[:, j], X[w, j]) for j in range(len(self.cols)))
    def flags(self, df, w) -> dict:
        p = self.minp(self.R, df, w)
        return dict(new=p < self.thr, previous=p < self.old_thr, bonferroni=p <= self.alpha/len(self.cols))
    def check(self, df, w):   # the fast rules give drift_tests' verdicts
        cur = df.iloc[w].reset_index(drop=True); f = self.flags(df, w)
        assert f['new'] == drift_tests(self.ref, cur, null=self.null)['drift'] and f['previous'] == drift_tests(self.ref, cur, null=self.old_null)['drift']
        assert f['bonferroni'] == drift_tests(self.ref, cur, alpha=self.alpha, columns=self.cols, null=False)['drift']
    def false_alarms(self, n_windows, size, seed) -> dict:
        by_group = group_windows(self.ev_g, size, n_windows, seed + 1)
        r = np.random.default_rng(seed + 2); at_random = [np.sort(r.choice(len(self.ev), size, replace=False)) for _ in range(n_windows)]
        for w in by_group[:2] + at_random[:2]: self.check(self.ev, w)
        out = {}
        for name, ws in dict(by_patient=by_group, random_slices=at_random).items():
            fl, pats = [self.flags(self.ev, w) for w in ws], [sorted(set(self.ev_g[w])) for w in ws]
            out[name] = {k: _rate([f[k] for f in fl], pats) for k in ('new', 'previous', 'bonferroni')}
            out[name]['flags'] = {k: [bool(f[k]) for f in fl] for k in ('new', 'previous', 'bonferroni')}; out[name]['patients'] = pats
            if name == 'by_patient':   # the effective sample is the test patients: which of them the alarming windows hold
                pats = sorted(set(self.ev_g)); share = {}
                for p in pats:
                    mine = [f['new'] for f, w in zip(fl, ws) if p in set(self.ev_g[w])]
                    if mine: share[p] = round(float(np.mean(mine)), 3)
                out[name]['new_alarm_share_by_patient'] = {p: v for p, v in share.items() if v > 0}
                out[name]['n_patients'] = len(pats)
        return out


@call_parse
def main(data:str='data/lgg', # normalised dataset whose manifest names each slice's patient
         sequence:str='flair', # the sequence measured fully (false alarms, power, bar)
         confirm:str='t1c,t1', # other sequences: false alarms only (comma-separated; empty: none)
         n_reference:int=300, # random slices of the reference patients in the reference
         size:int=50, # slices per window
         n_null:int=400, # null windows
         n_windows:int=100, # clean test windows of each kind counted for false alarms
         n_power:int=20, # windows per shifted level
         power_patients:int=6, # test patients the power windows are drawn from
         severities:str='2,5', # severities of every kind (the committed robustness sweep's)
         alpha:float=0.05, # false-alarm budget
         sites:int=20, # simulated sites of the new null
         site_patients:int=16, # patients per site (the size of the LGG test split)
         level:float=0.9, # share of sites that must keep the budget
         seed:int=0, # seed of subsets, patient halves, windows and perturbations
         out:str='' # JSON summary; printed only when empty
        ):
    t0 = time.time(); root = project_root()/data; cols = list(IMAGE_FEATURES)
    ru = Rules(root, _rows(root, sequence), n_reference, size, n_null, alpha, seed, cols, sites, site_patients, level)
    print(f"{sequence}: {ru.info['n_reference']} reference ({ru.info['n_reference_patients']} patients), null {ru.info['n_null_slices']} slices "
          f"({ru.info['n_null_patients']} patients), {ru.info['n_eval_slices']} checked ({ru.info['n_eval_patients']} patients), {ru.features_s:.0f} s", flush=True)
    fa = ru.false_alarms(n_windows, size, seed); print('false alarms', json.dumps({k: {r: v[r] for r in ('new', 'previous')} for k, v in fa.items()}), flush=True)
    sweep = {(r['kind'], float(r['severity'])): r for r in csv.DictReader(open(project_root()/'models/reference/robustness.csv'))}
    pool = np.flatnonzero(np.isin(ru.ev_g, sorted(set(ru.ev_g))[:power_patients]))   # power windows from a few test patients (perturbing is the cost)
    pw_w = [pool[w] for w in group_windows(ru.ev_g[pool], size, n_power, seed + 4)]; power = []; t = time.time(); used = np.unique(np.concatenate(pw_w))
    for k in KINDS:
        for s in [float(x) for x in severities.split(',')]:
            sh = ru.ev.copy(); sh.loc[used, :] = _feats(perturb(ru.ev_imgs[j], k, s, seed=seed*1_000_003 + j) for j in used).set_index(used)[ru.ev.columns]
            fl = [ru.flags(sh, w) for w in pw_w]; r = sweep.get((k, s), {}); pats = [sorted(set(ru.ev_g[w])) for w in pw_w]
            power.append(dict(kind=k, severity=s, home_d_map50=float(r['d_map50']) if r else None, home_map50_drop=bool(r) and float(r['d_map50']) < -5.0,
                              **{rule: _rate([f[rule] for f in fl], pats) for rule in ('new', 'previous', 'bonferroni')}))
            print(k, s, {rule: power[-1][rule]['rate'] for rule in ('new', 'previous', 'bonferroni')}, flush=True)
    power_s = time.time() - t
    r5 = np.random.default_rng(seed + 3); five = [np.sort(r5.choice(len(ru.ev), size, replace=False)) for _ in range(5)]
    dark = ru.ev.copy(); dark.loc[five[0], :] = _feats(np.round(ru.ev_imgs[j]*0.5).astype(np.uint8) for j in five[0]).set_index(five[0])[ru.ev.columns]
    bar = dict(clean=[bool(ru.flags(ru.ev, w)['new']) for w in five], darkened=bool(ru.flags(dark, five[0])['new']),
               darkened_min_p=float(ru.minp(ru.R, dark, five[0])), threshold=ru.thr)
    conf = {}
    for q in [x for x in confirm.split(',') if x]:
        rq = Rules(root, _rows(root, q), n_reference, size, n_null, alpha, seed, cols, sites, site_patients, level)
        conf[q] = dict(rq.info, false_alarms=rq.false_alarms(n_windows, size, seed))
        print(q, json.dumps({k: {r: v[r] for r in ('new', 'previous')} for k, v in conf[q]['false_alarms'].items()}), flush=True)
    allfa = [fa] + [c['false_alarms'] for c in conf.values()]   # pooled over the sequences: a patient is one cluster in all of them
    pooled = {w: {rule: _rate(sum((f[w]['flags'][rule] for f in allfa), []), sum((f[w]['patients'] for f in allfa), []))
                  for rule in ('new', 'previous', 'bonferroni')} for w in ('by_patient', 'random_slices')}
    drops = [p for p in power if p['home_map50_drop']]
    mean = lambda ps, rule: round(float(np.mean([p[rule]['rate'] for p in ps])), 4) if ps else None
    summ = dict(
        command='benchmarks/drift_budget.py ' + ' '.join(f'--{k} {v}' for k, v in dict(data=data, sequence=sequence, confirm=confirm, n_reference=n_reference,
                size=size, n_null=n_null, n_windows=n_windows, n_power=n_power, power_patients=power_patients, severities=severities, alpha=alpha,
                sites=sites, site_patients=site_patients, level=level, seed=seed).items()),
        measured=time.strftime('%Y-%m-%d'), cpu_flags=_cpu_flags(), seconds=round(time.time() - t0, 1),
        features_s=round(ru.features_s, 1), null_s=round(ru.null_s, 1), power_s=round(power_s, 1),
        design=f'image features; statistic: a window\'s smallest feature p-value; reference: {n_reference} slices of the train patients; '
               f'new: null of windows drawn by patient in {sites} simulated sites of {site_patients} train/valid patients resampled with replacement, '
               f'each window compared with the reference rows of other patients, threshold kept within alpha by {level:.0%} of the sites; '
               'previous (the committed run before): null of windows drawn by patient from one pool of the train and valid patients, threshold its '
               'alpha quantile; false alarms and power on windows of the test patients (in no reference and no null); the site design and its '
               'level were chosen by patient-fold cross-fitting of the train and valid patients, before any test window was counted',
        sequence=sequence, size=size, alpha=alpha, columns=cols, **ru.info, false_alarms=fa, pooled_false_alarms=pooled, power=power,
        power_at_drops={'levels': len(drops), **{f'{rule}_mean': mean(drops, rule) for rule in ('new', 'previous', 'bonferroni')},
                        'new_min': min((p['new']['rate'] for p in drops), default=None)},
        power_all_levels={f'{rule}_mean': mean(power, rule) for rule in ('new', 'previous', 'bonferroni')},
        bar=bar, n_power_slices=len(used), confirm=conf, null_min_p=ru.null['min_p'],
        note='windows overlap (drawn from about 500 slices of 16 test patients): ci95 (Wilson) treats them as independent and is optimistic; '
             'ci95_patients resamples the patients (a percentile interval: 0 alarms give [0, 0], read the Wilson bound beside it)')
    txt = json.dumps(summ, indent=1)
    if out: Path(out).write_text(txt + '\n')
    print(txt[:3000])
