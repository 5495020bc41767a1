"""Execute the notebooks in place with their outputs kept (`make notebooks`), so that they read as papers.

Every notebook of nbs/sidebar.yml, in sidebar order (then any other notebook under nbs/), runs in a fresh kernel
with its own folder as the working directory. Cells are skipped exactly as `nbdev_test` skips them (directives of
`tst_flags` such as `#| slow` / `#| gpu` unless passed with `--flags`, `#| eval: false`, `nbdev_export(` cells,
`skip_exec` front matter) and also cells tagged `skip-execution` (nbclient's tag); a skipped cell loses any stale
output. Seeds are fixed (`random`, NumPy, torch, PYTHONHASHSEED). Then the outputs are scrubbed of machine noise
(absolute paths, user/host names, tmp dirs, progress bars, timestamps and durations, third-party warnings), large
PNGs are downscaled, and `nbdev_clean` runs on each notebook. Running it twice gives no diff the second time.

    python tools/run_notebooks.py                      # all, one after another
    python tools/run_notebooks.py --only 04_evaluate   # one notebook (name, stem or path; repeatable)
    python tools/run_notebooks.py --workers 2          # two kernels at a time
    python tools/run_notebooks.py --scrub-only         # no execution: scrub + nbdev_clean the committed outputs

Engine: nbclient, not execnb. nbdev_test uses execnb's CaptureShell, which runs every notebook inside the calling
process and stores a cell's captured stdout as one stream *before* its displays, so a cell that prints a caption,
shows a table, then a figure, comes back reordered; it also needs a process per notebook for a fresh state. nbclient
drives a real ipykernel per notebook (a fresh process by construction, what a reader's Jupyter produces), keeps
the output order, has per-cell timeouts and a `skip-execution` tag. The cell selection of nbdev_test is reproduced
below with nbdev's own directive parser, so the two agree on what runs.
"""
import argparse, base64, io, os, re, socket, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
DPI = 80                     # matplotlib figures in the notebooks: PNG at this dpi
MAX_PX = 900                 # wider/taller PNG outputs are downscaled to this many pixels
SKIP_TAG = 'skip-execution'

SETUP = f"""\
import os as _os, random as _random, warnings as _warnings
_random.seed(0)
try:
    import numpy as _np; _np.random.seed(0)
except ImportError: pass
try:
    import torch as _torch; _torch.manual_seed(0)
except ImportError: pass
_warnings.filterwarnings('ignore', module=r'(?!tumor_detect|__main__)')   # third-party warnings are noise here
try:
    from matplotlib_inline.backend_inline import set_matplotlib_formats as _smf
    get_ipython().run_line_magic('matplotlib', 'inline'); _smf('png', dpi={DPI}, bbox_inches='tight')
except ImportError: pass
del _os, _random, _warnings
"""


# ---------------------------------------------------------------------------------------------------- which notebooks
def sidebar_order(nbs:Path=NBS) -> list:
    "The notebooks of `nbs` in sidebar order, then any notebook the sidebar does not list (sorted)."
    import yaml
    def walk(items):
        for it in items:
            if isinstance(it, str): yield it
            else: yield from walk(it.get('contents', []))
    side = yaml.safe_load((nbs/'sidebar.yml').read_text())['website']['sidebar']['contents']
    listed = [nbs/p for p in walk(side) if p.endswith('.ipynb') and (nbs/p).exists()]
    rest = sorted(p for p in nbs.rglob('*.ipynb') if p not in listed and not {'_proc', '.ipynb_checkpoints'} & set(p.parts))
    return listed + rest


def select(names:list, nbs:Path=NBS) -> list:
    "Notebooks matching `names` (file name, stem or path), in sidebar order; all when `names` is empty."
    allnb = sidebar_order(nbs)
    if not names: return allnb
    out = []
    for n in names:
        hit = [p for p in allnb if n in (p.name, p.stem, str(p.relative_to(nbs)), str(p.relative_to(nbs).with_suffix('')))
               or Path(n).resolve() == p.resolve()]
        if not hit: raise SystemExit(f'--only {n}: no such notebook in {nbs.relative_to(ROOT)}/ (try e.g. 04_evaluate)')
        out += [p for p in hit if p not in out]
    return [p for p in allnb if p in out]


