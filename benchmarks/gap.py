"""Where the time of a live-teacher KD step goes: the same teacher forward inside kdnb's fastai step, torchdistill's
loop and fasterai's step, profiled in one process. Prints figures; not a test.

The job is peers.py's (the same teacher, student, batches, optimizer and loss). For each library, in interleaved rounds,
hooks on the teacher record for every training-step teacher forward
  ms     : its wall time
  faults : the minor page faults the process took during it (`getrusage`): pages the kernel had to map and zero
           because the C allocator had returned freed memory to it
and one run per library under `torch.profiler` gives the teacher forward's time by operator (the children of a
`teacher forward` range the hooks open). The teacher timed alone on the same batches in a bare loop is the reference.
The script runs itself twice in fresh processes: with glibc's default allocator settings and after
`kdnb.core.tune_malloc()` (freed memory kept for reuse); the same settings apply to every library in a process.

    python benchmarks/gap.py [--case mnist|synth] [--rounds 3] [--steps 30] [--malloc both|default|tuned] [--json out.json]
"""
import argparse, json, resource, subprocess, sys, time
from pathlib import Path
import torch
import _common
from _common import machine_line, median, finish, set_malloc

LIBS = ('kdnb', 'torchdistill', 'fasterai')
RECORD = dict(ms=[], faults=[])   # filled by the teacher's hooks (plain functions: they survive the runners' deepcopy)


def minor_faults() -> int: return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


OPEN = []   # the teacher forward in progress: (profiler range, faults and time at its start); not on the module, which is deep-copied

def _before_teacher(module, args):
    rng = torch.profiler.record_function('teacher forward'); rng.__enter__()
    OPEN.append((rng, minor_faults(), time.perf_counter()))

def _after_teacher(module, args, out):
    rng, f0, t0 = OPEN.pop()
    RECORD['ms'].append(1000 * (time.perf_counter() - t0)); RECORD['faults'].append(minor_faults() - f0)
    rng.__exit__(None, None, None)


def teacher_forwards(run, lib, job, steps, warmup):
    "ms and faults of the training-step teacher forwards of one run of `lib` (the first `warmup` dropped)."
    RECORD['ms'].clear(); RECORD['faults'].clear()
    res = run(lib, job, seed=0, steps=steps)
    n = len(res.step_times)      # fasterai also runs its teacher in validation: keep the training steps' forwards
    return dict(ms=RECORD['ms'][warmup:n], faults=RECORD['faults'][warmup:n], step_ms=[1000 * t for t in res.step_times[warmup:]])


def profile_run(run, lib, job, steps) -> dict:
    "Self CPU ms per step of the operators inside the teacher forward, and of the step's parts, under torch.profiler."
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        res = run(lib, job, seed=0, steps=steps)
    n = len(res.step_times)
    forwards = [e for e in prof.events() if e.name == 'teacher forward'][:n]
    by_op = {}
    def add(e):
        for c in e.cpu_children:
            by_op[c.name] = by_op.get(c.name, 0.) + c.cpu_time_total / 1000 / len(forwards)
    for e in forwards: add(e)
    top = dict(sorted(by_op.items(), key=lambda kv: -kv[1])[:6])
    total = sum(e.cpu_time_total for e in forwards) / 1000 / len(forwards)
    return dict(teacher_forward_ms=total, top_ops_ms=top)


def child(a):
    "The measurements in this process, with the allocator setting `a.malloc`; returns the figures."
    set_malloc(a.malloc)
    sys.path.insert(0, str(Path(__file__).parent))
    import peers
    job = peers.build_job(a.case, a.bs, torch.device('cpu'), a.pair)
    job.teacher.register_forward_pre_hook(_before_teacher); job.teacher.register_forward_hook(_after_teacher)
    res = {lib: dict(ms=[], faults=[], step_ms=[]) for lib in LIBS}
    for r in range(a.rounds):
        for lib in LIBS:
            for k, v in teacher_forwards(peers.run, lib, job, a.steps, peers.WARMUP).items(): res[lib][k] += v
    alone = dict(ms=[], faults=[])
    for x, *_ in list(job.make_dls(0).train)[:a.steps]:
        f0, t0 = minor_faults(), time.perf_counter()
        with torch.no_grad(): job.teacher(x)
        alone['ms'].append(1000 * (time.perf_counter() - t0)); alone['faults'].append(minor_faults() - f0)
    prof = {lib: profile_run(peers.run, lib, job, min(a.steps, 12)) for lib in LIBS}
    return dict(malloc=_common.MALLOC, machine=machine_line('cpu'), desc=job.desc, prof=prof,
                median={lib: {k: median(v) for k, v in d.items()} for lib, d in {**res, 'teacher alone': alone}.items()},
                raw=res)


def report(out):
    print(f"\n--- allocator: {out['malloc']}")
    print(f"{'':14s} {'teacher fwd ms':>14s} {'faults/fwd':>10s} {'step ms':>8s}   (medians over the rounds' training steps)")
    for lib, m in out['median'].items():
        print(f"{lib:14s} {m['ms']:14.1f} {m['faults']:10.0f} {m.get('step_ms', float('nan')):8.1f}")
    print("torch.profiler, the teacher forward inside the step (ms per forward; top operators):")
    for lib, p in out['prof'].items():
        print(f"  {lib:12s} {p['teacher_forward_ms']:6.1f}  " + ", ".join(f"{k} {v:.1f}" for k, v in p['top_ops_ms'].items()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--case', default='mnist', choices=['mnist', 'synth'])
    p.add_argument('--pair', default='issue', choices=['issue', 'default'])
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--malloc', default='both', choices=['both', 'default', 'tuned'])
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--json', default=None)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a), default=str)); return
    t_start = time.perf_counter()
    print(machine_line('cpu'))
    out = dict(args=vars(a), machine=machine_line('cpu'), runs={})
    for mode in (['default', 'tuned'] if a.malloc == 'both' else [a.malloc]):
        argv = [sys.executable, __file__, '--child', '--malloc', mode, '--case', a.case, '--pair', a.pair,
                '--bs', str(a.bs), '--rounds', str(a.rounds), '--steps', str(a.steps)]
        lines = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip().splitlines()
        out['runs'][mode] = json.loads(lines[-1])
        report(out['runs'][mode])
    finish(out, t_start, a.json)

if __name__ == '__main__': main()
