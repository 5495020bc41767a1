"""How the drift null's design was chosen: patient-fold cross-fitting of the LGG development patients (a benchmark, not a test).

Only the train and valid patients (64 a sequence) are used; the 16 test patients, on which `drift_budget.py`
counts the false alarms and the power, are never read. The development patients are split into 4 folds of 16; each
fold's clean windows (100, drawn by patient, compared with a reference of 300 train slices without any fold
patient) are checked against a null calibrated on the other 48 patients (each null window compared with the
reference rows of other patients). Two questions, every sequence:

- `statistics`: the statistic, with a null of 400 windows from one pool: the smallest feature p-value (`minp`, the
  shipped one), Fisher's sum of -log p over the features (`fisher_raw`), Fisher over per-feature p-values calibrated
  on the null windows (`fisher_cal`), the smallest calibrated p-value (`minq`, Westfall-Young);
- `calibration`: the threshold of `minp`: the alpha quantile of one pool of 400 windows (`window`, the committed
  design before) or 20 simulated sites of 16 patients resampled with replacement, 20 windows each, the threshold kept
  by 50 %, 90 % or 95 % of the sites (`site50`, `site10`, `site05`);
- `windows`: what a window holds, with a pool null of 400 such windows: `several`, 10 random slices of each of 5
  patients (a monitoring batch collected over several patients), checked on such windows of the fold (the whole-patient
  windows are `window` of `calibration`).

Site windows here drop a slice drawn twice (the shipped `site_windows` keeps both copies).
With `--power`, on FLAIR, the slices of 10 windows of 6 patients of each of the first two folds are perturbed with
every kind of `tumor_detect.robustness.KINDS` at severities 2 and 5 (the committed sweep's levels).

    nice -n 15 .venv/bin/python benchmarks/drift_crossfit.py --power --out models/reference/drift_crossfit.json
"""
import csv, json, pickle, time
from pathlib import Path
import numpy as np, pandas as pd
from fastcore.script import call_parse
from scipy.stats import ks_2samp
from tumor_detect.core import project_root
from tumor_detect.drift import IMAGE_FEATURES, group_windows, image_features
from tumor_detect.predict import read_image
from tumor_detect.robustness import KINDS, perturb
COLS = list(IMAGE_FEATURES); SIZE, NNULL, NEV, K, SITES, PER, M = 50, 400, 100, 4, 20, 20, 16


def features(root:Path, seq:str, cache:Path) -> dict:
    "Image features (and, for FLAIR, the grey slices) of one sequence, sorted by split, patient and slice; cached."
    f = cache/f'{seq}.pkl'
    if f.exists(): return pickle.load(open(f, 'rb'))
    rs = sorted((r for r in csv.DictReader(open(root/'manifest.csv')) if r['sequence'] == seq), key=lambda r: (r['split'], r['patient'], int(r['slice'] or 0)))
    imgs = []
    for r in rs:
        a = read_image(root/r['file']); imgs.append(a[..., 0] if a.ndim == 3 else a)
    d = dict(F=pd.DataFrame([image_features(a) for a in imgs]), meta=pd.DataFrame(dict(split=[r['split'] for r in rs], patient=[r['patient'] for r in rs],
             file=[r['file'] for r in rs])), imgs=imgs if seq == 'flair' else None)
    cache.mkdir(parents=True, exist_ok=True); pickle.dump(d, open(f, 'wb')); return d


def pvec(R, Rg, X, w, g):
    "Per-feature KS p-values of window `w` against the reference rows of other patients."
    keep = ~np.isin(Rg, np.unique(g[w]))
    return np.array([ks_2samp(R[keep, j], X[w, j])[1] for j in range(R.shape[1])])


def stats(P, Pnull):
    "T (larger = more drift) of each statistic for windows P (m x k), given null windows Pnull (n x k); and T of the null windows."
    n = len(Pnull); lp = lambda p: -np.log(np.maximum(p, 1e-300)); srt = np.sort(Pnull, 0)
    qn = np.stack([np.searchsorted(srt[:, j], Pnull[:, j], 'right') for j in range(P.shape[1])], 1)/(n + 1)
    qw = np.minimum(np.stack([1 + np.searchsorted(srt[:, j], P[:, j], 'right') for j in range(P.shape[1])], 1)/(n + 1), 1.0)
    fs = dict(minp=lambda p, q: lp(p.min(1)), fisher_raw=lambda p, q: lp(p).sum(1), fisher_cal=lambda p, q: lp(q).sum(1), minq=lambda p, q: lp(q.min(1)))
    return {name: (f(P, qw), f(Pnull, qn)) for name, f in fs.items()}


def thr_t(tn, alpha=0.05):
    s = np.sort(tn)[::-1]; return s[int(np.floor(alpha*(len(s) + 1))) - 1]


def site_windows(idx, g, rng):
    out, site = [], []
    for s in range(SITES):
        pick = rng.choice(np.unique(g[idx]), M, replace=True); sub, lab = [], []
        for c, p in enumerate(pick):
            m = idx[g[idx] == p]; sub.extend(m); lab.extend([f'{p}#{c}']*len(m))
        sub = np.array(sub)
        for w in group_windows(np.array(lab), SIZE, PER, int(rng.integers(1 << 30))): out.append(np.unique(sub[w])); site.append(s)
    return out, np.array(site)


def thr_window(minp, alpha=0.05):
    m = np.sort(minp); return m[int(np.floor(alpha*(len(m) + 1))) - 1]


