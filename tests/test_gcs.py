"""gs:// for real, against a Cloud Storage emulator on 127.0.0.1 that the tests start and stop themselves: DVC push and
pull through a fresh clone, a papermill training job whose input, executed notebook and run folder live in the bucket,
and the pipeline with a gs:// output. No traffic leaves the loopback interface."""
import filecmp, json, os, shutil, socket, subprocess, sys, time
from pathlib import Path
import pytest
from tumor_detect.core import project_root

pytest.importorskip('gcp_storage_emulator', reason='the GCS emulator is not installed: pip install gcp-storage-emulator')
BUCKET = 'tumor-detect-test'

def _free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='module')
def gcs():
    "An in-memory GCS emulator on a free loopback port: a gcsfs client on it, and the environment that points subprocesses at it."
    import gcsfs.core
    port = _free_port()
    exe = Path(sys.executable).parent/'gcp-storage-emulator'
    proc = subprocess.Popen([str(exe), 'start', '-H', '127.0.0.1', '--port', str(port), '--default-bucket', BUCKET, '-q', '-M'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # gcsfs reads these when imported, so the jobs run in fresh processes; a metadata-server probe would stay on loopback too
    env = {**os.environ, 'STORAGE_EMULATOR_HOST': f'http://127.0.0.1:{port}', 'GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT': 'false',
           'NO_GCE_CHECK': 'true', 'GCE_METADATA_HOST': '127.0.0.1:9', 'GCE_METADATA_IP': '127.0.0.1:9', 'DVC_NO_ANALYTICS': '1'}
    try:
        for _ in range(100):
            try: socket.create_connection(('127.0.0.1', port), timeout=0.2).close(); break
            except OSError: time.sleep(0.1)
        else: raise RuntimeError(f'the GCS emulator did not start: {proc.stderr.read()[-2000:]}')
        yield gcsfs.core.GCSFileSystem(endpoint_url=f'http://127.0.0.1:{port}', token='anon', skip_instance_cache=True), env
    finally:
        proc.terminate(); proc.wait(timeout=30)

def run(cmd:list, env:dict, cwd=None, timeout=600):
    r = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd or project_root(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f'{cmd[:3]}: {r.stderr[-3000:]}'
    return r

def test_round_trip_is_fast(gcs):
    gcs, env = gcs
    t0 = time.time()
    with gcs.open(f'{BUCKET}/probe/a.txt', 'w') as f: f.write('hello')
    assert gcs.ls(f'{BUCKET}/probe') == [f'{BUCKET}/probe/a.txt'] and gcs.cat(f'{BUCKET}/probe/a.txt') == b'hello'
    assert time.time() - t0 < 10, 'gcsfs waited on its gRPC probe: is GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false set?'
    code = "import fsspec; print(fsspec.open('gs://%s/probe/a.txt').open().read().decode())" % BUCKET
    assert run([sys.executable, '-c', code], env).stdout.strip() == 'hello'      # a fresh process finds it by the environment

def _git(*a, cwd):
    subprocess.run(['git', *a], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, 'GIT_AUTHOR_NAME': 't', 'GIT_AUTHOR_EMAIL': 't@t', 'GIT_COMMITTER_NAME': 't', 'GIT_COMMITTER_EMAIL': 't@t'})

def test_dvc_push_pull_fresh_clone(gcs, tmp_path):
    "data/ versioned with DVC, pushed to gs://, pulled into a fresh clone: byte for byte."
    from tumor_detect.data import dvc_track
    gcs, env = gcs
    dvc = Path(sys.executable).parent/'dvc'
    from test_papermill import tiny_export
    repo = tmp_path/'repo'; repo.mkdir(); _git('init', '-q', cwd=repo)
    tiny_export(repo/'data'/'tiny', 4, 3)
    dvc_track('data', repo=repo, remote=f'gs://{BUCKET}/dvcstore')
    _git('add', '-A', cwd=repo); _git('commit', '-qm', 'data', cwd=repo)
    run([dvc, 'push', '-q'], env, cwd=repo)
    assert gcs.find(f'{BUCKET}/dvcstore'), 'nothing reached the bucket'
    clone = tmp_path/'clone'; _git('clone', '-q', str(repo), str(clone), cwd=tmp_path)
    assert not (clone/'data').exists()
    run([dvc, 'pull', '-q'], env, cwd=clone)
    cmp = filecmp.dircmp(repo/'data', clone/'data')
    files = sorted(p.relative_to(repo/'data') for p in (repo/'data').rglob('*') if p.is_file())
    assert files and all((clone/'data'/f).read_bytes() == (repo/'data'/f).read_bytes() for f in files), cmp.report()

@pytest.mark.slow                                  # a training job through the emulator: make test-slow
def test_papermill_job_on_gcs(gcs, tmp_path):
    "The training notebook read from gs://, executed with a gs:// run folder: notebook and run folder land in the bucket."
    gcs, env = gcs
    gcs.put_file(str(project_root()/'nbs'/'03_train.ipynb'), f'{BUCKET}/jobs/in/03_train.ipynb')
    params = dict(epochs=1, imgsz=64, batch=8, device='cpu', workers=0, plots='False', project=f'gs://{BUCKET}/runs', name='job')
    run([Path(sys.executable).parent/'papermill', f'gs://{BUCKET}/jobs/in/03_train.ipynb', f'gs://{BUCKET}/jobs/out/03_train.ipynb',
         '--cwd', project_root()/'nbs', '--no-progress-bar', *[a for k, v in params.items() for a in ('-p', k, v)]], env)
    gcs.invalidate_cache()
    executed = json.loads(gcs.cat(f'{BUCKET}/jobs/out/03_train.ipynb'))
    assert any('injected-parameters' in c['metadata'].get('tags', []) for c in executed['cells'])
    rec = json.loads(gcs.cat(f'{BUCKET}/runs/job/run.json'))
    assert (rec['status'], rec['epochs_completed'], rec['remote']) == ('finished', 1, f'gs://{BUCKET}/runs/job')
    names = {p.split('/runs/job/', 1)[1] for p in gcs.find(f'{BUCKET}/runs/job')}
    assert {'run.json', 'results.csv', 'weights/best.pt', 'weights/last.pt'} <= names, names
    local = project_root()/'.cache'/'remote-runs'/f'{BUCKET}_runs'/'job'
    assert gcs.cat(f'{BUCKET}/runs/job/weights/best.pt') == (local/'weights'/'best.pt').read_bytes()
    shutil.rmtree(local, ignore_errors=True)

@pytest.mark.slow                                  # a training job through the emulator: make test-slow
def test_pipeline_with_gcs_output(gcs, tmp_path):
    "The pipeline writes its executed notebooks, summary.json and the stages' run folder to gs://."
    from test_papermill import TRAIN_SMALL, tiny_export
    gcs, env = gcs
    exp = tiny_export(tmp_path/'export')
    out = f'gs://{BUCKET}/pipelines/p1'
    params = {'01_data': dict(src=str(exp), dest=str(tmp_path/'data'/'tiny')), '03_train': TRAIN_SMALL}
    run([Path(sys.executable).parent/'tumor-detect', 'pipeline', '--out', out, '--quiet', '--notebooks', '01_data,03_train',
         '--params', json.dumps(params)], env)
    gcs.invalidate_cache()
    s = json.loads(gcs.cat(f'{BUCKET}/pipelines/p1/summary.json'))
    assert s['status'] == 'finished' and [x['status'] for x in s['steps']] == ['finished', 'finished']
    assert s['steps'][1]['data']['yaml'] == str(tmp_path/'data'/'tiny'/'data.yaml')
    names = {p.split('/pipelines/p1/', 1)[1] for p in gcs.find(f'{BUCKET}/pipelines/p1')}
    assert {'01_data.ipynb', '03_train.ipynb', 'summary.json', 'train/run.json', 'train/weights/best.pt'} <= names, names
