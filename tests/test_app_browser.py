"""The demo in a real browser: headless Debian Chromium driven by Playwright against `tumor-detect serve` on a
free loopback port. `make test` runs the cheap check: the research-use notice, one uploaded bundled slice, the
annotated image, the detections table and the verdict (artifacts/screenshots/detect.png). Marked slow
(`make test-slow`): the rest of a session (a refused photo, a DICOM series, an unreadable upload, an example click,
the Monitoring and Model tabs; series.png, monitoring.png) and the contract server below.

A second server's detector fills the fields a model with stored metadata fills (operating threshold 0.5, and an
OOD score: here a stand-in, the image's colourfulness, since an MR slice is grey): a black slice must read "No tumor
found", a colour-cast tumor slice must keep its boxes and carry the OOD warning, pydicom's 64x64 MR crop the
tiny-image warning (screenshots no_tumor.png, ood.png, tiny.png).

Needs (CI): `apt-get install -y chromium` and `pip install playwright` (never `playwright install`: we drive the
system Chromium). Skipped with the reason when either is missing."""
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import urlopen

import pytest

CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run']
ROOT = Path(__file__).resolve().parents[1]
SHOT = ROOT/'artifacts'/'screenshots'/'detect.png'

pw = pytest.importorskip('playwright.sync_api', reason='playwright missing: pip install playwright (no `playwright install`)')
if not (Path(CHROMIUM).exists() or shutil.which('chromium')):
    pytest.skip(f'{CHROMIUM} missing: apt-get install -y chromium', allow_module_level=True)


def _free_port():
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _serve(d, code, port):
    "Run `code` (which must start a server on its port) in a subprocess; yield its URL once /health answers."
    log = open(d/'server.log', 'w')
    p = subprocess.Popen([sys.executable, '-c', code], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url, end = f'http://127.0.0.1:{port}', time.monotonic() + 180
    while time.monotonic() < end:
        if p.poll() is not None: pytest.fail(f'server exited {p.returncode}:\n{(d/"server.log").read_text()[-3000:]}')
        try:
            if json.load(urlopen(url + '/health', timeout=2))['status'] == 'ok': break
        except OSError: time.sleep(0.3)
    else: p.kill(); pytest.fail('server did not answer /health within 180 s')
    yield url
    p.terminate(); p.wait(30); log.close()


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    "`tumor_detect.app.serve` in a subprocess on a free loopback port, with its log in a temp folder."
    port, d = _free_port(), tmp_path_factory.mktemp('serve')
    yield from _serve(d, f'from tumor_detect.app import serve; serve(port={port}, log_path={str(d/"predictions.db")!r})', port)


CONTRACT = """
import numpy as np
import tumor_detect.app as A
from tumor_detect.readers import to_rgb
class Contract(A.Detector):
    def __call__(self, images, *a, **kw):
        rs, x = super().__call__(images, *a, **kw), to_rgb(images)
        for r in rs: r.threshold, r.ood, r.ood_threshold = 0.5, float(np.mean(x.max(2).astype(int) - x.min(2))), 10.0
        return rs
init = A.Service.__init__
def patched(self, *a, **kw):
    init(self, *a, **kw); self.detector.__class__ = Contract
    self.detector.set_stamp({})   # only the contract's threshold and OOD score, not the model's own
A.Service.__init__ = patched
"""


@pytest.fixture(scope='module')
def contract_server(tmp_path_factory):
    "The same server, its detector returning an operating threshold and an OOD score as a model with metadata will."
    port, d = _free_port(), tmp_path_factory.mktemp('serve_contract')
    yield from _serve(d, CONTRACT + f'A.serve(port={port}, log_path={str(d/"predictions.db")!r})', port)


def _browser(p, outside):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    page = browser.new_page(viewport={'width': 1400, 'height': 1100})
    def guard(route):                                # the page may only talk to our server
        if urlparse(route.request.url).hostname not in ('127.0.0.1', 'localhost') and not route.request.url.startswith(('data:', 'blob:')):
            outside.append(route.request.url); return route.abort()
        return route.continue_()
    page.route('**/*', guard)
    return browser, page


def _open(p, server, outside, notice='Research use only'):
    "A browser on the app's page, its research-use notice shown; returns (browser, page)."
    browser, page = _browser(p, outside)
    page.goto(server + '/', wait_until='domcontentloaded')
    pw.expect(page.locator('#notice')).to_contain_text(notice, timeout=60_000)
    return browser, page


def _logged(server):
    "Predictions the server has logged (written or pending)."
    h = json.load(urlopen(server + '/health', timeout=5))['log']
    return h['written'] + h['pending']


def _slice():
    from tumor_detect.app import examples
    return examples()[2][0]                         # a labelled meningioma slice of the bundled sample


def _dicom_series(d, n=6):
    "`n` bundled slices as one DICOM series (one file each, shuffled names; positions 5 mm apart)."
    import numpy as np
    from PIL import Image
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
    from tumor_detect.core import sample_dir
    uid, out = generate_uid(), []
    for k, p in enumerate(sorted((sample_dir()/'valid'/'images').glob('*.jpg'))[:n]):
        a = np.asarray(Image.open(p).convert('L').resize((256, 256)))
        ds = Dataset(); ds.file_meta = FileMetaDataset(); ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.Modality, ds.SeriesInstanceUID, ds.InstanceNumber = 'MR', uid, k + 1
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, 5.0*k], [1, 0, 0, 0, 1, 0]
        ds.Rows, ds.Columns = a.shape; ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelData = 1, 'MONOCHROME2', a.tobytes()
        f = d/f'im{(k*5) % n}.dcm'; ds.save_as(f, enforce_file_format=True); out.append(str(f))
    return out


