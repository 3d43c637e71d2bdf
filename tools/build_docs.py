"""Build the documentation site into docs/, offline: execute the notebooks with papermill (documentation
parameters = CI size), process them the way nbdev does for its docs (hidden cells and `#|` directives gone, a
rendered signature and docstring after every exported function or class), add the method catalogue and the
leaderboard pages, and render everything with Sphinx + MyST-NB (which reads executed notebooks as they are).

Why Sphinx + MyST-NB and not nbdev_docs: nbdev_docs needs Quarto, which cannot be installed here (its PyPI package
downloads a binary at build time). The nbdev/Quarto configuration (settings.ini, nbs/_quarto.yml, nbs/sidebar.yml)
is kept valid so `nbdev_docs` works wherever Quarto exists. MathJax is served from the site itself (from the
`django-static-mathjax` package, MathJax 3.2.2 as static files with no dependencies), never from a CDN.

    python tools/build_docs.py [--executed tests/_executed] [--out docs] [--jobs 1]

`--executed DIR` reuses executed copies newer than their source notebook (the test suite leaves them in
tests/_executed), so `make test` does not run every notebook twice.
"""
from __future__ import annotations
import argparse, ast, json, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
CONF = ROOT / 'tools' / 'docs_conf'
BUILD = ROOT / 'build' / 'docs-src'
COMMITTED_BENCH = NBS / 'foundation' / 'results' / 'bench'   # the leaderboard the README and the docs show

def families() -> dict:
    "family folder -> section title, in reading order (`kdnb.core.METHOD_FAMILIES`)."
    from kdnb.core import METHOD_FAMILIES
    return METHOD_FAMILIES

def notebooks() -> list[Path]:
    "The landing page (nbs/index.ipynb), then every family folder's notebooks in reading order."
    fams = list(families())
    nbs = [p for p in NBS.glob('*/*.ipynb') if not p.name.startswith(('_', '.'))]
    unknown = sorted({p.parent.name for p in nbs} - set(fams))
    if unknown: raise ValueError(f"notebook folders that are not families {fams}: {unknown}")
    return [NBS / 'index.ipynb'] + sorted(nbs, key=lambda p: (fams.index(p.parent.name), p.name))

def rel(nb: Path) -> str:
    "A notebook's page name: its path under nbs/ without the suffix, e.g. 'logit/01_kd'."
    return str(nb.relative_to(NBS).with_suffix(''))

# ---------------------------------------------------------------- execution
def execute(nb: Path, dst: Path, reuse: Path | None, metrics: Path):
    "Execute `nb` at documentation parameters into `dst`, or copy a fresh executed copy from `reuse`."
    done = None if reuse is None else reuse / f'{rel(nb)}.ipynb'
    if done is not None and done.exists() and done.stat().st_mtime >= nb.stat().st_mtime:
        shutil.copy(done, dst); return 'reused'
    import papermill as pm
    declared = pm.inspect_notebook(str(nb))
    params = {k: v for k, v in dict(full=False, out=str(metrics)).items() if k in declared}
    pm.execute_notebook(str(nb), str(dst), parameters=params, kernel_name='python3', cwd=str(nb.parent),
                        progress_bar=False)
    return 'executed'

# ---------------------------------------------------------------- nbdev-style processing
DIRECTIVE = re.compile(r'^\s*#\|\s*(\S+)(.*)$')

def directives(src: str) -> dict:
    out = {}
    for line in src.splitlines():
        m = DIRECTIVE.match(line)
        if m: out[m.group(1).rstrip(':')] = m.group(2).strip()
    return out

def exported_names(src: str) -> list[str]:
    "Public functions and classes defined at the top level of an exported cell, in order."
    try: tree = ast.parse(src)
    except SyntaxError: return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and not n.name.startswith('_')]

def show_doc_markdown(module: str, name: str) -> str:
    "nbdev's rendered signature + docstring of `module.name`, without Quarto's source-link syntax."
    import importlib
    from nbdev.showdoc import show_doc
    obj = getattr(importlib.import_module(module), name)
    md = show_doc(obj, title_level=4)._repr_markdown_()
    return '\n'.join(l for l in md.splitlines() if not l.startswith('[source]')).replace('---\n', '', 1).strip()

