"""Caches under concurrency (issue 5): two processes that build the same cached file at once do not corrupt it.

Each case starts two Python processes at the same moment on an empty cache directory. The lock serialises them:
exactly one builds, the other waits and then loads the finished file (verified by checksum), both end with
identical contents, and no temporary or partial file is left. (Corrupted, truncated, tampered and other-recipe
files are tested in nbs/foundation/07_teachers.ipynb; a file is always read with `weights_only=True`.)
"""
import json, os, subprocess, sys, pathlib

TEACHER = """
import json, sys
from kdnb.teachers import get_teacher
from kdnb.checkpoint import state_checksum
m = get_teacher('mlp-t', 'digits', epochs=2, device='cpu')
print(json.dumps(dict(trained=m.kdnb_info['trained'], checksum=state_checksum(m.state_dict()))))
"""

OUTPUTS = """
import json, sys, torch
from kdnb.data import get_dls
from kdnb.models import get_model
from kdnb.teachers import TeacherCache
torch.manual_seed(0); teacher = get_model('mlp-t', img_size=8).eval()
c = TeacherCache.get(sys.argv[1], teacher, get_dls('digits', with_idx=True, device='cpu'), k=3)
print(json.dumps(dict(checksum=c.meta['teacher'], values=float(c.values.sum()))))
"""

def run_two(code, tmp, *args):
    env = dict(os.environ, KDNB_CACHE=str(tmp / 'cache'), OMP_NUM_THREADS='1')
    procs = [subprocess.Popen([sys.executable, '-c', code, *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs): assert p.returncode == 0, err[-2000:]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]

def leftovers(folder: pathlib.Path): return [p.name for p in folder.iterdir() if p.suffix == '.tmp']

def test_two_processes_build_one_teacher(tmp_path):
    a, b = run_two(TEACHER, tmp_path)
    assert sorted([a['trained'], b['trained']]) == [False, True], "exactly one process trains, the other loads"
    assert a['checksum'] == b['checksum']
    folder = tmp_path / 'cache' / 'teachers'
    assert len(list(folder.glob('*.pt'))) == 1 and leftovers(folder) == []

def test_two_processes_build_one_output_cache(tmp_path):
    path = tmp_path / 'outputs' / 'digits-top3.pt'
    a, b = run_two(OUTPUTS, tmp_path, str(path))
    assert a == b
    assert path.exists() and leftovers(path.parent) == []