# ---------------------------------------------------------------------------------------------------- which cells
def tst_flags() -> set:
    "The project's `tst_flags` (settings.ini): cells with these directives are skipped, as by nbdev_test."
    from nbdev.config import get_config
    return set(get_config(path=ROOT).tst_flags.split())


def skip_cell(cell, flags:set) -> bool:
    "Would nbdev_test skip this code cell (or is it tagged `skip-execution`)?"
    from nbdev.process import extract_directives
    if cell.cell_type != 'code': return True
    if SKIP_TAG in cell.get('metadata', {}).get('tags', []): return True
    if 'nbdev_export' + '(' in cell.source: return True
    d = extract_directives(cell.copy(), remove=False) or {}
    if (d.get('eval:') or [''])[0].lower() == 'false': return True
    return bool(flags & d.keys())


def skip_notebook(nb) -> bool:
    "`skip_exec: true` in the front matter (nbdev_test skips such notebooks)."
    first = next((c for c in nb.cells if c.cell_type == 'raw'), None)
    return bool(first and re.search(r'^skip_exec:\s*true', first.source, re.M | re.I))


# ---------------------------------------------------------------------------------------------------- scrubbing
def _replacements() -> list:
    "(pattern, replacement) pairs, most specific first: machine paths become project-relative or placeholders."
    import sysconfig
    pairs = []
    def add(p, rep):
        p = str(p).rstrip('/')
        if len(p) > 1 and (p, rep) not in pairs: pairs.append((p, rep))
    for d in sorted(ROOT.iterdir()):               # data/ may be a symlink to a shared copy
        if d.is_symlink(): add(d.resolve(), d.name)
    for k in ('purelib', 'platlib'): add(sysconfig.get_paths()[k], '<site-packages>')
    add(sys.prefix, '<venv>'); add(Path(sys.executable).parent.parent, '<venv>'); add(sys.base_prefix, '<python>')
    add(ROOT.resolve()/'nbs', 'nbs'); add(ROOT, '.'); add(ROOT.resolve(), '.')
    add(Path.home(), '~')
    pairs.sort(key=lambda t: -len(t[0]))
    return pairs

_REPL = None
_TMP = re.compile(r'(?:%s)(?:/[^/\s\'"<>()\[\],;:]+)?' % '|'.join(sorted({re.escape(tempfile.gettempdir().rstrip('/')), '/tmp', '/var/tmp', '/dev/shm'}, key=len, reverse=True)))
_TIME = [
    (re.compile(r'\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}|\s?UTC)?\b'), '<time>'),
    (re.compile(r'\b(\d+(\.\d+)?[ \t]?(ms|secs?|seconds|mins?|minutes|hours)|\d+\.\d+[ \t]?s)\b'), '<duration>'),   # not across lines: a table's "epochs 29\nseconds 434.62\"
    (re.compile(r'(?<=[\'"])\d+ ?s(?=[\'"])'), '<duration>'),                      # '11 s'
    (re.compile(r'\b1[6-9]\d{8}\.\d+\b'), '<time>'),                                # epoch seconds (2020-2033)
    (re.compile(r'(\d+(\.\d+)?[ \t]?(it|img|slices?|images?)/s)\b'), '<rate>'),
]
_BAR = re.compile(r'^.*(\d+%\|.*\||\|\s*\d+/\d+\s*\[|\d+/\d+ \[\d\d:\d\d|it/s\]|s/it\]).*$')
_WARN = re.compile(r'^\S+:\d+: \w*Warning: .*$')
_APPLOG = re.compile(r'^\[(IPKernelApp|NbConvertApp|ZMQTerminalIPythonApp|KernelApp)\] ')   # a nested kernel's log (papermill)


