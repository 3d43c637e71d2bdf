"""Every results table in the notebooks, generated from its results file (so no number is typed by hand).

A notebook's markdown holds `<!-- results: PATH -->`, a table, and `<!-- /results -->`; PATH is a results JSON
relative to the repository root. This script replaces what is between the markers with
`kdnb.bench.results_markdown` of the file. `make export` runs it; `tests/test_repo.py` runs `stale_tables()` and fails
on any table that differs from what its file gives.
"""
import json, pathlib, re, sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
MARKED = re.compile(r'(<!-- results: (?P<path>\S+) -->)(?P<table>.*?)(<!-- /results -->)', re.S)

def notebooks():
    return sorted(p for p in NBS.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)

def fill(md: str) -> str:
    "`md` with every marked table regenerated from its results file."
    from kdnb.bench import results_markdown
    def table(m):
        path = ROOT / m.group('path')
        if not path.exists(): raise FileNotFoundError(f"results table marker names {m.group('path')}, which does not exist")
        return f"{m.group(1)}\n{results_markdown(json.loads(path.read_text()))}\n{m.group(4)}"
    return MARKED.sub(table, md)

def marked_files(nb: pathlib.Path) -> list[str]:
    "The results files a notebook's tables are generated from."
    cells = json.loads(nb.read_text())['cells']
    return [m.group('path') for c in cells if c['cell_type'] == 'markdown' for m in MARKED.finditer(''.join(c['source']))]

def update(write: bool = True) -> list[str]:
    "Regenerate every marked table; return the notebooks whose tables were out of date (written if `write`)."
    stale = []
    for nb in notebooks():
        d = json.loads(nb.read_text())
        changed = False
        for c in d['cells']:
            if c['cell_type'] != 'markdown': continue
            src = ''.join(c['source'])
            new = fill(src)
            if new != src:
                c['source'] = new.splitlines(keepends=True); changed = True
        if changed:
            stale.append(str(nb.relative_to(ROOT)))
            if write: nb.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n')
    return stale

def stale_tables() -> list[str]: return update(write=False)

if __name__ == '__main__':
    done = update(write='--check' not in sys.argv)
    print('\n'.join(f'{"stale" if "--check" in sys.argv else "updated"}: {p}' for p in done) or 'all tables current')
    sys.exit(1 if done and '--check' in sys.argv else 0)
