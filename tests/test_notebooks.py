"""Every notebook in nbs/ is a test: papermill executes it (CI parameters by default, the paper-size ones with
KDNB_FULL=1), every experiment writes finite metrics, and the executed copy is kept in tests/_executed/."""
import json, math, os, pathlib
import pytest
import papermill as pm

ROOT = pathlib.Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
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

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, tmp_path):
    declared = pm.inspect_notebook(str(nb))
    params = {k: v for k, v in dict(full=FULL, out=str(tmp_path / 'out')).items() if k in declared}
    EXECUTED.mkdir(exist_ok=True)
    executed = EXECUTED / nb.name
    try:
        pm.execute_notebook(str(nb), str(executed), parameters=params, kernel_name='python3', cwd=str(nb.parent),
                            progress_bar=False)
    except pm.PapermillExecutionError as e:
        pytest.fail(f"{nb.name}, cell {e.exec_count}: {e.ename}: {e.evalue}\n(executed copy kept at {executed})",
                    pytrace=False)
    if 'out' in params:
        files = sorted((tmp_path / 'out').glob('*.json'))
        assert files, f"{nb.name} has an `out` parameter but wrote no metrics JSON"
        for f in files:
            nums = list(finite_numbers(json.loads(f.read_text())))
            assert nums, f"{f.name} holds no numbers"
            assert all(math.isfinite(v) for v in nums), f"{f.name} holds NaN/inf"