def thr_site(minp, site, alpha=0.05, delta=0.1):
    ts = []
    for s in np.unique(site):
        m = np.sort(minp[site == s]); ts.append(m[min(int(np.floor(alpha*len(m))), len(m) - 1)])
    ts = np.sort(ts); return ts[max(int(np.floor(delta*(len(ts) + 1))) - 1, 0)]


def several(idx, g, n, seed, per=10):
    "Windows of SIZE/per patients, `per` random slices of each."
    rng = np.random.default_rng(seed); pats = np.unique(g[idx]); out = []
    for _ in range(n):
        w = []
        for p in rng.choice(pats, SIZE//per, replace=False):
            m = idx[g[idx] == p]; w.extend(rng.choice(m, min(per, len(m)), replace=False))
        out.append(np.sort(np.array(w)))
    return out


def run(d, seq, do_power, part):
    t0 = time.time(); F, meta = d['F'], d['meta']
    dev = meta['split'].isin(['train', 'valid']).to_numpy(); X = F[COLS].to_numpy(float); g = meta['patient'].to_numpy()
    tr = np.flatnonzero(meta['split'].to_numpy() == 'train'); rng = np.random.default_rng(0)
    ref = np.sort(rng.choice(tr, 300, replace=False)); R, Rg = X[ref], g[ref]
    pats = np.unique(g[dev]); folds = np.array_split(np.random.default_rng(1).permutation(pats), K)
    rules = dict(statistics=('minp', 'fisher_raw', 'fisher_cal', 'minq'), calibration=('window', 'site50', 'site10', 'site05'), windows=('several',))[part]
    fa = {r: [] for r in rules}; power = []
    for k in range(K):
        inn = np.flatnonzero(dev & np.isin(g, np.concatenate([folds[i] for i in range(K) if i != k])))
        out = np.flatnonzero(dev & np.isin(g, folds[k]))
        nw = several(inn, g, NNULL, 10 + k) if part == 'windows' else [inn[w] for w in group_windows(g[inn], SIZE, NNULL, 10 + k)]
        Pn = np.array([pvec(R, Rg, X, w, g) for w in nw])
        if part == 'windows': T = dict(several=thr_window(Pn.min(1)))
        if part == 'calibration':
            sw, site = site_windows(inn, g, np.random.default_rng(40 + k)); ps = np.array([pvec(R, Rg, X, w, g).min() for w in sw])
            T = dict(window=thr_window(Pn.min(1)), site50=thr_site(ps, site, delta=0.5), site10=thr_site(ps, site, delta=0.1), site05=thr_site(ps, site, delta=0.05))
        ew = several(out, g, NEV, 20 + k) if part == 'windows' else [out[w] for w in group_windows(g[out], SIZE, NEV, 20 + k)]
        Rk, Rgk = R[~np.isin(Rg, folds[k])], Rg[~np.isin(Rg, folds[k])]   # the fold's patients are new to the reference
        Pe = np.array([pvec(Rk, Rgk, X, w, g) for w in ew])
        flags = (lambda P: {r: tw > thr_t(tn) for r, (tw, tn) in stats(P, Pn).items()}) if part == 'statistics' else (lambda P: {r: P.min(1) < T[r] for r in rules})
        for r, f in flags(Pe).items(): fa[r].append(int(np.sum(f)))
        if do_power and k < 2 and seq == 'flair':
            pp = np.flatnonzero(np.isin(g, folds[k][:6]) & dev)
            pw = several(pp, g, 10, 30 + k) if part == 'windows' else [pp[w] for w in group_windows(g[pp], SIZE, 10, 30 + k)]; used = np.unique(np.concatenate(pw))
            for kind in KINDS:
                for s in (2.0, 5.0):
                    Xs = X.copy(); Xs[used] = pd.DataFrame([image_features(perturb(d['imgs'][j], kind, s, seed=j)) for j in used])[COLS].to_numpy(float)
                    power.append(dict(fold=k, kind=kind, severity=s, **{r: float(np.mean(f)) for r, f in flags(np.array([pvec(Rk, Rgk, Xs, w, g) for w in pw])).items()}))
        print(seq, part, 'fold', k, {r: v[-1] for r, v in fa.items()}, f'{time.time() - t0:.0f}s', flush=True)
    res = dict(false_alarms_per_fold=fa, false_alarms={r: f'{sum(v)}/{K*NEV}' for r, v in fa.items()})
    if power:
        dfp = pd.DataFrame(power); res['power'] = dfp.groupby(['kind', 'severity'])[list(rules)].mean().reset_index().to_dict('records')
        res['power_mean'] = {r: round(float(dfp[r].mean()), 4) for r in rules}
    return res


@call_parse
def main(data:str='data/lgg', # normalised dataset whose manifest names each slice's patient
         sequences:str='flair,t1c,t1', # sequences (comma-separated)
         parts:str='statistics,calibration,windows', # what to compare
         power:bool=False, # FLAIR: power of each rule on the perturbed windows of two folds
         cache:str='', # folder for the features (a fresh temporary one when empty)
         out:str='' # JSON summary; printed only when empty
        ):
    import tempfile
    t0 = time.time(); root = project_root()/data; cache = Path(cache or tempfile.mkdtemp()); summ = {}
    for seq in sequences.split(','):
        d = features(root, seq, cache)
        summ[seq] = {part: run(d, seq, power, part) for part in parts.split(',')}
    txt = json.dumps(dict(command=f'benchmarks/drift_crossfit.py --sequences {sequences} --parts {parts}' + (' --power' if power else ''),
                          measured=time.strftime('%Y-%m-%d'), seconds=round(time.time() - t0, 1), results=summ), indent=1)
    if out: Path(out).write_text(txt + '\n')
    print(txt[:3000])
