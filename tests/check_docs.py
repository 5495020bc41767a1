"""The docs step before Quarto renders: process the notebooks like `nbdev_proc_nbs` (which would try to install
Quarto first, impossible offline) and check that the sidebar and every relative link in the notebooks resolve."""
import json, re, sys


import yaml
from nbdev.config import get_config
from nbdev.quarto import refresh_quarto_yml
from nbdev.serve import proc_nbs
import nbdev.doclinks

def main() -> int:
    cfg = get_config(); nbs = cfg.nbs_path
    refresh_quarto_yml(); nbdev.doclinks._build_modidx()
    proc = proc_nbs(nbs, n_workers=0, force=True)
    problems = []
    side = yaml.safe_load((nbs/'sidebar.yml').read_text())['website']['sidebar']['contents']
    def walk(items):
        for it in items:
            if isinstance(it, str): yield it
            else: yield from walk(it.get('contents', []))
    for page in walk(side):
        if not (proc/page).exists(): problems.append(f'sidebar.yml: {page} was not produced by the docs step')
    link = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')
    for nb in sorted(nbs.rglob('*.ipynb')):
        if '_proc' in nb.parts or '.ipynb_checkpoints' in nb.parts: continue
        for cell in json.loads(nb.read_text())['cells']:
            if cell['cell_type'] != 'markdown': continue
            for target in link.findall(''.join(cell['source'])):
                if re.match(r'^[a-z]+:', target): continue     # http:, https:, mailto:
                t = (nb.parent/target)
                cands = [t, t.with_suffix('.ipynb'), t.with_suffix('.md'), cfg.config_path/target]
                if not any(c.exists() for c in cands): problems.append(f'{nb.relative_to(cfg.config_path)}: broken link {target}')
    print('\n'.join(problems) or f'docs step ok: {len(list(walk(side)))} sidebar pages, links resolve')
    return int(bool(problems))

if __name__ == '__main__': sys.exit(main())