def md_cell(src: str, **meta) -> dict: return dict(cell_type='markdown', metadata=meta, source=src)

def site_links(md: str) -> str:
    "Links written for the repository (README: `nbs/logit/02_dkd.ipynb`) point to the same page of the site."
    return re.sub(r'\]\(nbs/([^)]+)\)', r'](\1)', md)

def process(nb_path: Path, dst: Path):
    "Hide `#| hide` cells, drop directives, add signatures after exported definitions, strip papermill metadata."
    nb = json.loads(nb_path.read_text())
    module = None
    cells = []
    for c in nb['cells']:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if c['cell_type'] != 'code':
            if c['cell_type'] == 'markdown': cells.append(md_cell(site_links(fill(src))))
            continue
        d = directives(src)
        if 'default_exp' in d: module = d['default_exp']; continue
        if 'hide' in d: continue
        tags = c.get('metadata', {}).get('tags', [])
        if 'injected-parameters' in tags: continue          # papermill's cell: the docs show the notebook's defaults
        code = '\n'.join(l for l in src.splitlines() if not DIRECTIVE.match(l)).strip('\n')
        outputs = [o for o in c.get('outputs',
                                    []) if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]
        cells.append(dict(cell_type='code', execution_count=c.get('execution_count'), metadata={}, source=code,
                          outputs=outputs))
        if ('export' in d or 'exports' in d) and module:
            for name in exported_names(code):
                cells.append(md_cell(show_doc_markdown(f'{get_lib()}.{module}', name)))
    for i, c in enumerate(cells): c['id'] = f'cell-{i}'
    nb['cells'], nb['nbformat'], nb['nbformat_minor'] = cells, 4, 5
    nb['metadata'] = {k: v for k, v in nb.get('metadata', {}).items() if k in ('kernelspec', 'language_info')}
    dst.write_text(json.dumps(nb, indent=1))

def fill(md: str) -> str:
    "The README's generated tables (`<!-- methods -->`, `<!-- notebooks -->`), as in README.md."
    sys.path.insert(0, str(ROOT / 'tools'))
    from make_readme import fill as fill_tables
    return fill_tables(md)

def get_lib() -> str:
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    return cfg['DEFAULT']['lib_name']

