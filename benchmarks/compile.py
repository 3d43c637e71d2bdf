"""What does `torch.compile` buy a distillation step on CPU, and does it change the numbers? Prints figures; not a test.

Eager against compiled for three cases on MNIST, batch 64:
  student : the student alone (cnn-s), compiled with `student.compile()`
  default : `Distill(teacher, KD(T=4), ce_weight=0.1, kd_weight=0.9, compile=...)`, the default pair cnn-t -> cnn-s
            (the teacher trained, from the kdnb cache)
  bigger  : the same Distill with a bigger conv pair: teacher `cnn(width=64)` (372k params, freshly initialised: its
            weights do not change the time of a forward pass) -> student cnn-t (94k params)
`Distill(compile=True)` compiles the student and the teacher in place (`nn.Module.compile`) at `before_fit`.
What is measured, per case:
  losses    : the total loss and every distillation term of the first `--check-steps` training steps, eager and
              compiled, from the same initialisation on the same batches: asserted equal to 1e-5 (max abs diff printed)
  compile   : wall time of the first compiled step minus the compiled steady-state median (tracing and code
              generation of the training graph of the student, forward and backward, and of the eval-mode teacher).
              The first compilation in a process also pays once for imports and toolchain checks: measured apart,
              by compiling a one-line function first.
              Not counted: validation runs the student in eval mode, which compiles a second graph, and a last
              smaller batch can compile a dynamic-shape graph, once each per fit.
  step time : median seconds per training step (fastai `before_batch` to `after_batch`; data loading excluded),
              eager and compiled in interleaved rounds after the first run, first 3 steps of each run dropped;
              speed-up = eager / compiled.
The compiled code is kept by the modules, so only the first compiled run pays for compilation. Each case compiles
cold: in a fresh, empty inductor cache directory (inductor otherwise reuses generated code from
/tmp/torchinductor_<user>, so later compilations of the same graphs are faster than measured here).

    python benchmarks/compile.py [--cases student default bigger] [--rounds 3] [--steps 20] [--check-steps 5]
                                 [--device cpu] [--json out.json]
"""
import argparse, copy, statistics, tempfile, time
from dataclasses import dataclass
import torch
from torch import nn
from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir
from fastai.callback.core import Callback
from kdnb.core import Distill
from kdnb.data import get_dls
from kdnb.models import get_model, param_count
from kdnb.methods.kd import KD
from kdnb.teachers import get_teacher
from _common import WARMUP, machine_line, step_times, finish, parse_args

TOL = 1e-5    # compiled losses must equal eager ones to this (absolute)


class LossLog(Callback):
    "Record the loss and every distillation term of the first `n` training steps."
    order = Distill.order + 1      # after Distill has set the total loss
    def __init__(self, n): self.n, self.rows = n, []
    def after_loss(self):
        if not self.training or len(self.rows) >= self.n: return
        distill = getattr(self.learn, 'distill', None)
        terms = {k: float(v.detach()) for k, v in distill.values.items()} if distill is not None else {}
        self.rows.append(dict(loss=float(self.learn.loss.detach()), **terms))


@dataclass
class Case:
    "A student (made afresh, seeded) and optionally a teacher to distil from."
    name: str
    student: str | tuple           # preset name, or (family, width)
    teacher: nn.Module | None = None

    def make_student(self):
        torch.manual_seed(0)
        if isinstance(self.student, str): return get_model(self.student)
        return get_model(self.student[0], width=self.student[1])

    def setup(self, compiled: bool):
        """(student, callbacks factory) for eager or compiled runs; compiled modules keep their compiled code across
        runs."""
        student = self.make_student()
        if self.teacher is None:
            if compiled: student.compile()
            return student, lambda: []
        teacher = copy.deepcopy(self.teacher)      # compiled in place: each mode has its own copy
        return student, lambda: [Distill(teacher, KD(T=4), ce_weight=0.1, kd_weight=0.9, compile=compiled, cache=False)]


def make_cases(device) -> dict:
    torch.manual_seed(0)
    big_teacher = get_model('cnn', width=64).to(device).eval()
    return dict(student=Case('student', 'cnn-s'),
                default=Case('default', 'cnn-s', get_teacher('cnn-t', 'mnist', device=device)),
                bigger=Case('bigger', 'cnn-t', big_teacher))


