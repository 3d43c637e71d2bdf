"""Where the time of a live-teacher KD step goes: the same teacher forward inside kdnb's fastai step, torchdistill's
loop and fasterai's step, profiled in one process. Prints figures; not a test.

The job is peers.py's (the same teacher, student, batches, optimizer and loss). For each library, in interleaved rounds,
hooks on the teacher record for every training-step teacher forward
  ms     : its wall time
  faults : the minor page faults the process took during it (`getrusage`): pages the kernel had to map and zero
           because the C allocator had returned freed memory to it
and hooks on the student time its training forwards, so that each step splits into student forward, teacher
forward and the rest (loss, backward, optimizer step and the framework's own work; for kdnb also `Distill`'s
`after_loss` and its `after_pred` beyond the teacher forward). One run per library under `torch.profiler` gives the
teacher forward's time by operator (the children of a `teacher forward` range the hooks open). The teacher timed
alone on the same batches in a bare loop is the reference.
The script runs itself twice in fresh processes: with glibc's default allocator settings and after
`kdnb.performance.tune_malloc()` (freed memory kept for reuse); the same settings apply to every library in a process.

    python benchmarks/gap.py [--case mnist|synth] [--rounds 3] [--steps 30] [--malloc both|default|tuned] [--json out.json]
"""
import argparse, json, resource, subprocess, sys, time
from pathlib import Path
import torch
import _common
from _common import machine_line, median, finish, set_malloc, time_teacher

LIBS = ('kdnb', 'torchdistill', 'fasterai')
RECORD = {}   # name -> {'ms': [...], 'faults': [...]}, filled by the forward hooks below


def minor_faults() -> int: return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timing_hooks(name: str, training_only: bool = False):
    """Forward pre-hook and hook that record each forward's wall ms and minor page faults in `RECORD[name]`, inside a
    profiler range `name + ' forward'`. Closures, not bound methods, so that they survive the runners' deepcopy of
    the teacher; `training_only`: skip forwards without grad (validation, for a student)."""
    open_ = []
    def before(module, args):
        if training_only and not torch.is_grad_enabled(): return
        rng = torch.profiler.record_function(f'{name} forward'); rng.__enter__()
        open_.append((rng, minor_faults(), time.perf_counter()))
    def after(module, args, out):
        if not open_: return
        rng, f0, t0 = open_.pop()
        rec = RECORD.setdefault(name, dict(ms=[], faults=[]))
        rec['ms'].append(1000 * (time.perf_counter() - t0)); rec['faults'].append(minor_faults() - f0)
        rng.__exit__(None, None, None)
    return before, after


def hook(module, name, training_only=False):
    before, after = timing_hooks(name, training_only)
    module.register_forward_pre_hook(before); module.register_forward_hook(after)
    return module


class DistillTimes:
    "Wall ms of `Distill.after_pred` and `Distill.after_loss` (patched on the class while measuring)."
    def __init__(self): self.ms = dict(after_pred=[], after_loss=[])
    def __enter__(self):
        from kdnb.core import Distill
        self.saved = {k: getattr(Distill, k) for k in self.ms}
        for k, f in self.saved.items(): setattr(Distill, k, self._timed(f, self.ms[k]))
        return self
    @staticmethod
    def _timed(f, out):
        def g(learner_cb):
            t0 = time.perf_counter(); f(learner_cb)
            if learner_cb.training: out.append(1000 * (time.perf_counter() - t0))
        return g
    def __exit__(self, *exc):
        from kdnb.core import Distill
        for k, f in self.saved.items(): setattr(Distill, k, f)


def timed_run(run, lib, job, steps, warmup) -> dict:
    """Per training step of one run of `lib` (the first `warmup` dropped): step ms, teacher and student forward ms and
    faults, the rest."""
    RECORD.clear()
    with DistillTimes() as d: res = run(lib, job, seed=0, steps=steps)
    n = len(res.step_times)      # fasterai also runs its teacher in validation: keep the training steps' forwards
    t, s = RECORD['teacher'], RECORD['student']
    out = dict(step_ms=[1000 * x for x in res.step_times[warmup:]], ms=t['ms'][warmup:n], faults=t['faults'][warmup:n],
               student_ms=s['ms'][warmup:n])
    out['rest_ms'] = [a - b - c for a, b, c in zip(out['step_ms'], out['ms'], out['student_ms'])]
    if lib == 'kdnb':
        out['distill_after_pred_extra_ms'] = [a - b for a, b in zip(d.ms['after_pred'][warmup:n], out['ms'])]
        out['distill_after_loss_ms'] = d.ms['after_loss'][warmup:n]
    return out


def profile_run(run, lib, job, steps) -> dict:
    "CPU ms per teacher forward inside the training step under torch.profiler: in all, and its top operators."
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        res = run(lib, job, seed=0, steps=steps)
    n = len(res.step_times)
    forwards = [e for e in prof.events() if e.name == 'teacher forward'][:n]   # the range the teacher's hooks open
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
    hook(job.teacher, 'teacher')
    make_student = job.make_student
    job.make_student = lambda: hook(make_student(), 'student', training_only=True)
    res = {lib: {} for lib in LIBS}
    for r in range(a.rounds):
        for lib in LIBS:
            for k, v in timed_run(peers.run, lib, job, a.steps, peers.WARMUP).items():
                res[lib].setdefault(k, []).extend(v)
    RECORD.clear(); time_teacher(job.teacher, job.make_dls(0), a.steps, warmup=0)   # the teacher's hooks record it
    alone = RECORD['teacher']
    prof = {lib: profile_run(peers.run, lib, job, min(a.steps, 12)) for lib in LIBS}
    return dict(malloc=_common.MALLOC, machine=machine_line('cpu'), desc=job.desc, prof=prof,
                median={lib: {k: median(v) for k, v in d.items()} for lib, d in {**res, 'teacher alone': alone}.items()},
                raw=res)


def report(out):
    print(f"\n--- allocator: {out['malloc']}")
    print(f"{'':14s} {'teacher fwd ms':>14s} {'faults/fwd':>10s} {'step ms':>8s}   (medians over the rounds' training "
          f"steps)")
    for lib, m in out['median'].items():
        print(f"{lib:14s} {m['ms']:14.1f} {m['faults']:10.0f} {m.get('step_ms', float('nan')):8.1f}")
    print("the step split (ms, medians): student forward, teacher forward, the rest (loss, backward, optimizer, "
          "framework)")
    for lib in LIBS:
        m = out['median'][lib]
        extra = (f"; of the rest, Distill's after_loss {m['distill_after_loss_ms']:.2f}, its after_pred beyond the "
                 f"teacher "
                 f"{m['distill_after_pred_extra_ms']:.2f}" if lib == 'kdnb' else '')
        print(f"  {lib:12s} step {m['step_ms']:6.1f} = student {m['student_ms']:5.1f} + teacher {m['ms']:5.1f} + rest "
              f"{m['rest_ms']:5.1f}{extra}")
    print("torch.profiler, the teacher forward inside the step (ms per forward; top operators):")
    for lib, p in out['prof'].items():
        ops = ", ".join(f"{k} {v:.1f}" for k, v in p['top_ops_ms'].items())
        print(f"  {lib:12s} {p['teacher_forward_ms']:6.1f}  {ops}")


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