def examples_first_name():
    from tumor_detect.app import examples
    return examples()[0][0].name


def test_detect_in_browser(server, tmp_path):
    "The cheap check (make test): the notice, one uploaded slice, its boxes, table and verdict, a screenshot."
    before, outside = _logged(server), []
    with pw.sync_playwright() as p:
        browser, page = _open(p, server, outside, 'Research use only — not a medical device, not for diagnosis')
        expect = pw.expect
        expect(page.locator('#notice')).to_be_visible()

        page.locator('#upload input[type=file]').set_input_files(str(_slice()))
        expect(page.locator('#annotated img')).to_be_visible(timeout=90_000)
        expect(page.locator('#detections')).to_contain_text('meningioma', timeout=30_000)
        expect(page.locator('#status')).to_contain_text('Tumor found', timeout=30_000)   # the model's own operating threshold
        expect(page.locator('#status')).to_contain_text('Calibrated probability of a tumor on this slice: ')   # what the number is
        expect(page.locator('#status')).to_contain_text('of the tumor slices')                                # how often it is right
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOT), full_page=True)
        browser.close()
    assert SHOT.stat().st_size > 10_000
    assert outside == [], outside
    assert _logged(server) - before == 1                               # the upload is logged


@pytest.mark.slow
def test_browser_session(server, tmp_path):
    "The rest of a session: a refused photo, a DICOM series, an unreadable upload, an example click, the other tabs."
    before, outside = _logged(server), []
    with pw.sync_playwright() as p:
        browser, page = _open(p, server, outside)
        expect = pw.expect
        _upload(page, _slice(), first=True)
        expect(page.locator('#status')).to_contain_text('Tumor found', timeout=90_000)

        import matplotlib                                                 # a photo: no verdict at all
        _upload(page, Path(matplotlib.get_data_path())/'sample_data'/'grace_hopper.jpg')
        expect(page.locator('#status h3')).to_have_text('No verdict: not a brain MR slice', timeout=60_000)
        expect(page.locator('#status')).to_contain_text('a colour image')
        expect(page.locator('#status')).not_to_contain_text('Tumor found')
        page.screenshot(path=str(SHOT.with_name('refused.png')), full_page=True)

        (tmp_path/'series').mkdir()                                       # a DICOM series in one upload: one answer
        _upload(page, _dicom_series(tmp_path/'series'))
        expect(page.locator('#status h3').first).to_have_text(re.compile(r'^(Tumor found on slices .+, most certain at \d+|No tumor found in 6 slices)$'), timeout=90_000)
        expect(page.locator('#status')).to_contain_text('Series rule: ')
        expect(page.locator('#series img')).to_have_count(6, timeout=30_000)   # the strip: every slice with its boxes
        page.screenshot(path=str(SHOT.with_name('series.png')), full_page=True)

        bad = tmp_path/'notes.png'; bad.write_bytes(b'this is not an image')
        page.locator('#upload button[aria-label*="Clear" i], #upload button[aria-label*="Remove" i]').first.click()
        page.locator('#upload input[type=file]').set_input_files(str(bad))
        expect(page.locator('#status')).to_contain_text('Could not score this upload', timeout=60_000)
        expect(page.locator('#status')).to_contain_text('not an image we can read')

        page.locator('#examples img').first.click()                       # a bundled example, scored on click
        expect(page.locator('#status')).to_contain_text(examples_first_name(), timeout=60_000)

        page.get_by_role('tab', name='Monitoring').click()
        expect(page.locator('#stats')).to_contain_text('logged predictions (all time)', timeout=60_000)
        expect(page.locator('#drift_status')).not_to_contain_text('Press refresh', timeout=60_000)
        page.screenshot(path=str(SHOT.with_name('monitoring.png')), full_page=True)
        page.get_by_role('tab', name='Model').click()
        expect(page.locator('#model_card')).to_contain_text('Served model', timeout=30_000)
        browser.close()
    assert SHOT.with_name('series.png').stat().st_size > 10_000
    assert outside == [], outside
    logged = _logged(server) - before
    assert json.load(urlopen(server + '/health', timeout=5))['status'] == 'ok' and logged == 3 + 6, logged   # upload, photo (refused: logged), 6 series slices, example


