"""Every notebook in nbs/ is a test: papermill executes it (CI parameters by default, the paper-size ones with
KDNB_FULL=1), every experiment writes finite metrics, and the executed copy is kept in tests/_executed/."""
import json, math, os, pathlib
import pytest
import papermill as pm

ROOT = pathlib.Path(__file__).resolve().parents[1]
NBS = [ROOT / 'nbs' / 'index.ipynb'] + sorted(p for p in (ROOT / 'nbs').glob('*/*.ipynb')
                                             if not p.name.startswith(('_', '.')))
def rel(nb: pathlib.Path) -> str: return str(nb.relative_to(ROOT / 'nbs').with_suffix(''))   # e.g. 'logit/01_kd'
FULL = os.environ.get('KDNB_FULL') == '1'
EXECUTED = ROOT / 'tests' / '_executed'

def finite_numbers(obj):
    "Every number in a JSON-like object (bools excluded)."
    if isinstance(obj, bool): return
    if isinstance(obj, (int, float)): yield obj
    elif isinstance(obj, dict):
        for v in obj.values(): yield from finite_numbers(v)
    elif isinstance(obj, list):
        for v in obj: yield from finite_numbers(v)

def run_notebook(nb: pathlib.Path, executed: pathlib.Path, params: dict):
    "Execute `nb` into `executed` with papermill; on an error, fail naming the notebook, the cell and the exception."
    executed.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(nb), str(executed), parameters=params, kernel_name='python3', cwd=str(nb.parent),
                            progress_bar=False)
    except pm.PapermillExecutionError as e:
        source = e.source if len(e.source) < 600 else e.source[:600] + ' ...'
        pytest.fail(f"{nb.name}, cell {e.exec_count} failed with {e.ename}: {e.evalue}\n--- the cell:\n{source}\n"
                    f"--- executed copy kept at {executed}", pytrace=False)

@pytest.mark.parametrize('nb', NBS, ids=[rel(p) for p in NBS])
def test_notebook(nb, tmp_path, shared_teachers):
    declared = pm.inspect_notebook(str(nb))
    params = {k: v for k, v in dict(full=FULL, out=str(tmp_path / 'out')).items() if k in declared}
    run_notebook(nb, EXECUTED / f'{rel(nb)}.ipynb', params)
    if 'out' in params:
        files = sorted((tmp_path / 'out').glob('*.json'))
        assert files, f"{nb.name} has an `out` parameter but wrote no metrics JSON"
        for f in files:
            nums = list(finite_numbers(json.loads(f.read_text())))
            assert nums, f"{f.name} holds no numbers"
            assert all(math.isfinite(v) for v in nums), f"{f.name} holds NaN/inf"

def test_failure_report_names_notebook_cell_and_exception(tmp_path):
    "A failing notebook's test failure names the notebook, the cell (number and source) and the original exception."
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1'),
                                         nbformat.v4.new_code_cell('def f(): raise KeyError("no_such_layer")\nf()')])
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3', language='python')
    src = tmp_path / 'broken.ipynb'
    nbformat.write(nb, src)
    executed = tmp_path / 'executed' / 'broken.ipynb'
    with pytest.raises(pytest.fail.Exception) as info: run_notebook(src, executed, {})
    msg = str(info.value)
    assert 'broken.ipynb, cell 2 failed with KeyError' in msg and 'no_such_layer' in msg
    assert 'raise KeyError' in msg and str(executed) in msg
    assert executed.exists(), "the executed copy is kept for inspection"
