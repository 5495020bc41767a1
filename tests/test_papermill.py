"""Every stage notebook has a `parameters` cell papermill reads in full: each assignment is listed, typed and
explained by `papermill --help-notebook`."""
import ast, json, subprocess, sys
from pathlib import Path
import papermill as pm
import pytest
from tumor_detect.core import project_root

STAGES = ('01_data', '03_train', '04_evaluate', '06_drift')

def _params_cell(nb:Path) -> str:
    cells = [c for c in json.loads(nb.read_text())['cells'] if 'parameters' in c['metadata'].get('tags', [])]
    assert len(cells) == 1, f'{nb.name}: {len(cells)} cells tagged parameters'
    return ''.join(cells[0]['source'])

@pytest.mark.parametrize('stem', STAGES)
def test_papermill_reads_every_parameter(stem):
    nb = project_root()/'nbs'/f'{stem}.ipynb'
    names = [t.id if isinstance(t, ast.Name) else t.target.id for t in ast.parse(_params_cell(nb)).body
             for t in ([t] if isinstance(t, ast.AnnAssign) else t.targets)]
    seen = pm.inspect_notebook(str(nb))
    assert list(seen) == names, f'{stem}: papermill sees {list(seen)}, the cell assigns {names}'
    for k, v in seen.items():
        assert v['help'], f'{stem}.{k}: no comment saying what it is'
        assert v['inferred_type_name'] != 'None', f'{stem}.{k}: no type'
    assert 'pipeline_dir' in seen or stem == '03_train'

