"""A local HTML preview of the docs site without Quarto (which cannot be installed on every machine): one page per
sidebar entry of nbs/sidebar.yml, rendered by nbconvert's HTMLExporter from the notebooks as nbdev processes them
for Quarto (`_proc/`: directives applied, `show_doc` rendered), figures and images embedded, no network needed;
plus `_docs/index.html` listing the pages in sidebar order. Quarto still renders the real site online (nbdev_docs).

    python tools/docs_preview.py            # writes _docs/ (uses _proc/ when fresh, else processes the notebooks)
    open _docs/index.html
"""
import argparse, html, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, PROC, OUT = ROOT/'nbs', ROOT/'_proc', ROOT/'_docs'

CSS = """<style>
body{margin:0} .td-nav{position:sticky;top:0;z-index:10;background:#14324a;color:#fff;padding:6px 16px;font:14px system-ui,sans-serif;display:flex;flex-wrap:wrap;gap:2px 12px;align-items:baseline}
.td-nav a{color:#cfe6ff;text-decoration:none} .td-nav a.here{color:#fff;font-weight:600;text-decoration:underline}
.td-nav .sec{color:#9fb7cc;margin-left:10px} .td-main{max-width:1100px;margin:0 auto;padding:8px 20px}
.td-index li{margin:4px 0} .td-index .desc{color:#555}
</style>"""


def sidebar(nbs:Path=NBS) -> list:
    "[(section or '', page path relative to nbs)] in sidebar order."
    import yaml
    out = []
    def walk(items, sec=''):
        for it in items:
            if isinstance(it, str): out.append((sec, it))
            else: walk(it.get('contents', []), it.get('section', sec))
    walk(yaml.safe_load((nbs/'sidebar.yml').read_text())['website']['sidebar']['contents'])
    return out


def process(force:bool=False) -> Path:
    "nbdev's docs processing of the notebooks into `_proc/` (cached by nbdev unless `force`)."
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    refresh_quarto_yml(); nbdev.doclinks._build_modidx()
    return proc_nbs(NBS, n_workers=0, force=force)


_OPT = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')


def _frontmatter(src:str) -> dict:
    import yaml
    m = re.match(r'^---\s*\n(.*?)\n---\s*$', src.strip(), re.S)
    try: return (yaml.safe_load(m.group(1)) or {}) if m else {}
    except yaml.YAMLError: return {}


def _divs(md:str) -> str:
    "Quarto fenced divs (`::: {.research-notice}` ... `:::`) as markdown blockquotes, as tools/make_readme.py writes them."
    out, inside = [], False
    for line in md.splitlines():
        if re.match(r'^:::+', line): inside = not inside; continue
        out.append(('> ' + line) if inside and line else ('>' if inside else line))
    return '\n'.join(out)


def prepare(nb) -> tuple:
    "Apply what Quarto would: front matter -> title, cell options (echo/output/include: false) -> hidden parts."
    title, cells = '', []
    for c in nb.cells:
        if c.cell_type == 'raw':
            fm = _frontmatter(c.source)
            if fm:
                title = str(fm.get('title', '')); desc = fm.get('description', '')
                md = f'# {title}\n\n' + (f'> {desc}\n' if desc else '')
                from nbformat.v4 import new_markdown_cell
                cells.append(new_markdown_cell(md, id='frontmatter')); continue
        if c.cell_type == 'code':
            lines, opts = c.source.splitlines(), {}
            while lines and (m := _OPT.match(lines[0])): opts[m.group(1)] = m.group(2).lower(); lines.pop(0)
            if opts.get('include') == 'false': continue
            c.source = '\n'.join(lines)
            if opts.get('output') == 'false': c.outputs = []
            if opts.get('echo') == 'false': c.metadata['transient'] = {'remove_source': True}   # nbconvert templates honour it
            if not c.source.strip() and not c.get('outputs'): continue
        if c.cell_type == 'markdown':     # Quarto divs as blockquotes (as in README.md); notebook links to pages
            c.source = _divs(c.source)
            c.source = re.sub(r'\]\(((?!https?:)[^)#\s]+)\.ipynb(#[^)]*)?\)', lambda m: f']({m.group(1)}.html{m.group(2) or ""})', c.source)
        cells.append(c)
    nb.cells = cells
    if not title:
        h = next((c.source for c in cells if c.cell_type == 'markdown' and c.source.startswith('# ')), '# ')
        title = h.splitlines()[0][2:].strip()
    return nb, title