def first_compile_seconds() -> float:
    """Wall time of compiling and running a one-line function: what the first compilation in a process pays once
    (imports, toolchain checks)."""
    t0 = time.perf_counter()
    torch.compile(lambda x: torch.relu(x) + 1)(torch.randn(8))
    return time.perf_counter() - t0


def max_abs_diff(a: list[dict], b: list[dict]) -> dict:
    "Max abs difference per recorded quantity over the steps of two `LossLog.rows`."
    return {k: max(abs(ra[k] - rb[k]) for ra, rb in zip(a, b)) for k in a[0]}


def run_case(case: Case, rounds, steps, check_steps, device) -> dict:
    "Loss check and compile time from the first run of each mode, then interleaved timing rounds."
    setups = {mode: case.setup(mode == 'compiled') for mode in ('eager', 'compiled')}
    first, logs, times = {}, {}, {m: [] for m in setups}
    for mode, (student, cbs) in setups.items():           # first runs: fresh, identically seeded data
        logs[mode] = LossLog(check_steps)
        t = step_times(student, get_dls('mnist', bs=64, device=device), [*cbs(), logs[mode]],
                       steps=max(steps, check_steps), warmup=0)
        first[mode] = t[0]
        times[mode] += t[WARMUP:]
    diff = max_abs_diff(logs['eager'].rows, logs['compiled'].rows)
    dls = get_dls('mnist', bs=64, device=device)
    for r in range(rounds):
        for mode, (student, cbs) in setups.items(): times[mode] += step_times(student, dls, cbs(), steps=steps)
    med = {m: 1000 * statistics.median(v) for m, v in times.items()}
    return dict(case=case.name, student_params=param_count(setups['eager'][0]),
                teacher_params=None if case.teacher is None else param_count(case.teacher),
                eager_ms=med['eager'], compiled_ms=med['compiled'], speedup=med['eager'] / med['compiled'],
                compile_s=first['compiled'] - med['compiled'] / 1000, eager_first_step_excess_s=first['eager'] - med['eager'] / 1000,
                n_steps=len(times['eager']), check_steps=len(logs['eager'].rows), max_abs_diff=diff,
                first_losses=dict(eager=logs['eager'].rows, compiled=logs['compiled'].rows))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cases', nargs='+', default=['student', 'default', 'bigger'],
                   choices=['student', 'default', 'bigger'])
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--steps', type=int, default=20, help='timed steps per run (after 3 warm-up steps)')
    p.add_argument('--check-steps', type=int, default=5, help='first steps whose losses must match')
    a, dev = parse_args(p)
    t_start = time.perf_counter()
    print(machine_line(dev))
    cases = make_cases(dev)
    out = dict(args=vars(a), machine=machine_line(dev), date=time.strftime('%Y-%m-%d %H:%M:%S'), tol=TOL, cases={})
    with tempfile.TemporaryDirectory(prefix='kdnb-inductor-') as d, temporary_cache_dir(d):
        out['process_first_compile_s'] = first_compile_seconds()
    print(f"first compilation in this process (a one-line function): {out['process_first_compile_s']:.1f} s, "
          f"paid once per process, not counted in the compile times below")
    for name in a.cases:
        with tempfile.TemporaryDirectory(prefix='kdnb-inductor-') as d, temporary_cache_dir(d):   # compile cold
            torch._dynamo.reset()
            r = out['cases'][name] = run_case(cases[name], a.rounds, a.steps, a.check_steps, dev)
        pair = f"student {r['student_params']:,} params" + ("" if r['teacher_params'] is None else f", teacher {r['teacher_params']:,}")
        print(f"\n{name} ({pair}), batch 64, {r['n_steps']} steps per mode")
        print(f"  eager    {r['eager_ms']:8.2f} ms/step")
        print(f"  compiled {r['compiled_ms']:8.2f} ms/step   speed-up {r['speedup']:.2f} x")
        print(f"  compile time (first compiled step - steady state) {r['compile_s']:.1f} s "
              f"(eager first step - steady: {r['eager_first_step_excess_s']:.2f} s)")
        print(f"  first {r['check_steps']} steps, max |eager - compiled|: "
              + ", ".join(f"{k} {v:.2e}" for k, v in r['max_abs_diff'].items()))
    finish(out, t_start, a.json)
    bad = {f'{n}.{k}': d for n, r in out['cases'].items() for k, d in r['max_abs_diff'].items() if d > TOL}
    assert not bad, f"compiled losses differ from eager by more than {TOL}: {bad}"
    print(f"losses match eager to {TOL} in every case")


if __name__ == '__main__': main()
