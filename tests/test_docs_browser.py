"""The docs preview in a real browser: headless Debian Chromium driven by Playwright opens the evaluate page of
`_docs/` (tools/docs_preview.py, run by `make docs`; built here when missing), checks the navigation and the
contents page, and finds the page's figures (embedded PNGs that the browser decoded). Saves
artifacts/screenshots/docs-evaluate.png.

Needs `apt-get install -y chromium` and `pip install playwright` (never `playwright install`: we drive the system
Chromium). Skipped with the reason when either is missing."""
import os, shutil, subprocess, sys
from pathlib import Path

import pytest

CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run']
ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT/'_docs'
SHOT = ROOT/'artifacts'/'screenshots'/'docs-evaluate.png'

pw = pytest.importorskip('playwright.sync_api', reason='playwright missing: pip install playwright (no `playwright install`)')
if not (Path(CHROMIUM).exists() or shutil.which('chromium')):
    pytest.skip(f'{CHROMIUM} missing: apt-get install -y chromium', allow_module_level=True)


@pytest.fixture(scope='module')
def docs():
    "The preview folder; built by tools/docs_preview.py when this checkout has none or an older one."
    page, nb = DOCS/'04_evaluate.html', ROOT/'nbs'/'04_evaluate.ipynb'
    if not page.exists() or page.stat().st_mtime < nb.stat().st_mtime:
        r = subprocess.run([sys.executable, str(ROOT/'tools'/'docs_preview.py')], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
    return DOCS


def test_evaluate_page_figures(docs):
    outside = []
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={'width': 1280, 'height': 1000})
        def guard(route):                            # the preview is offline: only its own files and data: URIs
            if not route.request.url.startswith(('file://', 'data:', 'blob:')): outside.append(route.request.url); return route.abort()
            return route.continue_()
        page.route('**/*', guard)
        page.goto((docs/'index.html').as_uri())
        pw.expect(page.locator('.td-index')).to_contain_text('04_evaluate.ipynb')
        page.locator('.td-index a[href="04_evaluate.html"]').click()
        page.wait_for_load_state('load')
        assert page.url.endswith('/04_evaluate.html'), page.url
        pw.expect(page.locator('h1').first).to_contain_text('valuat')
        pw.expect(page.locator('.td-nav a.here')).to_have_text('04_evaluate')
        figs = page.locator('.jp-OutputArea-output img[src^="data:image/"]')
        n = figs.count()
        assert n >= 1, ('04_evaluate has no figure in the preview: execute it (make notebooks ONLY=04_evaluate), then make docs')
        widths = [figs.nth(i).evaluate('img => img.complete ? img.naturalWidth : 0') for i in range(n)]
        figs.first.scroll_into_view_if_needed()
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOT), full_page=False)
        browser.close()
    assert all(w > 100 for w in widths), widths       # every embedded figure decoded, none broken
    assert outside == [], outside
    assert SHOT.stat().st_size > 10_000
