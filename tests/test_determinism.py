"""Determinism on CPU (issue 5): the same seed gives the same bench numbers, in another process.

Two separate processes run `kdnb bench` on the same small job (digits, the KD and DKD methods and the student
alone, one seed, 2 epochs, a teacher trained in a fresh cache). The second process first draws from every global
random generator, so a result that depended on the process's history (an unseeded initialisation, shuffling from
the global state) would differ; it also keeps glibc's allocator defaults (`--no-tune-malloc`) where the first
tunes it, so the allocator setting must not change a number either. Everything in results.json except wall times
must be equal, to the last bit; the two teachers must have identical weights. Same machine and thread count: float
reductions on other thread counts or builds may round differently (see nbs/foundation/13_reliability.ipynb).
"""
import json, os, subprocess, sys, pathlib
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
JOB = ['--methods', 'none,kd,dkd', '--dataset', 'digits', '--epochs', '2', '--seeds', '1', '--teacher-epochs', '2',
       '--device', 'cpu']
PRELUDE = ("import random, numpy, torch, sys; random.seed(99); numpy.random.seed(99); torch.manual_seed(99); "
           "[random.random(), torch.rand(7), numpy.random.rand(3)]; ")

def bench(tmp: pathlib.Path, disturb: bool) -> dict:
    out, cache = tmp / 'out', tmp / 'cache'
    code = (PRELUDE if disturb else '') + "import sys; from kdnb.bench import main; sys.exit(main())"
    env = dict(os.environ, KDNB_CACHE=str(cache), KDNB_RUN_MEMO='0')   # both runs train: no memo of runs
    flags = ['--no-tune-malloc'] if disturb else []
    r = subprocess.run([sys.executable, '-c', code, 'bench', *JOB, *flags, '--out', str(out)], env=env, cwd=tmp,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
    assert r.returncode == 0, f"kdnb bench failed:\n{r.stderr[-3000:]}"
    teacher, = (cache / 'teachers').glob('*.pt')
    return json.loads((out / 'results.json').read_text()), torch.load(teacher, weights_only=True)['checksum']

def without_times(o):
    "`o` without wall times, the date and the output folder."
    if isinstance(o, dict):
        return {k: without_times(v) for k, v in o.items() if k not in ('sec_per_epoch', 'total_seconds', 'date', 'out')}
    if isinstance(o, list): return [without_times(v) for v in o]
    return o

def test_same_seed_same_numbers(tmp_path):
    (tmp_path / 'a').mkdir(); (tmp_path / 'b').mkdir()
    ra, ta = bench(tmp_path / 'a', disturb=False)
    rb, tb = bench(tmp_path / 'b', disturb=True)
    assert ta == tb, "the teacher trained from the same recipe differs between processes"
    a, b = without_times(ra), without_times(rb)
    assert a == b
    assert a, "no results to compare"
