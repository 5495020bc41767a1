"""False-alarm rate and power of the drift check with a null calibrated by patient (a benchmark, not a test).

Slices of one patient are alike, so a window of 50 slices from a few patients is not 50 independent draws and
the Bonferroni rule raises far more false alarms than its budget. This run measures four rules on image features
(no model needed) on the LGG set (`data/lgg`), where every slice names its patient, one sequence at a time:

- **new** (the design `tools/drift_null.py` ships): reference = `--n_reference` random slices of all train patients;
  null = `--n_null` windows of `--per_patient` random slices of each of several patients (a monitoring batch collected
  over several patients), drawn from all train and valid patients (64), each compared with the reference rows of
  *other* patients (`calibrate_null(reference_groups=)`: its patients are new to the reference, as checked patients
  will be); threshold the alpha quantile; the statistic is a window's smallest feature p-value;
- **previous** (the committed run before it): the same, on windows of whole patients (two or three a window);
- **sites** (measured, not shipped): windows of whole patients in `--sites` simulated sites of `--site_patients`
  patients resampled with replacement, threshold kept by `--level` of the sites (`calibrate_null(sites=)`);
- **bonferroni**: the same reference, alpha / 16 per feature;
- false alarms on `--n_windows` windows of each kind (whole patients, several patients, random slices) of the test
  patients (never in a reference or a null): every rule on the same windows, each rule's own design under `design`;
  95 % CIs by Wilson over windows and by patient-cluster bootstrap (`cluster_ci`: windows share patients), pooled over the sequences too (a patient is one
  cluster in every sequence);
- power: the slices of `--n_power` test windows of each design (from `--power_patients` test patients) perturbed with
  each kind of `tumor_detect.robustness.KINDS` at the severities of the committed sweep, every rule on the same
  windows; the bar: five clean random test batches and one darkened (grey levels x 0.5), new rule;
- `--confirm`: other sequences, false alarms only.

Writes the JSON summary to --out (models/reference/drift_budget.json is the committed run).

    nice -n 15 .venv/bin/python benchmarks/drift_budget.py --out models/reference/drift_budget.json
"""
import csv, json, time
from pathlib import Path
import numpy as np
import pandas as pd
from fastcore.script import call_parse
from tumor_detect.core import project_root
from tumor_detect.drift import IMAGE_FEATURES, _ks, calibrate_null, cluster_ci, drift_tests, group_windows, image_features, null_threshold
from tumor_detect.predict import read_image
from tumor_detect.robustness import KINDS, _wilson, perturb
from tumor_detect.serving import cpu_flags


def _grey(path) -> np.ndarray:
    a = read_image(path)
    return a[..., 0] if a.ndim == 3 else a   # the slices are grey; one channel keeps them small


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


RULES = ('new', 'previous', 'sites', 'bonferroni')
DESIGN = dict(new='several_patients', previous='by_patient', sites='by_patient', bonferroni='by_patient')   # the windows each rule was calibrated for


