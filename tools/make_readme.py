"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does with Quarto, which is not installable everywhere):
markdown cells in order, Quarto callout divs as blockquotes, links into nbs/ made relative to the repo root.
`--check` exits 1 when README.md is stale."""
import json, os, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def render() -> str:
    nb = json.loads((root/'nbs'/'index.ipynb').read_text())
    out = []
    for c in nb['cells']:
        if c['cell_type'] != 'markdown': continue
        src, lines, in_div = ''.join(c['source']), [], False
        for line in src.splitlines():
            if line.startswith(':::'): in_div = not in_div; continue
            lines.append(('> ' + line) if in_div and line else line)
        out.append('\n'.join(lines))
    text = '\n\n'.join(out) + '\n'
    return re.sub(r'\]\((?!https?:|#|/)([^)]+)\)', lambda m: f"]({os.path.normpath('nbs/' + m.group(1))})", text)

if __name__ == '__main__':
    new = render(); readme = root/'README.md'
    if '--check' in sys.argv:
        ok = readme.exists() and readme.read_text() == new
        print('README.md is up to date' if ok else 'README.md is stale: run `make readme`'); sys.exit(0 if ok else 1)
    readme.write_text(new); print(f'wrote {readme}')