def test_help_notebook_cli():
    exe = str(Path(sys.executable).parent/'papermill')
    for stem in STAGES:
        nb = project_root()/'nbs'/f'{stem}.ipynb'
        r = subprocess.run([exe, '--help-notebook', str(nb)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and 'Unable to parse' not in r.stderr + r.stdout, r.stderr
        for k in pm.inspect_notebook(str(nb)): assert f'  {k}: ' in r.stdout, (stem, k)


def tiny_export(dest:Path, n_train:int=8, n_val:int=6) -> Path:
    "A few slices of the bundled sample, laid out as downloaded (its data.yaml keeps the exporter's Windows paths)."
    from tumor_detect.core import sample_dir
    src = sample_dir()
    (dest).mkdir(parents=True); (dest/'data.yaml').write_text((src/'data.yaml').read_text())
    for split, n in (('train', n_train), ('valid', n_val)):
        for kind in ('images', 'labels'): (dest/split/kind).mkdir(parents=True)
        for img in sorted((src/split/'images').iterdir())[:n]:
            (dest/split/'images'/img.name).write_bytes(img.read_bytes())
            lab = src/split/'labels'/f'{img.stem}.txt'
            if lab.exists(): (dest/split/'labels'/lab.name).write_text(lab.read_text())
    return dest

TRAIN_SMALL = dict(epochs=1, imgsz=64, batch=4, device='cpu', workers=0, plots=False)

@pytest.mark.parametrize('stem', STAGES)
def test_misspelt_parameter_stops_at_once(stem, tmp_path):
    "papermill -p of a name the notebook does not take: the job stops in the cell after the parameters, naming the known ones."
    nb = project_root()/'nbs'/f'{stem}.ipynb'
    known = list(pm.inspect_notebook(str(nb)))
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(nb), str(tmp_path/'out.ipynb'), parameters={known[0] + 's': 1}, cwd=str(nb.parent),
                            progress_bar=False, kernel_name='python3')
    assert f"unknown parameter {known[0]}s for {stem}" in str(e.value) and f"it takes: {', '.join(known)}" in str(e.value)
    cells = [c for c in json.loads((tmp_path/'out.ipynb').read_text())['cells'] if c['cell_type'] == 'code']
    ran = [i for i, c in enumerate(cells) if c.get('execution_count')]
    assert 'check_parameters(' in ''.join(cells[ran[-1]]['source'])            # it stopped right there
    assert ran[-1] < 8, f'{stem}: {ran[-1]} code cells ran before the check'   # at once: before the library's examples

def test_pipeline_rejects_a_misspelt_stage_or_parameter(tmp_path):
    from tumor_detect.pipeline import run_pipeline
    with pytest.raises(ValueError, match="'03_trian' is not a stage of this run"):
        run_pipeline(str(tmp_path/'a'), params={'03_trian': {'epochs': 1}}, phantom=True)
    with pytest.raises(ValueError, match="03_train has no parameter 'epoch'; did you mean 'epochs'"):
        run_pipeline(str(tmp_path/'b'), params={'03_train': {'epoch': 1}}, phantom=True)
    assert not (tmp_path/'a').exists() and not (tmp_path/'b').exists()          # nothing started

@pytest.mark.slow
def test_pipeline_on_a_tiny_export(tmp_path, caplog):
    "Each stage uses the imported export: training, evaluation and drift name it in summary.json; no phantom."
    from tumor_detect.pipeline import run_pipeline
    exp = tiny_export(tmp_path/'export')
    out, dest = tmp_path/'run', tmp_path/'data'/'tiny'
    run_pipeline(str(out), quiet=True, params={'01_data': dict(src=str(exp), dest=str(dest)), '03_train': TRAIN_SMALL,
                                               '04_evaluate': dict(), '06_drift': dict(n=8, html=False)})
    disk = json.loads((out/'summary.json').read_text())
    assert disk['status'] == 'finished' and [x['status'] for x in disk['steps']] == ['finished'] * 4, disk['steps']
    yml = str(dest/'data.yaml')
    data, train, ev, drift = disk['steps']
    assert data['data']['yaml'] == yml and data['data']['src'] == str(exp)
    assert train['data']['yaml'] == yml and train['data']['phantom'] is False
    assert ev['data']['yaml'] == yml and ev['data']['n_images'] == 6
    assert ev['weights'] == str(out/'train'/'weights'/'best.pt') == drift['weights']
    assert drift['data']['yaml'] == yml and drift['verdict'] and isinstance(drift['drift'], bool)
    assert (out/'drift'/'drift_report.json').exists() and (out/'drift'/'drift-reference.json').exists()
    assert json.loads((out/'train'/'run.json').read_text())['status'] == 'finished'
    assert (out/'eval'/'metrics.json').exists() and not (out/'train'/'.cache').exists()
    assert not [r.message for r in caplog.records if 'unknown parameter' in r.message.lower()]     # no warning to learn to ignore
    import pandas as pd
    ref = set(pd.read_csv(out/'drift'/'drift-reference.csv')['source'])
    checked = {p.name for p in (out/'drift'/'checked').iterdir()}
    assert checked and not checked & ref and drift['checked']['in_reference'] == 0   # the reference holds none of the checked slices
    assert 'validation split' in drift['checked']['what']
    assert 'rule: ' in drift['verdict'] and drift['checked']['null']   # the verdict says which rule decided, the stage what its null is
    for stem, key in (('03_train', 'Job report: run train'), ('04_evaluate', 'Job report: '), ('06_drift', 'Job report: drift')):
        cells = json.loads((out/f'{stem}.ipynb').read_text())['cells']
        first = next(c for c in cells if c['cell_type'] == 'code' and c.get('outputs'))
        assert key in json.dumps(first['outputs']), f'{stem}: the first output is not the job report'


def _train_job(project:Path, epochs:int=4) -> subprocess.Popen:
    "A training job on the phantom, as a cloud job runs it: a fresh process, a fixed output folder."
    code = (f'from tumor_detect.train import train\n'
            f'train(epochs={epochs}, imgsz=64, batch=8, device="cpu", workers=0, plots=False, project={str(project)!r}, name="job")')
    return subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    "SIGKILL mid-epoch (a spot VM gone), then the same job again: it resumes by itself and finishes with consistent timings."
    import os, signal, time
    rec_path = tmp_path/'job'/'run.json'
    job, t0 = _train_job(tmp_path), time.time()
    while time.time() - t0 < 240:
        if job.poll() is not None: raise AssertionError(f'the job ended before it was killed: {job.stderr.read()[-2000:]}')
        try: done = json.loads(rec_path.read_text())['epochs_completed']
        except (FileNotFoundError, json.JSONDecodeError, KeyError): done = 0
        if done >= 1: break
        time.sleep(0.2)
    time.sleep(0.1)                                     # into epoch 2
    assert job.poll() is None, 'the job finished before it could be killed'
    os.kill(job.pid, signal.SIGKILL); job.wait()
    killed = json.loads(rec_path.read_text())
    assert killed['status'] == 'running' and killed['timing']['sessions'][-1]['seconds'] is None   # what a hard kill leaves
    again = _train_job(tmp_path)                        # the same command, no resume flag
    assert again.wait(timeout=300) == 0, again.stderr.read()[-3000:]
    rec = json.loads(rec_path.read_text())
    ss = rec['timing']['sessions']
    assert (rec['status'], rec['epochs_completed']) == ('finished', 4)
    assert [s['status'] for s in ss] == ['killed', 'finished'] and ss[1]['resumed'] and ss[1]['first_epoch'] >= 2
    assert all(isinstance(s['seconds'], float | int) and s['seconds'] >= 0 for s in ss)
    assert abs(rec['timing']['seconds'] - sum(s['seconds'] for s in ss)) < 0.05
    assert [e['epoch'] for e in rec['timing']['epochs']] == [1, 2, 3, 4]
    assert all(e['seconds'] > 0 for e in rec['timing']['epochs'])