class Rules:
    "The rules of one sequence: reference, nulls and thresholds (fast min-p, checked against `drift_tests`)."
    def __init__(self, root, rows, n_reference, size, n_null, alpha, seed, cols, per_patient=10, sites=20, site_patients=16, level=0.9):
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
        self.ev_g = np.array([r['patient'] for r in te]); self.per_patient = per_patient
        t = time.time()
        pg, rg = [r['patient'] for r in null_rows], [r['patient'] for r in new_ref]
        kw = dict(size=size, n=n_null, seed=seed, columns=cols, reference_groups=rg)
        self.nulls = dict(new=calibrate_null(self.ref, cal, pg, per_group=per_patient, **kw), previous=calibrate_null(self.ref, cal, pg, **kw),
                          sites=calibrate_null(self.ref, cal, pg, sites=sites, site_groups=site_patients, level=level, **kw))
        self.null_s = time.time() - t
        self.thr = {k: null_threshold(v, alpha) for k, v in self.nulls.items()}; self.thr['bonferroni'] = alpha/len(cols)
        self.R = self.ref[cols].to_numpy(float)
        self.info = dict(n_reference=len(new_ref), n_reference_patients=len({r['patient'] for r in new_ref}), n_null_slices=len(null_rows),
                         n_null_patients=len({r['patient'] for r in null_rows}), n_null=n_null, per_patient=per_patient, threshold=self.thr['new'],
                         previous=dict(threshold=self.thr['previous'], windows='whole patients, one pool of all train and valid patients'),
                         sites=dict(threshold=self.thr['sites'], sites=sites, site_patients=self.nulls['sites']['site_groups'], level=level,
                                    windows='whole patients, in simulated sites'),
                         bonferroni_threshold=alpha/len(cols), n_eval_slices=len(te), n_eval_patients=len(set(self.ev_g)))
    def minp(self, df, w):
        X = df[self.cols].to_numpy(float)
        return min(_ks(self.R[:, j], X[w, j]) for j in range(len(self.cols)))
    def flags(self, df, w) -> dict:
        p = self.minp(df, w)
        return {k: (p <= t if k == 'bonferroni' else p < t) for k, t in self.thr.items()}
    def check(self, df, w):   # the fast rules give drift_tests' verdicts
        cur = df.iloc[w].reset_index(drop=True); f = self.flags(df, w)
        for k, nl in self.nulls.items(): assert f[k] == drift_tests(self.ref, cur, null=nl)['drift'], k
        assert f['bonferroni'] == drift_tests(self.ref, cur, alpha=self.alpha, columns=self.cols, null=False)['drift']
    def windows(self, n_windows, size, seed) -> dict:
        r = np.random.default_rng(seed + 2)
        return dict(by_patient=group_windows(self.ev_g, size, n_windows, seed + 1),
                    several_patients=group_windows(self.ev_g, size, n_windows, seed + 5, per_group=self.per_patient),
                    random_slices=[np.sort(r.choice(len(self.ev), size, replace=False)) for _ in range(n_windows)])
    def false_alarms(self, n_windows, size, seed) -> dict:
        wins = self.windows(n_windows, size, seed)
        for ws in wins.values():
            for w in ws[:2]: self.check(self.ev, w)
        out = {}
        for name, ws in wins.items():
            fl, pats = [self.flags(self.ev, w) for w in ws], [sorted(set(self.ev_g[w])) for w in ws]
            out[name] = {k: _rate([f[k] for f in fl], pats) for k in RULES}
            out[name]['flags'] = {k: [bool(f[k]) for f in fl] for k in RULES}; out[name]['patients'] = pats
            out[name]['patients_a_window'] = round(float(np.mean([len(p) for p in pats])), 2)
            share = {}   # the effective sample is the test patients: which of them the alarming windows hold
            for p in sorted(set(self.ev_g)):
                mine = {k: [f[k] for f, q in zip(fl, pats) if p in q] for k in ('new', 'previous')}
                if mine['new']: share[p] = {k: round(float(np.mean(v)), 3) for k, v in mine.items()}
            out[name]['alarm_share_by_patient'] = {p: v for p, v in share.items() if max(v.values()) > 0}
        out['n_patients'] = len(set(self.ev_g))
        out['design'] = {k: out[DESIGN[k]][k] for k in RULES}   # each rule on the windows it was calibrated for
        return out


