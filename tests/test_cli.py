"""The console script turns user mistakes into one line on stderr and exit code 2 (traceback only with --debug),
for each subcommand; every flag's help says what it does."""
import argparse, json, os, re, subprocess, sys
from inspect import signature
from pathlib import Path
import pytest
from tumor_detect.cli import COMMANDS, _parser, _resolve
from tumor_detect.core import project_root, sample_dir

EXE = str(Path(sys.executable).parent/'tumor-detect')

def cli(*argv, cwd=None, env=None):
    e = {**os.environ, 'TUMOR_DETECT_DEBUG': '', **(env or {})}
    return subprocess.run([EXE, *map(str, argv)], capture_output=True, text=True, cwd=cwd or project_root(), env=e, timeout=300)

def one_line_error(r, *contains):
    "Exit code 2, exactly one line on stderr naming the subcommand, no traceback, and the given fragments."
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = [l for l in r.stderr.splitlines() if l.strip() and not l.startswith(('WARNING', 'Ultralytics'))]
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert lines[0].startswith('tumor-detect ') and ': error: ' in lines[0], lines[0]
    for c in contains: assert c in lines[0], (c, lines[0])
    assert str(Path.home()) not in lines[0] or str(Path.home()) == '/', lines[0]
    return lines[0]

def test_eval_missing_weights():
    one_line_error(cli('eval', 'models/reference/bset.pt'), 'bset.pt not found')

def test_train_bad_imgsz():
    one_line_error(cli('train', '--imgsz', '100'), 'imgsz=100', 'multiple of 32')

def test_train_resume_finished(tmp_path):
    run = tmp_path/'runs'/'done'
    (run/'weights').mkdir(parents=True); (run/'weights'/'last.pt').write_bytes(b'')
    (run/'run.json').write_text(json.dumps({'status': 'finished'}))
    one_line_error(cli('train', '--resume', '--project', tmp_path/'runs', '--name', 'done'), 'this run finished')
    one_line_error(cli('train', '--resume', '--project', tmp_path/'runs', '--name', 'nope'), 'nothing to resume')

def test_train_missing_data():
    one_line_error(cli('train', '--data', 'data/no-such/data.yaml'), 'not found')

def test_eval_other_class_names(tmp_path):
    (tmp_path/'two.yaml').write_text(f"path: {sample_dir()}\ntrain: train/images\nval: valid/images\nnames: [a, b]\n")
    line = one_line_error(cli('eval', 'models/reference/best.pt', '--data', tmp_path/'two.yaml', '--n_boot', 0), 'classes')
    if 'agnostic' not in signature(_resolve(COMMANDS['eval'])).parameters: pytest.skip('eval has no --agnostic flag yet')
    assert '--agnostic' in line, line

def test_data_commands(tmp_path):
    one_line_error(cli('data', 'import', tmp_path/'missing-export', tmp_path/'out'), 'missing-export')
    one_line_error(cli('data', 'check', tmp_path/'missing-dataset'), 'missing-dataset')

def test_pipeline_bad_params():
    one_line_error(cli('pipeline', '--params', '{"03_train": 1}'), 'map notebook names')
    one_line_error(cli('pipeline', '--params', '{"03_train": {"epochs": 1'), '--params: not valid JSON', 'Expecting')
    one_line_error(cli('pipeline', '--params', '{"03_trian": {"epochs": 1}}', '--phantom'), "'03_trian' is not a stage", "did you mean '03_train'")
    one_line_error(cli('pipeline', '--params', '{"03_train": {"epoch": 1}}', '--phantom'), "03_train has no parameter 'epoch'")

def test_eval_bad_numbers():
    one_line_error(cli('eval', 'models/reference/best.pt', '--thr', 1.5, '--n-boot', -5), '--thr 1.5: must be in [0, 1]', '--n-boot -5')

def test_other_commands(tmp_path):
    one_line_error(cli('predict', tmp_path/'no-image.png'), 'no-image.png')
    one_line_error(cli('drift', '--reference', tmp_path/'nope.json', '--current', tmp_path), 'nope')
    one_line_error(cli('tune', '--iterations', '0'), 'iterations=0')

def test_debug_shows_traceback():
    r = cli('train', '--imgsz', '100', '--debug')
    assert r.returncode == 2 and 'Traceback' in r.stderr and 'imgsz=100' in r.stderr
    r = cli('train', '--imgsz', '100', env={'TUMOR_DETECT_DEBUG': '1'})
    assert r.returncode == 2 and 'Traceback' in r.stderr

def test_unknown_command():
    r = cli('trian')
    assert r.returncode == 2 and 'usage: tumor-detect' in r.stderr

UNDOCUMENTED = set()

@pytest.mark.parametrize('key', list(COMMANDS))
def test_help_says_what_flags_do(key):
    p = _parser(_resolve(COMMANDS[key]), key)
    for a in p._actions:
        if a.help == argparse.SUPPRESS or isinstance(a, argparse._HelpAction): continue
        name = (a.option_strings or [a.dest])[0]
        if (key, name) in UNDOCUMENTED: continue
        text = re.sub(r'\s*\(default:.*\)$', '', a.help or '')
        assert len(text) >= 8, f'{key} {name}: help {a.help!r} does not say what it does'
        if name.startswith('--no-') and not a.dest.startswith('no_'): assert text.startswith('turn off'), f'{key} {name}: {a.help!r}'   # a negated default-on flag

def test_eval_on_the_bundled_sample_writes_nothing_into_the_package(tmp_path):
    "ultralytics caches labels beside them; for the package's sample it must read a view outside the package."
    pkg = Path(sample_dir()).parents[1]
    before = sorted(p for p in pkg.rglob('*') if '__pycache__' not in p.parts)
    r = cli('eval', 'models/reference/best.pt', '--data', sample_dir()/'data.yaml', '--split', 'valid', '--n_boot', 0, '--imgsz', 320,
            '--json', tmp_path/'m.json')
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path/'m.json').read_text())['n_images'] == 30
    assert sorted(p for p in pkg.rglob('*') if '__pycache__' not in p.parts) == before
