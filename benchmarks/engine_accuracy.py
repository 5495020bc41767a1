"""Accuracy, not agreement: the faster engines (INT8, OpenVINO BF16) against float32 ONNX Runtime, per source and per patient.

`precision_guard` asks whether an engine answers like float32, box by box; it fails INT8 and BF16. This asks the
other question, the one a reader of the model card has: is the engine as often right? Every engine scores the same
labelled slices through the served `Detector` (the model's threshold, its series rule), and the script reports per
source and sequence the slice sensitivity and specificity (Wilson 95 % intervals), per LGG patient series the series
sensitivity and specificity under the stored rule, and how many slice and series verdicts each engine changes
against float32, with how many of those changes were right. BF16 runs on the CPU's BF16 units (AMX or AVX-512 BF16)
and is emulated, slowly, elsewhere.

    python benchmarks/engine_accuracy.py --json benchmarks/engine_accuracy.json
"""
import argparse, json, time
from pathlib import Path
import numpy as np


def _score(weights, backend, files, threads:int) -> np.ndarray:
    from tumor_detect.predict import Detector
    d = Detector.load(weights, backend=backend, threads=threads)
    return np.array([r.top_score for i in range(0, len(files), 64) for r in d(files[i:i + 64])])


def _series(scores, tumor, files, rule:dict) -> dict:
    "Series verdict and truth per LGG patient series (the stored pattern), and per tumor-free run of a tumor series (`series_table`)."
    from tumor_detect.operating import series_groups, series_table
    from tumor_detect.predict import series_verdict
    groups, _ = series_groups(files, rule['pattern'])
    return {(name, kind, i): (bool(series_verdict(sc, rule)['tumor_present']), bool(lab))
            for i, (name, sc, lab, kind) in enumerate(series_table(scores, tumor, groups, margin=2))}


def _rates(calls:dict) -> dict:
    "Series sensitivity and specificity (Wilson 95 %) over whole series, and specificity over tumor-free runs."
    from tumor_detect.evaluate import _wilson
    out = {}
    for part, keep in (('series', lambda k: k[1] != 'run'), ('runs', lambda k: k[1] == 'run')):
        v = [c for k, c in calls.items() if keep(k)]
        y = np.array([t for _, t in v], bool); h = np.array([c for c, _ in v], bool)
        tp, tn = int((h & y).sum()), int((~h & ~y).sum()); nt, nf = int(y.sum()), int((~y).sum())
        if part == 'series': out.update(n_tumor=nt, sensitivity=round(tp/nt, 4) if nt else None, sensitivity_ci=_wilson(tp, nt), n_free_series=nf)
        else: out.update(n_free_runs=nf, specificity_runs=round(tn/nf, 4) if nf else None, specificity_runs_ci=_wilson(tn, nf))
    return out


def table_md(out:dict, engines:list) -> str:
    "Markdown: per split, source/sequence rows of slice sensitivity / specificity and a row of series figures, a column per engine."
    f = lambda v: '-' if v is None else f'{v:.3f}'
    md = ['| split | source/sequence | tumor / free slices | ' + ' | '.join(f'{e} sens / spec' for e in engines) + ' |',
          '|---|---|---|' + '---|'*len(engines)]
    for split, d in out['splits'].items():
        f0 = d['engines']['float32']['by_sequence']
        for g in f0:
            cells = [f"{f(d['engines'][e]['by_sequence'][g]['sensitivity'])} / {f(d['engines'][e]['by_sequence'][g]['specificity'])}" for e in engines]
            md.append(f"| {split} | {g} | {f0[g]['n_tumor']} / {f0[g]['n_free']} | " + ' | '.join(cells) + ' |')
        s0 = d['engines']['float32']['series']
        ser = [f"{f(d['engines'][e]['series']['sensitivity'])} / {f(d['engines'][e]['series']['specificity_runs'])}" for e in engines]
        md.append(f"| {split} | LGG series (tumor series / tumor-free runs) | {s0['n_tumor']} / {s0['n_free_runs']} | " + ' | '.join(ser) + ' |')
    return '\n'.join(md)


def main(argv=None):
    from tumor_detect.core import project_root
    from tumor_detect.operating import _split_files, _tumor_flags, manifest_rows, read_stamp, source_families
    from tumor_detect.release import group_table
    from tumor_detect.serving import cpu_flags
    ref = project_root()/'models'/'reference'
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--onnx', default=str(ref/'best.onnx')); ap.add_argument('--int8', default=str(ref/'best_int8.onnx'))
    ap.add_argument('--data', default=str(project_root()/'data'/'multisource'/'data.yaml'))
    ap.add_argument('--splits', default='val test'); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--no-bf16', action='store_true', help='leave out OpenVINO BF16 (slow where the CPU has no BF16 units)')
    ap.add_argument('--json', default='')
    a = ap.parse_args(argv)
    stamp = read_stamp(a.onnx); thr = float(stamp['threshold']); rule = dict(stamp['series'])
    rule.setdefault('pattern', json.loads((ref/'series_rule.json').read_text())['pattern'])
    engines = [('float32', a.onnx, None)] + ([('int8', a.int8, None)] if Path(a.int8).is_file() else []) + ([] if a.no_bf16 else [('openvino-bf16', a.onnx, 'openvino-bf16')])
    root = Path(a.data).resolve().parent; out = dict(threshold=thr, series_rule=rule['rule'] if 'rule' in rule else rule, cpu_flags=cpu_flags(), splits={})
    for split in a.splits.split():
        files = _split_files(a.data, split); rows = manifest_rows(root, files); y = _tumor_flags(files)
        fam = source_families(r.get('source', '?') for r in rows)
        grp = np.array([f"{fam[r.get('source', '?')]}/{r.get('sequence') or 'mixed'}" for r in rows])
        pat = [r.get('patient', '') for r in rows]; names = [str(f) for f in files]
        res, base = {}, None
        for name, w, backend in engines:
            t = time.perf_counter(); s = _score(w, backend, files, a.threads); took = time.perf_counter() - t
            tab = {r['group']: r for r in group_table(s, y, grp, thr, pat, n_boot=200)}
            ser = _series(s, y, names, rule); r = dict(seconds=round(took, 1), by_sequence=tab, series=_rates(ser))
            if base is None: base = (s, ser)
            else:
                v0, v1 = base[0] >= thr, s >= thr; ch = v0 != v1
                r['slice_verdicts_changed'] = dict(n=int(ch.sum()), of=len(s), now_right=int((v1 == y)[ch].sum()), now_wrong=int((v1 != y)[ch].sum()))
                sc = [k for k in ser if ser[k][0] != base[1][k][0]]
                r['series_verdicts_changed'] = dict(n=len(sc), of=len(ser), now_right=sum(ser[k][0] == ser[k][1] for k in sc), which=[f'{k[0]} ({k[1]})' for k in sc])
                r['max_score_gap'] = round(float(np.abs(s - base[0]).max()), 4)
            res[name] = r; print(split, name, f'{took:.0f} s', json.dumps(r['series']), json.dumps({k: v for k, v in r.items() if 'changed' in k}), flush=True)
        out['splits'][split] = dict(n_slices=len(files), engines=res)
    out['table_md'] = table_md(out, [e for e, _, _ in engines]); print(out['table_md'])
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1) + '\n')
    return out


if __name__ == '__main__': main()
