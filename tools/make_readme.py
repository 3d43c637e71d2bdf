"""README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which cannot be installed here).
Markdown cells as they are, code cells as python blocks; cells marked `#| hide` are left out, `#|` lines dropped."""
import json, pathlib, sys

def render(nb_path) -> str:
    cells = json.loads(pathlib.Path(nb_path).read_text())['cells']
    parts = ['<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then `make readme` -->']
    for c in cells:
        src = ''.join(c['source'])
        lines = src.splitlines()
        if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
        if c['cell_type'] == 'markdown': parts.append(src.strip())
        elif c['cell_type'] == 'code':
            code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
            if code: parts.append(f'```python\n{code}\n```')
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    root = pathlib.Path(__file__).resolve().parents[1]
    (root / 'README.md').write_text(render(root / 'nbs' / 'index.ipynb'))
