"""The docs site as a person sees it: built from the executed notebooks, served on 127.0.0.1, every page opened in
headless Chromium (Debian's /usr/bin/chromium, driven by Playwright). Runs after the notebook tests (conftest orders
it last) so the build reuses their executed copies."""
import functools, http.server, os, pathlib, subprocess, sys, threading, urllib.parse, urllib.request
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs'
ARTIFACTS = ROOT / 'tests' / '_artifacts'
CHROMIUM = os.environ.get('KDNB_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic']

@pytest.fixture(scope='module')
def site():
    "Build docs/ (reusing fresh executed notebooks from the notebook tests) and serve it on 127.0.0.1."
    subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--executed',
                    str(ROOT / 'tests' / '_executed')],
                   check=True, cwd=ROOT)
    handler = functools.partial(QuietHandler, directory=str(DOCS))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

def pages() -> list[str]:
    "Every HTML page of the site (Sphinx's own genindex/search included), relative to docs/."
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob('*.html') if '_static' not in p.parts)

@pytest.fixture(scope='module')
def browser(site):
    if not pathlib.Path(CHROMIUM).exists(): pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright
    import tempfile
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                    headless=True, viewport={'width': 1280, 'height': 900})
        yield ctx
        ctx.close()

# MathJax 3
MATHJAX_DONE = """() => (window.MathJax && MathJax.startup) ? MathJax.startup.promise.then(() => true) : false"""

def test_site_has_the_pages(site):
    names = set(pages())
    for p in ('index.html', 'methods.html', 'leaderboard.html', 'foundation/00_core.html', 'logit/01_kd.html',
              'search.html'):
        assert p in names, f"{p} missing from docs/"
    notebooks = {str(p.relative_to(ROOT / 'nbs').with_suffix('.html')) for p in (ROOT / 'nbs').rglob('*.ipynb')}
    assert notebooks <= names, f"notebooks without a page: {sorted(notebooks - names)}"

def check_page(ctx, site, page):
    "Open one page; return a list of problems (empty when the page is as a person should see it)."
    host = urllib.parse.urlparse(site).netloc
    problems, tab = [], ctx.new_page()
    tab.on('console', lambda m: m.type == 'error' and problems.append(f'console error: {m.text}'))
    tab.on('pageerror', lambda e: problems.append(f'page error: {e}'))
    def on_request(r):
        u = urllib.parse.urlparse(r.url)
        if u.scheme not in ('data', 'blob', 'about') and u.netloc != host:
            problems.append(f'request to outside host: {r.url}')
    tab.on('request', on_request)
    tab.on('requestfailed', lambda r: problems.append(f'request failed: {r.url}'))
    resp = tab.goto(f'{site}/{page}', wait_until='load')
    if resp is None or resp.status != 200: problems.append(f'HTTP {resp and resp.status}')
    n_math = tab.locator('.math').count()
    if n_math:
        if not tab.evaluate(MATHJAX_DONE): problems.append('MathJax did not load')
        elif tab.locator('.math mjx-container').count() < n_math:
            problems.append(f'{n_math} math elements but only {tab.locator(".math mjx-container").count()} typeset')
        if tab.locator('mjx-merror, [data-mjx-error]').count(): problems.append('MathJax reported a TeX error')
    text = tab.locator('article').inner_text() if tab.locator('article').count() else tab.inner_text('body')
    if '$$' in text: problems.append('raw $$ left in the text')
    broken = tab.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    problems += [f'image not loaded: {src}' for src in broken]
    links = tab.evaluate("() => [...document.querySelectorAll('.sidebar-tree a[href]')].map(a => a.href)")
    for href in links:
        target = href.split('#')[0]
        try: status = urllib.request.urlopen(target).status
        except Exception as e: status = e
        if status != 200: problems.append(f'sidebar link {href}: {status}')
    return tab, problems, dict(math=n_math, images=tab.evaluate('() => document.images.length'), links=len(links))

def test_every_page_in_a_browser(site, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    failures, seen = {}, {}
    for page in pages():
        tab, problems, counts = check_page(browser, site, page)
        seen[page] = counts
        if page in ('index.html', 'logit/02_dkd.html'):
            tab.screenshot(path=str(ARTIFACTS / f"{page.replace('.html', '').replace('/', '_')}.png"), full_page=False)
        tab.close()
        if problems: failures[page] = problems
    assert not failures, '\n'.join(f'{p}: {x}' for p, xs in failures.items() for x in xs)
    assert seen['index.html']['links'] >= len(list((ROOT / 'nbs').glob('*/[0-9]*.ipynb'))), seen['index.html']
    assert sum(c['math'] for c in seen.values()) > 50, 'expected typeset math on the method pages'
    assert seen['leaderboard.html']['images'] >= 1 and seen['logit/01_kd.html']['images'] >= 1
    assert (ARTIFACTS / 'index.png').stat().st_size > 10_000
