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