def title_of(nb: Path) -> str:
    for c in json.loads(nb.read_text())['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown' and src.startswith('# '): return src.splitlines()[0][2:].strip()
    return nb.stem

# ---------------------------------------------------------------- generated pages
def sections(nbs: list[Path]) -> list[tuple[str, list[str]]]:
    "(caption, page names) per family, in reading order; the landing page (index) is not listed."
    out = [(caption, [rel(p) for p in nbs if p.parent.name == fam]) for fam, caption in families().items()]
    return [(c, pages) for c, pages in out if pages]

def quarto_sidebar(nbs: list[Path]) -> str:
    "nbs/sidebar.yml for `nbdev_docs` (Quarto), in the same reading order as this site."
    lines = ['# generated by tools/build_docs.py (`make docs`): the reading order of the docs, for Quarto/nbdev_docs',
             'website:', '  sidebar:', '    contents:', '      - index.ipynb']
    for caption, pages in sections(nbs):
        lines += [f'      - section: {caption}', '        contents:'] + [f'          - {p}.ipynb' for p in pages]
    return '\n'.join(lines) + '\n'

def toctree(nbs: list[Path]) -> str:
    parts = ['```{toctree}\n:caption: ' + caption + '\n:maxdepth: 1\n\n' + '\n'.join(pages) + '\n```'
             for caption, pages in sections(nbs)]
    parts.append('```{toctree}\n:caption: Reference\n:maxdepth: 1\n\nmethods\nleaderboard\n```')
    return '\n\n'.join(parts)

def catalogue(nbs: list[Path]) -> str:
    "The method catalogue page: the registry's table (the README's), grouped by family, linked to the notebooks."
    sys.path.insert(0, str(ROOT / 'tools'))
    from make_readme import methods_table
    return ('# Method catalogue\n\nEvery method registered with the bench (`kdnb bench --list`), grouped by family: '
            'its key, its paper, the line a user writes, and the idea.\n\n' + site_links(methods_table()) + '\n')

def leaderboard(dst: Path, bench_out: Path) -> str:
    """The leaderboard page: the committed default leaderboard (nbs/foundation/results/bench/), the same table as the
    README's, generated from its results file; with `--bench-out DIR`, the run found there instead."""
    from kdnb.bench import results_markdown
    res_path = bench_out / 'results.json'
    if not res_path.exists():
        raise FileNotFoundError(f"{res_path} is missing: run `kdnb bench --out {bench_out}` (or `make results`)")
    res = json.loads(res_path.read_text())
    shutil.copy(bench_out / 'leaderboard.png', dst / 'leaderboard.png')
    where = ('the committed default leaderboard (`nbs/foundation/results/bench/results.json`, made by `kdnb bench`)'
             if bench_out.resolve() == COMMITTED_BENCH.resolve() else f'the `kdnb bench` run in `{bench_out}`')
    return '\n'.join(['# Leaderboard', '',
                      f'From {where}: every registered method against the student alone and Hinton KD, paired by '
                      'seed. How the default setting was chosen: [Bench](foundation/09_bench.ipynb).', '',
                      results_markdown(res), '',
                      '![The leaderboard: accuracy and paired differences per method, one dot per seed](leaderboard.png)',
                      ''])

# ---------------------------------------------------------------- main
def build(out: Path, reuse: Path | None, bench_out: Path, quiet=False):
    t0 = time.perf_counter()
    if BUILD.exists(): shutil.rmtree(BUILD)
    (BUILD / 'executed').mkdir(parents=True)
    src = BUILD / 'src'
    shutil.copytree(CONF, src)
    nbs = notebooks()
    (NBS / 'sidebar.yml').write_text(quarto_sidebar([p for p in nbs if p.stem != 'index']))
    for nb in nbs:
        done, page = BUILD / 'executed' / f'{rel(nb)}.ipynb', src / f'{rel(nb)}.ipynb'
        done.parent.mkdir(parents=True, exist_ok=True); page.parent.mkdir(parents=True, exist_ok=True)
        how = execute(nb, done, reuse, BUILD / 'metrics')
        process(done, page)
        if not quiet: print(f'{rel(nb)}: {how}', flush=True)
    for results in NBS.glob('*/results'):   # the images pages show from committed results (the leaderboard's plot)
        shutil.copytree(results, src / results.parent.name / 'results', dirs_exist_ok=True)
    index = json.loads((src / 'index.ipynb').read_text())
    index['cells'].append(md_cell(toctree([p for p in nbs if p.stem != 'index'])))
    (src / 'index.ipynb').write_text(json.dumps(index, indent=1))
    (src / 'methods.md').write_text(catalogue(nbs))
    (src / 'leaderboard.md').write_text(leaderboard(src, bench_out))
    import mathjax    # django-static-mathjax: MathJax 3's es5 build as package data
    shutil.copytree(Path(mathjax.__file__).parent / 'static' / 'mathjax' / 'es5', src / '_static' / 'mathjax')
    if out.exists():
        for p in out.iterdir():
            if p.name != 'README.md': shutil.rmtree(p) if p.is_dir() else p.unlink()
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-W', '--keep-going', '-E', str(src), str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    (out / '.nojekyll').touch()
    if not quiet: print(f'docs built into {out} in {time.perf_counter() - t0:.0f} s; open {out / "index.html"}')

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default=str(ROOT / 'docs'), help='output folder (default docs/)')
    p.add_argument('--executed', default=None, help='reuse executed notebooks from this folder when fresh')
    p.add_argument('--bench-out', default=str(COMMITTED_BENCH),
                   help='where `kdnb bench` wrote results.json (default: the committed leaderboard)')
    a = p.parse_args()
    build(Path(a.out), Path(a.executed) if a.executed else None, Path(a.bench_out))
