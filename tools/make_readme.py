"""README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which cannot be installed here).
Markdown cells as they are, code cells as python blocks; cells marked `#| hide` are left out, `#|` lines dropped.
Two markers in the markdown are filled in, so no table is edited by hand: `<!-- notebooks -->` (every notebook by
family, with its title and one-line description) and `<!-- methods -->` (every registered method, from the
registry: key, paper, family, the line a user writes, the idea)."""
import json, pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'

def title_and_line(nb: pathlib.Path) -> tuple[str, str]:
    "A notebook's title (`# ...`) and its one-line description (`> ...`)."
    for c in json.loads(nb.read_text())['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown' and src.startswith('# '):
            lines = src.splitlines()
            desc = next((l[1:].strip() for l in lines[1:] if l.startswith('>')), '')
            return lines[0][2:].strip(), desc
    return nb.stem, ''

def notebooks_table() -> str:
    "Every notebook, family by family (the folders of nbs/ in `kdnb.core.METHOD_FAMILIES` order)."
    from kdnb.core import METHOD_FAMILIES
    rows = []
    for fam, caption in METHOD_FAMILIES.items():
        nbs = sorted((NBS / fam).glob('*.ipynb')) if (NBS / fam).is_dir() else []
        if not nbs: continue
        rows += ['', f'**{caption}** (`nbs/{fam}/`)', '', '| notebook | what it holds |', '|---|---|']
        for nb in nbs:
            title, desc = title_and_line(nb)
            rows.append(f"| [{nb.stem}](nbs/{fam}/{nb.name}): {title} | {desc} |")
    return '\n'.join(rows).strip()

def methods_table() -> str:
    "Every registered method, family by family: key (linked to its notebook), paper, the user's line, the idea."
    from kdnb.bench import get_methods
    from kdnb.core import METHOD_FAMILIES
    methods = [m for m in get_methods() if m.name != 'none']
    rows = []
    for fam, caption in METHOD_FAMILIES.items():
        ms = [m for m in methods if m.family == fam]
        if not ms: continue
        rows += ['', f'**{caption}**', '', '| method | paper | use it | the idea |', '|---|---|---|---|']
        for m in ms:
            title = title_and_line(ROOT / m.notebook)[0]
            rows.append(f"| [`{m.name}`]({m.notebook}) | *{title}* ({m.paper}) | `{m.usage}` | {m.idea} |")
    return '\n'.join(rows).strip()

MARKERS = {'<!-- notebooks -->': notebooks_table, '<!-- methods -->': methods_table}

def fill(md: str) -> str:
    for marker, table in MARKERS.items():
        if marker in md: md = md.replace(marker, table())
    return md

def render(nb_path) -> str:
    cells = json.loads(pathlib.Path(nb_path).read_text())['cells']
    parts = ['<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then `make readme` -->']
    for c in cells:
        src = ''.join(c['source'])
        lines = src.splitlines()
        if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
        if c['cell_type'] == 'markdown': parts.append(fill(src.strip()))
        elif c['cell_type'] == 'code':
            code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
            if code: parts.append(f'```python\n{code}\n```')
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    (ROOT / 'README.md').write_text(render(NBS / 'index.ipynb'))