def scrub_text(s:str) -> str:
    "Machine paths, user/host names, timestamps, durations and rates out of one output text."
    global _REPL
    if _REPL is None: _REPL = _replacements()
    for p, rep in _REPL:                             # inside the project: relative to it ("models/x", ".")
        s = s.replace(p + '/', '' if rep == '.' else rep + '/')
        s = re.sub(re.escape(p) + r'(?![\w.-])', rep, s)
    s = _TMP.sub('<tmp>', s)
    host = socket.gethostname()
    if len(host) >= 4: s = re.sub(r'\b%s\b' % re.escape(host), '<host>', s)
    user = os.environ.get('USER') or os.environ.get('LOGNAME') or ''
    if len(user) >= 3 and user not in ('root', 'user', 'jovyan'): s = re.sub(r'\b%s\b' % re.escape(user), '<user>', s)
    for rx, rep in _TIME: s = rx.sub(rep, s)
    return s


def scrub_stream(s:str) -> str:
    "Terminal semantics for carriage returns, then progress-bar lines and third-party warning lines dropped."
    lines = []
    for ln in s.split('\n'):
        ln = ln.rstrip('\r').split('\r')[-1]
        if _BAR.match(ln) or _APPLOG.match(ln): continue
        lines.append(ln)
    out, skip_next = [], False
    for ln in lines:                                 # "file.py:12: FooWarning: msg" + the source line under it
        if skip_next and ln.startswith('  '): skip_next = False; continue
        skip_next = bool(_WARN.match(ln)) and 'tumor_detect' not in ln
        if not skip_next: out.append(ln)
    return scrub_text('\n'.join(out))


def _join(x): return ''.join(x) if isinstance(x, list) else x


def _png_small(b64:str, max_bytes:int=150_000) -> str:
    "A PNG output kept modest: downscaled to MAX_PX, then over `max_bytes` quantized to 256 colours; else unchanged."
    from PIL import Image
    raw = base64.b64decode(b64); im = Image.open(io.BytesIO(raw))
    if max(im.size) <= MAX_PX and len(raw) <= max_bytes: return b64
    if max(im.size) > MAX_PX: im = im.convert('RGBA' if 'A' in im.getbands() else 'RGB'); im.thumbnail((MAX_PX, MAX_PX), Image.LANCZOS)
    def enc(x):
        buf = io.BytesIO(); x.save(buf, 'PNG', optimize=True); return buf.getvalue()
    out = enc(im)
    if len(out) > max_bytes: out = min(out, enc(im.convert('RGB').quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)), key=len)
    return b64 if len(out) >= len(raw) else base64.b64encode(out).decode() + '\n'


def scrub_nb(nb) -> int:
    "Scrub every output of `nb` in place; returns how many outputs changed."
    n = 0
    for c in nb.cells:
        if c.cell_type != 'code': continue
        keep = []
        for o in c.get('outputs', []):
            before = repr(o)
            if o.output_type == 'stream':
                o.text = scrub_stream(_join(o.text))
                if not o.text.strip(): n += 1; continue     # a stream that was only noise
            elif o.output_type in ('display_data', 'execute_result'):
                for k in list(o.data):
                    if k.startswith('text/') or k in ('application/json',): 
                        if isinstance(o.data[k], (str, list)): o.data[k] = scrub_text(_join(o.data[k]))
                    elif k == 'image/png':
                        small = _png_small(_join(o.data[k]))
                        if small != _join(o.data[k]): o.data[k] = small; o.metadata.pop('image/png', None)
            elif o.output_type == 'error':
                o.traceback = [scrub_text(t) for t in o.traceback]; o.evalue = scrub_text(o.evalue)
            n += repr(o) != before
            if keep and o.output_type == 'stream' and keep[-1].output_type == 'stream' and keep[-1].name == o.name:
                keep[-1].text += o.text; n += 1; continue         # the kernel splits one print run at random points: one stream
            keep.append(o)
        c.outputs = keep
    return n