def _nav(pages:list, here:str, depth:int) -> str:
    up, parts, sec = '../'*depth, [f'<nav class="td-nav"><a href="{"../"*depth}index.html">tumor-detect docs</a>'], None
    for s, p in pages:
        if s and s != sec: parts.append(f'<span class="sec">{html.escape(s)}:</span>'); sec = s
        cls = ' class="here"' if p == here else ''
        parts.append(f'<a{cls} href="{up}{p[:-6]}.html">{html.escape(Path(p).stem)}</a>')
    return ''.join(parts) + '</nav>'


def render(src:Path, page:str, pages:list, out:Path, toc:str='') -> str:
    "One page: the processed notebook `src` as self-contained HTML at out/page.html; returns its title."
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    nb, title = prepare(nbformat.read(src, as_version=4))
    cfg = Config(); cfg.TagRemovePreprocessor.enabled = True
    ex = HTMLExporter(config=cfg, template_name='lab', embed_images=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = ex.from_notebook_node(nb, resources={'metadata': {'path': str((NBS/page).parent), 'name': title}})
    body = re.sub(r'<script[^>]+src="https?://[^"]*"[^>]*>\s*</script>', '', body)      # no CDN: the preview is offline
    body = re.sub(r'<link[^>]+href="https?://[^"]*"[^>]*>', '', body)
    body = body.replace('</head>', CSS + '</head>', 1)
    body = re.sub(r'<body([^>]*)>', lambda m: f'<body{m.group(1)}>' + _nav(pages, page, page.count('/')) + '<main class="td-main">' + toc, body, count=1)
    body = body.replace('</body>', '</main></body>', 1)
    dest = out/(page[:-6] + '.html'); dest.parent.mkdir(parents=True, exist_ok=True); dest.write_text(body)
    return title


def _toc(done:list) -> str:
    "The pages in sidebar order, grouped by section, as an HTML list."
    items, cur = ['<div class="td-index"><h2>Contents</h2>'], None
    for sec, p, t in done:
        if sec != cur:
            if cur is not None: items.append('</ul>')
            items.append(f'<h3>{html.escape(sec or "Start")}</h3><ul>'); cur = sec
        items.append(f'<li><a href="{p[:-6]}.html">{html.escape(t or p)}</a> <span class="desc">({html.escape(p)})</span></li>')
    return ''.join(items) + '</ul><p class="desc">Local preview built from the notebooks with nbconvert (tools/docs_preview.py); '\
                            'the published site is rendered by Quarto.</p></div>'


def build(proc:Path=PROC, out:Path=OUT) -> list:
    "Every sidebar page of `proc` as HTML under `out`; out/index.html is the home page with the contents on top."
    pages = sidebar(); out.mkdir(parents=True, exist_ok=True); done = []
    for sec, p in pages:
        src = proc/p
        if not src.exists() or not p.endswith('.ipynb'): raise FileNotFoundError(f'{src}: not produced by the docs step (run tests/check_docs.py)')
        if p != 'index.ipynb': done.append((sec, p, render(src, p, pages, out)))
        else: done.append((sec, p, None))
    titles = {p: t for _, p, t in done}
    if 'index.ipynb' in titles: titles['index.ipynb'] = 'Home'
    done = [(s, p, titles[p]) for s, p, _ in done]
    toc = _toc(done)
    if (proc/'index.ipynb').exists(): render(proc/'index.ipynb', 'index.ipynb', pages, out, toc)
    else: (out/'index.html').write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>tumor-detect docs</title>{CSS}</head>'
                                        f'<body>{_nav(pages, "", 0)}<main class="td-main">{toc}</main></body></html>')
    return [(p, t) for _, p, t in done]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--force', action='store_true', help='reprocess every notebook (ignore nbdev\'s _proc cache)')
    ap.add_argument('--out', default=str(OUT), help='output folder')
    a = ap.parse_args(argv)
    proc = process(a.force)
    pages = build(proc, Path(a.out))
    print(f'docs preview: {len(pages)} pages + index.html in {Path(a.out).resolve().relative_to(ROOT) if Path(a.out).resolve().is_relative_to(ROOT) else a.out}/')
    return 0


if __name__ == '__main__': sys.exit(main())