@call_parse
def main(data:str='data/lgg', # normalised dataset whose manifest names each slice's patient
         sequence:str='flair', # the sequence measured fully (false alarms, power, bar)
         confirm:str='t1c,t1', # other sequences: false alarms only (comma-separated; empty: none)
         n_reference:int=300, # random slices of the reference patients in the reference
         size:int=50, # slices per window
         n_null:int=400, # null windows
         n_windows:int=100, # clean test windows of each kind counted for false alarms
         n_power:int=20, # windows per shifted level (of each design)
         power_patients:int=6, # test patients the power windows are drawn from
         severities:str='2,5', # severities of every kind (the committed robustness sweep's)
         alpha:float=0.05, # false-alarm budget
         per_patient:int=10, # slices of each patient in a window of the new design
         sites:int=20, # simulated sites of the site null
         site_patients:int=16, # patients per site (the size of the LGG test split)
         level:float=0.9, # share of sites that must keep the budget
         seed:int=0, # seed of subsets, patient halves, windows and perturbations
         out:str='' # JSON summary; printed only when empty
        ):
    t0 = time.time(); root = project_root()/data; cols = list(IMAGE_FEATURES); args = (per_patient, sites, site_patients, level)
    ru = Rules(root, _rows(root, sequence), n_reference, size, n_null, alpha, seed, cols, *args)
    print(f"{sequence}: {ru.info['n_reference']} reference ({ru.info['n_reference_patients']} patients), null {ru.info['n_null_slices']} slices "
          f"({ru.info['n_null_patients']} patients), {ru.info['n_eval_slices']} checked ({ru.info['n_eval_patients']} patients), {ru.features_s:.0f} s", flush=True)
    fa = ru.false_alarms(n_windows, size, seed); print('false alarms', json.dumps({k: v['rate'] for k, v in fa['design'].items()}), flush=True)
    sweep = {(r['kind'], float(r['severity'])): r for r in csv.DictReader(open(project_root()/'models/reference/robustness.csv'))}
    pool = np.flatnonzero(np.isin(ru.ev_g, sorted(set(ru.ev_g))[:power_patients]))   # power windows from a few test patients (perturbing is the cost)
    pw = dict(by_patient=[pool[w] for w in group_windows(ru.ev_g[pool], size, n_power, seed + 4)],
              several_patients=[pool[w] for w in group_windows(ru.ev_g[pool], size, n_power, seed + 6, per_group=per_patient)])
    power = []; t = time.time(); used = np.unique(np.concatenate(sum(pw.values(), [])))
    for k in KINDS:
        for s in [float(x) for x in severities.split(',')]:
            sh = ru.ev.copy(); sh.loc[used, :] = _feats(perturb(ru.ev_imgs[j], k, s, seed=seed*1_000_003 + j) for j in used).set_index(used)[ru.ev.columns]
            r = sweep.get((k, s), {}); fl = {d: [ru.flags(sh, w) for w in ws] for d, ws in pw.items()}
            pats = {d: [sorted(set(ru.ev_g[w])) for w in ws] for d, ws in pw.items()}
            power.append(dict(kind=k, severity=s, home_d_map50=float(r['d_map50']) if r else None, home_map50_drop=bool(r) and float(r['d_map50']) < -5.0,
                              **{rule: _rate([f[rule] for f in fl[DESIGN[rule]]], pats[DESIGN[rule]]) for rule in RULES},
                              new_on_by_patient=_rate([f['new'] for f in fl['by_patient']], pats['by_patient'])))
            print(k, s, {rule: power[-1][rule]['rate'] for rule in RULES}, flush=True)
    power_s = time.time() - t
    r5 = np.random.default_rng(seed + 3); five = [np.sort(r5.choice(len(ru.ev), size, replace=False)) for _ in range(5)]
    dark = ru.ev.copy(); dark.loc[five[0], :] = _feats(np.round(ru.ev_imgs[j]*0.5).astype(np.uint8) for j in five[0]).set_index(five[0])[ru.ev.columns]
    bar = {rule: dict(clean=[bool(ru.flags(ru.ev, w)[rule]) for w in five], darkened=bool(ru.flags(dark, five[0])[rule])) for rule in RULES}
    bar.update(darkened_min_p=float(ru.minp(dark, five[0])), threshold=ru.thr)
    conf = {}
    for q in [x for x in confirm.split(',') if x]:
        rq = Rules(root, _rows(root, q), n_reference, size, n_null, alpha, seed, cols, *args)
        conf[q] = dict(rq.info, false_alarms=rq.false_alarms(n_windows, size, seed))
        print(q, json.dumps({k: v['rate'] for k, v in conf[q]['false_alarms']['design'].items()}), flush=True)
    allfa = [fa] + [c['false_alarms'] for c in conf.values()]   # pooled over the sequences: a patient is one cluster in all of them
    pooled = {w: {rule: _rate(sum((f[w]['flags'][rule] for f in allfa), []), sum((f[w]['patients'] for f in allfa), []))
                  for rule in RULES} for w in ('by_patient', 'several_patients', 'random_slices')}
    pooled['design'] = {rule: pooled[DESIGN[rule]][rule] for rule in RULES}
    drops = [p for p in power if p['home_map50_drop']]
    mean = lambda ps, rule: round(float(np.mean([p[rule]['rate'] for p in ps])), 4) if ps else None
    summ = dict(
        command='benchmarks/drift_budget.py ' + ' '.join(f'--{k} {v}' for k, v in dict(data=data, sequence=sequence, confirm=confirm, n_reference=n_reference,
                size=size, n_null=n_null, n_windows=n_windows, n_power=n_power, power_patients=power_patients, severities=severities, alpha=alpha,
                per_patient=per_patient, sites=sites, site_patients=site_patients, level=level, seed=seed).items()),
        measured=time.strftime('%Y-%m-%d'), cpu_flags=' '.join(cpu_flags()), seconds=round(time.time() - t0, 1),
        features_s=round(ru.features_s, 1), null_s=round(ru.null_s, 1), power_s=round(power_s, 1),
        design=f'image features; statistic: a window\'s smallest feature p-value; reference: {n_reference} slices of the train patients; every null '
               'from windows of the train and valid patients, each window compared with the reference rows of other patients, and checked on '
               'windows of the test patients (in no reference and no null); new (shipped): windows of '
               f'{per_patient} random slices of each of {size // per_patient} patients (a monitoring batch of several patients), threshold the alpha '
               'quantile of one pool; previous (the committed run before): windows of whole patients, one pool; sites (measured, not shipped): '
               f'windows of whole patients in {sites} simulated sites of {site_patients} patients resampled with replacement, threshold kept by '
               f'{level:.0%} of the sites; bonferroni: alpha/16 on windows of whole patients. The designs were compared by patient-fold '
               'cross-fitting of the train and valid patients (benchmarks/drift_crossfit.py) before any test window was counted',
        sequence=sequence, size=size, alpha=alpha, columns=cols, design_windows=DESIGN, **ru.info, false_alarms=fa, pooled_false_alarms=pooled,
        power=power, power_at_drops={'levels': len(drops), **{f'{rule}_mean': mean(drops, rule) for rule in RULES},
                                     'new_min': min((p['new']['rate'] for p in drops), default=None)},
        power_all_levels={f'{rule}_mean': mean(power, rule) for rule in RULES},
        bar=bar, n_power_slices=len(used), confirm=conf, null_min_p={k: v['min_p'] for k, v in ru.nulls.items()},
        note='windows overlap (drawn from about 500 slices of 16 test patients): ci95 (Wilson) treats them as independent and is optimistic; '
             'ci95_patients resamples the patients (a percentile interval: 0 alarms give [0, 0], read the Wilson bound beside it); each rule is '
             'reported on every kind of window, its own design under design')
    txt = json.dumps(summ, indent=1)
    if out: Path(out).write_text(txt + '\n')
    print(txt[:3000])