def _upload(page, path, first=False):
    if not first: page.locator('#upload button[aria-label*="Clear" i], #upload button[aria-label*="Remove" i]').first.click()
    page.locator('#upload input[type=file]').set_input_files([str(x) for x in path] if isinstance(path, (list, tuple)) else str(path))


@pytest.mark.slow
def test_verdict_and_warnings_in_browser(contract_server, tmp_path):
    import numpy as np
    from PIL import Image
    from pydicom import examples
    from tumor_detect.core import sample_dir
    black, tinted, tiny = tmp_path/'black.png', tmp_path/'tinted.png', tmp_path/'mr_small.dcm'
    Image.new('L', (512, 512)).save(black)
    sl = sorted((sample_dir()/'valid'/'images').glob('*.jpg'))[6]            # a glioma slice; sepia cast: unlike training
    Image.fromarray((np.asarray(Image.open(sl).convert('RGB'))*np.array([1, .85, .7])).astype(np.uint8)).save(tinted)
    examples.mr.save_as(tiny)
    outside, expect = [], pw.expect
    with pw.sync_playwright() as p:
        browser, page = _browser(p, outside)
        page.goto(contract_server + '/', wait_until='domcontentloaded')
        expect(page.locator('#notice')).to_contain_text('Research use only', timeout=60_000)

        _upload(page, black, first=True)                                     # a tumor-free (empty) slice
        expect(page.locator('#status h3')).to_have_text('No tumor found', timeout=90_000)
        expect(page.locator('#status')).to_contain_text("no box reached the model's operating threshold 0.50")
        expect(page.locator('#warnings .td-warn')).to_have_count(0)
        expect(page.locator('#notice')).to_be_in_viewport()
        page.screenshot(path=str(SHOT.with_name('no_tumor.png')), full_page=True)

        _upload(page, tinted)                                                # out of distribution, still a tumor
        expect(page.locator('#warnings')).to_contain_text('This image looks unlike the training data (score', timeout=90_000)
        expect(page.locator('#warnings')).to_contain_text('treat the result with caution')
        expect(page.locator('#warnings .td-warn').first).to_be_visible()
        assert page.locator('#warnings').bounding_box()['y'] < page.locator('#status').bounding_box()['y']   # read before the verdict
        expect(page.locator('#status h3')).to_contain_text('Tumor found: ')
        expect(page.locator('#annotated img')).to_be_visible()
        expect(page.locator('#detections')).to_contain_text('at/above the threshold')
        page.screenshot(path=str(SHOT.with_name('ood.png')), full_page=True)

        _upload(page, tiny)                                                  # pydicom's 64x64 MR crop
        expect(page.locator('#warnings')).to_contain_text('far smaller than the', timeout=90_000)
        expect(page.locator('#status')).to_contain_text('mr_small.dcm')
        page.screenshot(path=str(SHOT.with_name('tiny.png')), full_page=True)
        browser.close()
    assert outside == [], outside
    for n in ('no_tumor.png', 'ood.png', 'tiny.png'): assert SHOT.with_name(n).stat().st_size > 10_000
    metrics = urlopen(contract_server + '/metrics', timeout=5).read().decode()
    assert 'tumor_detect_verdicts_total{verdict="no_tumor"}' in metrics and 'tumor_detect_ood_images_total 1.0' in metrics


def test_api_series_over_http(server, tmp_path):
    "A series through `/api/predict` of the served app: several DICOM files, one answer per series; a blank volume refused (422)."
    import httpx, nibabel as nib, numpy as np
    (tmp_path/'series').mkdir()
    files = [('file', (Path(f).name, Path(f).read_bytes(), 'application/dicom')) for f in _dicom_series(tmp_path/'series')]
    nib.save(nib.Nifti1Image(np.zeros((64, 64, 5), np.float32), np.eye(4)), tmp_path/'blank.nii.gz')
    before = _logged(server)
    ok = httpx.post(server + '/api/predict', files=files, timeout=120)
    blank = httpx.post(server + '/api/predict', files=[('file', ('blank.nii.gz', (tmp_path/'blank.nii.gz').read_bytes(), 'application/gzip'))], timeout=120)
    assert ok.status_code == 200, ok.text
    s = ok.json()['series']
    assert set(s) == {'tumor_present', 'score', 'rule', 'slices_with_tumor', 'n_slices'} and s['n_slices'] == 6
    assert set(s['slices_with_tumor']) <= set(range(1, 7)) and ok.json()['meta']['kind'] == 'dicom'
    assert blank.status_code == 422 and blank.json()['refused'] is True and 'not brain MR slices' in blank.json()['detail']
    assert _logged(server) - before == 6 + 5                           # every slice of both series logged
