"""The library is what the notebooks say: exporting them again changes nothing, and committed notebooks are clean."""
import json, pathlib, shutil, subprocess, sys, filecmp
ROOT = pathlib.Path(__file__).resolve().parents[1]
NBDEV_EXPORT = pathlib.Path(sys.executable).parent / 'nbdev_export'

def py_files(d): return {p.relative_to(d) for p in d.rglob('*.py') if '__pycache__' not in p.parts}

def test_export_in_sync(tmp_path):
    for name in ('settings.ini', 'nbs'):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / 'kdnb', tmp_path / 'kdnb', ignore=shutil.ignore_patterns('__pycache__'))
    subprocess.run([str(NBDEV_EXPORT)], cwd=tmp_path, check=True, capture_output=True)
    fresh, committed = tmp_path / 'kdnb', ROOT / 'kdnb'
    assert py_files(fresh) == py_files(committed)
    differ = [str(p) for p in py_files(fresh) if not filecmp.cmp(fresh / p, committed / p, shallow=False)]
    assert not differ, f"kdnb/ is out of sync with nbs/ (run `make export`): {differ}"

def test_every_module_has_a_notebook():
    exported = set()
    for nb in (ROOT / 'nbs').rglob('*.ipynb'):
        for c in json.loads(nb.read_text())['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] == 'code' and src.startswith('#| default_exp'):
                exported.add(src.split()[2].split('\n')[0])
    modules = {str(p.with_suffix('')).replace('/', '.') for p in py_files(ROOT / 'kdnb')}
    modules -= {'__init__', '_modidx', 'methods.__init__'}
    assert modules <= exported, f"modules without a notebook (edited by hand?): {modules - exported}"

def test_notebooks_are_clean():
    "Committed notebooks carry no outputs or execution counts (`nbdev_clean`); docs and tests execute them."
    dirty = []
    for nb in sorted((ROOT / 'nbs').rglob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] == 'code' and (c.get('outputs') or c.get('execution_count')): dirty.append(nb.name); break
    assert not dirty, f"notebooks with outputs (run `make export`): {dirty}"

def test_readme_matches_index():
    sys.path.insert(0, str(ROOT / 'tools'))
    from make_readme import render
    readme = render(ROOT / 'nbs' / 'index.ipynb')
    assert (ROOT / 'README.md').read_text() == readme, "README.md is stale: run `make readme`"

def test_training_notebooks_have_parameters():
    "An experiment notebook has a cell tagged `parameters`, so papermill can size it for CI or for a GPU."
    import papermill as pm
    missing = []
    for nb in sorted((ROOT / 'nbs').rglob('*.ipynb')):
        cells = json.loads(nb.read_text())['cells']
        src = ''.join(''.join(c['source']) for c in cells if c['cell_type'] == 'code')
        # experiments (unit tests also train tiny models)
        trains = any(k in src for k in ('run_grid(', 'bench(cfg', 'compare('))
        experiment = '## Experiment' in ''.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
        if (trains or experiment) and nb.name != 'index.ipynb' and not pm.inspect_notebook(str(nb)):
            missing.append(nb.name)
    assert not missing, f"notebooks that train without a `parameters` cell: {missing}"

def test_readme_lists_every_method():
    "The README's method table (generated from the registry) names every registered method, with its notebook."
    from kdnb.bench import get_methods
    readme = (ROOT / 'README.md').read_text()
    missing = [m.name for m in get_methods() if m.name != 'none' and f'[`{m.name}`]({m.notebook})' not in readme]
    assert not missing, f"methods missing from README.md (run `make readme`): {missing}"

def test_notebook_layout():
    """Notebooks live in family folders (`kdnb.core.METHOD_FAMILIES`), named `<NN>_<name>.ipynb`; method notebooks
    after their module."""
    from kdnb.core import METHOD_FAMILIES
    for nb in (ROOT / 'nbs').rglob('*.ipynb'):
        if nb.parent == ROOT / 'nbs':
            assert nb.name == 'index.ipynb', f"{nb.name}: notebooks go in a family folder {sorted(METHOD_FAMILIES)}"
            continue
        assert nb.parent.name in METHOD_FAMILIES, f"{nb}: the folder must be a family {sorted(METHOD_FAMILIES)}"
        num, _, name = nb.stem.partition('_')
        assert len(num) == 2 and num.isdigit() and name, f"{nb.name}: name it <NN>_<name>.ipynb"
        for c in json.loads(nb.read_text())['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] == 'code' and src.startswith('#| default_exp methods.'):
                assert src.split()[2] == f'methods.{name}', f"{nb}: exports {src.split()[2]}, must be methods.{name}"

def test_quarto_sidebar_in_sync():
    "nbs/sidebar.yml (for nbdev_docs/Quarto) lists every notebook in the docs' reading order (`make docs` rewrites it)."
    sys.path.insert(0, str(ROOT / 'tools'))
    from build_docs import notebooks, quarto_sidebar
    nbs = [p for p in notebooks() if p.stem != 'index']
    sidebar = quarto_sidebar(nbs)
    assert (ROOT / 'nbs' / 'sidebar.yml').read_text() == sidebar, "nbs/sidebar.yml is stale: run `make docs`"
