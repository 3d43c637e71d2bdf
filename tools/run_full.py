"""Run method notebooks at their full (leaderboard) setting and keep their results files.

Each method notebook (not nbs/foundation/: the leaderboard is `kdnb bench`'s) with `full` and `out` parameters is executed by papermill with `full=True` and `out` set to
`nbs/<family>/results/`, where its experiment writes `<module>.json`: the file its Reading table is generated from
(`tools/make_tables.py`). Commit before running: every file records the git commit it was made with.

    python tools/run_full.py                      # every such notebook
    python tools/run_full.py logit/01_kd logit/02_dkd
    python tools/run_full.py --executed /tmp/full logit/01_kd   # keep the executed copies there
"""
import pathlib, sys, tempfile, time
import papermill as pm

ROOT = pathlib.Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'

def full_notebooks(names=()):
    nbs = sorted(p for p in NBS.glob('*/*.ipynb') if not p.name.startswith(('_', '.')) and p.parent.name != 'foundation')
    if names: nbs = [NBS / f'{n}.ipynb' for n in names]
    return [p for p in nbs if {'full', 'out'} <= set(pm.inspect_notebook(str(p)))]

if __name__ == '__main__':
    args = sys.argv[1:]
    tmp = pathlib.Path(args[args.index('--executed') + 1]) if '--executed' in args else None
    if tmp is not None: del args[args.index('--executed'):args.index('--executed') + 2]
    todo = full_notebooks(args)
    tmp = tmp or pathlib.Path(tempfile.mkdtemp(prefix='kdnb-full-'))
    tmp.mkdir(parents=True, exist_ok=True)
    for nb in todo:
        t0 = time.perf_counter()
        pm.execute_notebook(str(nb), str(tmp / nb.name), parameters=dict(full=True, out=str(nb.parent / 'results')),
                            kernel_name='python3', cwd=str(nb.parent), progress_bar=False)
        print(f'{nb.relative_to(NBS)}: {time.perf_counter() - t0:.0f} s (executed copy: {tmp / nb.name})', flush=True)
