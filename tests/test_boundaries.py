"Module boundaries: serving code (readers, predict, serving, app, refusal) never imports evaluation, training or the operating-point fitting; `operating` and `predict` do not import each other both ways."
import ast, json, subprocess, sys
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parents[1]/'tumor_detect'
SERVING = ('readers', 'predict', 'serving', 'app', 'refusal')
FORBIDDEN = {'evaluate', 'train', 'operating', 'pipeline', 'robustness'}


def imported_modules(path:Path) -> set:
    "Every tumor_detect module a file imports anywhere (top level, inside functions, `lazy('tumor_detect.x')`, `import_module`)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level: out.add((node.module or '').split('.')[0])
            elif (node.module or '').startswith('tumor_detect.'): out.add(node.module.split('.')[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('tumor_detect.')}
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            name = getattr(node.func, 'id', getattr(node.func, 'attr', ''))
            if name in ('lazy', 'import_module') and node.args[0].value.startswith('tumor_detect.'):
                out.add(node.args[0].value.split('.')[1])
    return out


@pytest.mark.parametrize('mod', SERVING)
def test_serving_never_imports_fitting_code(mod):
    bad = imported_modules(PKG/f'{mod}.py') & FORBIDDEN
    assert not bad, f'tumor_detect/{mod}.py imports {sorted(bad)}'


def test_no_circle_between_operating_and_predict():
    assert 'operating' not in imported_modules(PKG/'predict.py')
    assert 'predict' in imported_modules(PKG/'operating.py')          # the one direction: fitting uses the served engine


def test_the_checker_can_fail(tmp_path):
    f = tmp_path/'x.py'; f.write_text("def f():\n    from tumor_detect.evaluate import roc_auc\n    return lazy('tumor_detect.train')\n")
    assert imported_modules(f) == {'evaluate', 'train'}


def test_importing_predict_loads_no_fitting_code():
    code = "import sys, json, tumor_detect.predict, tumor_detect.readers; print(json.dumps(sorted(m for m in sys.modules if m.startswith('tumor_detect'))))"
    mods = json.loads(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout)
    assert set(mods) <= {'tumor_detect', 'tumor_detect.core', 'tumor_detect.predict', 'tumor_detect.readers', 'tumor_detect.refusal'}, mods
