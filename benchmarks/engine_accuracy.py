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


def _series(sc:dict, rule:dict) -> tuple:
    "The `series_table` of a scored split (LGG patient series by the rule's pattern, and tumor-free runs of tumor series), its verdicts and rates."
    from tumor_detect.operating import series_groups, series_rates, series_table
    from tumor_detect.predict import series_verdict
    tab = series_table(sc['score'], sc['tumor'], series_groups(sc['file'], rule['pattern'])[0], margin=2)
    calls = {(name, kind, i): bool(series_verdict(s, rule)['tumor_present']) for i, (name, s, _, kind) in enumerate(tab)}
    whole, runs = series_rates([t for t in tab if t[3] != 'run'], rule), series_rates([t for t in tab if t[3] == 'run'], rule)
    rates = dict(n_tumor=whole['n_tumor'], sensitivity=whole['sensitivity'], sensitivity_ci=whole['sensitivity_ci'], n_free_series=whole['n_free'],
                 n_free_runs=runs['n_free'], specificity_runs=runs['specificity'], specificity_runs_ci=runs['specificity_ci'])
    return calls, {k: bool(t[2]) for k, t in zip(calls, tab)}, rates


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
    from tumor_detect.operating import read_stamp
    from tumor_detect.release import validation_table
    from tumor_detect.serving import cpu_flags
    ref = project_root()/'models'/'reference'
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--onnx', default=str(ref/'best.onnx')); ap.add_argument('--int8', default=str(ref/'best_int8.onnx'))
    ap.add_argument('--data', default=str(project_root()/'data'/'multisource'/'data.yaml'))
    ap.add_argument('--splits', default='val test')
    ap.add_argument('--no-bf16', action='store_true', help='leave out OpenVINO BF16 (slow where the CPU has no BF16 units)')
    ap.add_argument('--json', default='')
    a = ap.parse_args(argv)
    stamp = read_stamp(a.onnx); thr, rule = float(stamp['threshold']), dict(stamp['series'])
    if 'pattern' not in rule: raise SystemExit(f'{a.onnx}: its series rule has no pattern; refit it with `tumor-detect operating --series REGEX`')
    engines = [('float32', a.onnx, None)] + ([('int8', a.int8, None)] if Path(a.int8).is_file() else []) + ([] if a.no_bf16 else [('openvino-bf16', a.onnx, 'openvino-bf16')])
    out = dict(threshold=thr, series_rule=rule.get('rule', rule), cpu_flags=cpu_flags(), splits={})
    for split in a.splits.split():
        res, base = {}, None
        for name, w, backend in engines:
            t = time.perf_counter(); v = validation_table(w, a.data, split, backend=backend); took = time.perf_counter() - t
            sc = v['scores']; s, y = np.array(sc['score']), np.array(sc['tumor'], bool)
            calls, truth, rates = _series(sc, rule)
            r = dict(seconds=round(took, 1), by_sequence={g['group']: g for g in v['by_sequence']}, series=rates)
            if base is None: base = (s, calls)
            else:
                v0, v1 = base[0] >= thr, s >= thr; ch = v0 != v1
                r['slice_verdicts_changed'] = dict(n=int(ch.sum()), of=len(s), now_right=int((v1 == y)[ch].sum()), now_wrong=int((v1 != y)[ch].sum()))
                moved = [k for k in calls if calls[k] != base[1][k]]
                r['series_verdicts_changed'] = dict(n=len(moved), of=len(calls), now_right=sum(calls[k] == truth[k] for k in moved), which=[f'{k[0]} ({k[1]})' for k in moved])
                r['max_score_gap'] = round(float(np.abs(s - base[0]).max()), 4)
            res[name] = r; print(split, name, f'{took:.0f} s', json.dumps(r['series']), json.dumps({k: v for k, v in r.items() if 'changed' in k}), flush=True)
        out['splits'][split] = dict(n_slices=len(s), engines=res)
    out['table_md'] = table_md(out, [e for e, _, _ in engines]); print(out['table_md'])
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1) + '\n')
    return out

if __name__ == '__main__': main()
