"""The demo in a real browser: headless Debian Chromium driven by Playwright against `tumor-detect serve` on a
free loopback port. Uploads a bundled slice, waits for the annotated image and the detections table, checks the
research-use notice, a refused upload, an example click, the Monitoring and Model tabs, and saves
artifacts/screenshots/detect.png (and monitoring.png).

Needs (CI): `apt-get install -y chromium` and `pip install playwright` (never `playwright install`: we drive the
system Chromium). Skipped with the reason when either is missing."""
import json, os, shutil, subprocess, sys, time
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


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    "`tumor_detect.app.serve` in a subprocess on a free loopback port, with its log in a temp folder."
    port, d = _free_port(), tmp_path_factory.mktemp('serve')
    code = f'from tumor_detect.app import serve; serve(port={port}, log_path={str(d/"predictions.db")!r})'
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


def _slice():
    from tumor_detect.app import examples
    return examples()[2][0]                         # a labelled meningioma slice of the bundled sample


def examples_first_name():
    from tumor_detect.app import examples
    return examples()[0][0].name


def test_detect_in_browser(server, tmp_path):
    outside = []
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={'width': 1400, 'height': 1100})
        def guard(route):                            # the page may only talk to our server
            if urlparse(route.request.url).hostname not in ('127.0.0.1', 'localhost') and not route.request.url.startswith(('data:', 'blob:')):
                outside.append(route.request.url); return route.abort()
            return route.continue_()
        page.route('**/*', guard)
        page.goto(server + '/', wait_until='domcontentloaded')
        expect = pw.expect
        expect(page.locator('#notice')).to_contain_text('Research use only — not a medical device, not for diagnosis', timeout=60_000)
        expect(page.locator('#notice')).to_be_visible()

        page.locator('#upload input[type=file]').set_input_files(str(_slice()))
        expect(page.locator('#annotated img')).to_be_visible(timeout=90_000)
        expect(page.locator('#detections')).to_contain_text('meningioma', timeout=30_000)
        expect(page.locator('#status')).to_contain_text('detection', timeout=30_000)
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOT), full_page=True)

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
    assert SHOT.stat().st_size > 10_000
    assert outside == [], outside
    health = json.load(urlopen(server + '/health', timeout=5))
    assert health['status'] == 'ok' and health['log']['written'] + health['log']['pending'] == 2   # upload + example; the refused one is not logged