# ---------------------------------------------------------------------------------------------------- execution
def kernel_env() -> dict:
    "The kernel's environment: this project importable, fixed hashing, no progress bars, no telemetry."
    env = dict(os.environ, PYTHONHASHSEED='0', TQDM_DISABLE='1', YOLO_VERBOSE='false', PYDEVD_DISABLE_FILE_VALIDATION='1',
               TERM='dumb', NO_COLOR='1', COLUMNS='120')
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p and p != str(ROOT)])
    env.setdefault('TUMOR_DETECT_HOME', str(ROOT))
    return env


def execute(path:Path, flags:set, timeout:int=1800, scrub_only:bool=False) -> float:
    "Run one notebook in a fresh kernel (cwd: its folder), scrub it, write it back, nbdev_clean it; returns seconds."
    import nbformat
    from nbclient import NotebookClient
    t0 = time.time(); nb = nbformat.read(path, as_version=4)
    if not scrub_only and not skip_notebook(nb):
        skipped = set()
        for i, c in enumerate(nb.cells):
            if c.cell_type == 'code' and skip_cell(c, flags): c.outputs = []; c.execution_count = None; skipped.add(i)
        todo = nbformat.v4.new_notebook(metadata=nb.metadata)
        todo.cells = [nbformat.v4.new_code_cell(SETUP)] + [c for i, c in enumerate(nb.cells) if i not in skipped]
        client = NotebookClient(todo, timeout=timeout, kernel_name='python3', allow_errors=False, record_timing=False,
                                resources={'metadata': {'path': str(path.parent)}}, skip_cells_with_tag=SKIP_TAG,
                                extra_arguments=['--IPKernelApp.log_level=ERROR'])   # no 'TCP without encryption' warning: loopback only
        client.execute(cwd=str(path.parent), env=kernel_env())
    scrub_nb(nb)
    nbformat.write(nb, path)
    clean(path)
    return time.time() - t0


def clean(path:Path):
    "nbdev_clean one notebook, as the project's sync check does."
    from nbdev.clean import nbdev_clean
    cwd = os.getcwd(); os.chdir(ROOT)
    try: nbdev_clean(fname=str(path))
    finally: os.chdir(cwd)


def _job(args):
    path, flags, timeout, scrub_only = args
    try: return path, execute(path, flags, timeout, scrub_only), None
    except Exception as e:
        msg = scrub_text(f'{type(e).__name__}: {e}')
        return path, None, msg[-4000:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', action='append', default=[], help='notebook name/stem/path; repeatable (default: all)')
    ap.add_argument('--workers', type=int, default=1, help='notebooks executed at the same time (one kernel each)')
    ap.add_argument('--flags', default='', help='space separated tst_flags to run anyway (e.g. "slow"), as nbdev_test --flags')
    ap.add_argument('--timeout', type=int, default=1800, help='seconds a single cell may run')
    ap.add_argument('--scrub-only', action='store_true', help='do not execute: scrub and nbdev_clean the outputs already there')
    a = ap.parse_args(argv)
    nbs = select(a.only); flags = tst_flags() - set(a.flags.split())
    jobs = [(p, flags, a.timeout, a.scrub_only) for p in nbs]
    failed, t0 = [], time.time()
    print(f'{len(nbs)} notebook(s), skipping cells flagged {sorted(flags)} and tagged {SKIP_TAG!r}, {a.workers} worker(s)', flush=True)
    with ProcessPoolExecutor(max_workers=max(1, a.workers)) as ex:
        for f in as_completed([ex.submit(_job, j) for j in jobs]):
            p, secs, err = f.result(); name = p.relative_to(NBS)
            if err: failed.append(name); print(f'FAILED {name}: {err}', flush=True)
            else: print(f'{secs:7.1f} s  {name}', flush=True)
    print(f'{time.time() - t0:.0f} s in all' + (f'; FAILED: {", ".join(map(str, failed))}' if failed else ''))
    return int(bool(failed))


if __name__ == '__main__': sys.exit(main())
