"""A live-teacher KD step below today's floor? What each candidate buys on issue 16's job, and whether it keeps the
loss. Prints figures; not a test.

The job: peers.py's MNIST job (`--pair issue`: the 372k-parameter CNN teacher, the 24k-parameter student; batch 128,
Adam, KD T=4 with 0.1 CE + 0.9 KD). The teacher runs every step (`cache=False`: the case of randomly augmented data,
where its outputs cannot be remembered). Cases, each a fastai `Learner` with `Distill` unless said:
  student         : the student alone (the sample indices taken off by `SampleIndex`)
  floor           : the student plus a callback that runs the teacher (no grad) and discards its output (the teacher
                    in the memory format the kdnb case uses)
  kdnb            : `Distill(teacher, KD(T=4), ce_weight=0.1, kd_weight=0.9, cache=False)`, what a user gets (on a
                    CPU the teacher runs in channels-last memory format: `channels_last=None`)
  contiguous      : the same with `channels_last=False`: the teacher in the default (contiguous) memory format
  inference_mode  : `contiguous`, the teacher's forward under `torch.inference_mode()` (its output cloned, so
                    autograd may save it) instead of `torch.no_grad()`
  compiled        : `kdnb` with the teacher compiled (`nn.Module.compile()`; eval mode, no grad); its compile time is
                    the first compiled step minus the steady-state median, reported apart and not in the step time
  torchdistill    : torchdistill's `DistillationBox` in the step loop of its example script (peers.py)
Step: fastai `before_batch` to `after_batch` (the same span in torchdistill's loop; data loading excluded), median
over interleaved rounds, the first 3 steps of each run dropped. Loss: the total loss of the first training step from
the same initialisation on the same batch, compared with `kdnb`'s (0 difference = the same numbers).
Goal (issue 16): kdnb's live step <= torchdistill's on the same job, with the settings a user gets by default.

    PYTHONPATH=<dir with torchdistill 1.1.5 and fasterai 0.4.1> python benchmarks/live_step.py [--rounds 5]
        [--steps 30] [--bs 128] [--device cpu] [--json out.json]
"""
import argparse, copy, statistics, time
from functools import partial
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.optimizer import OptimWrapper
from kdnb.core import Distill, SampleIndex
from kdnb.data import get_dls
from kdnb.methods.kd import KD
from _common import StepTimer, TeacherOnly, machine_line, parse_args, finish, WARMUP
from peers import build_job, run_torch, reference_loss


class InferenceMode(Distill):
    "`Distill` with the teacher's forward under `torch.inference_mode()`."
    def _run_teacher(self, xs):
        with torch.inference_mode(): t = self.teacher(*xs)
        return t.clone()


class FirstLoss(Callback):
    "The total loss of the first training step, then stop."
    order, value = 200, None
    def after_loss(self):
        if self.training: self.value = self.learn.loss_grad.item(); raise CancelFitException()


def callbacks(case, job, teacher):
    kd = dict(ce_weight=job.ce_weight, kd_weight=job.kd_weight, cache=False)
    return {'student': lambda: [SampleIndex()], 'floor': lambda: [SampleIndex(), TeacherOnly(teacher)],
            'kdnb': lambda: [Distill(teacher, KD(T=job.T), **kd)],
            'contiguous': lambda: [Distill(teacher, KD(T=job.T), channels_last=False, **kd)],
            'inference_mode': lambda: [InferenceMode(teacher, KD(T=job.T), channels_last=False, **kd)],
            'compiled': lambda: [Distill(teacher, KD(T=job.T), **kd)]}[case]()


def fastai_run(case, job, teachers, bs, dev, steps=None, probe=None):
    dls = get_dls('mnist', bs=bs, seed=0, device=dev, with_idx=True)
    timer = StepTimer(steps)
    learn = Learner(dls, job.student(0), loss_func=CrossEntropyLossFlat(),
                    opt_func=partial(OptimWrapper, opt=torch.optim.Adam),
                    cbs=[*callbacks(case, job, teachers[case]), timer, *([probe] if probe else [])])
    with learn.no_bar(), learn.no_logging(): learn.fit(1 if steps is None else -(-steps // len(dls.train)), job.lr)
    return timer.times


CASES = ('student', 'floor', 'kdnb', 'contiguous', 'inference_mode', 'compiled', 'torchdistill')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--bs', type=int, default=128)
    a, dev = parse_args(p)
    t_start = time.perf_counter()
    print(machine_line(dev))
    job = build_job('mnist', a.bs, dev, 'issue')
    teachers = {c: copy.deepcopy(job.teacher).eval() for c in CASES}
    if dev.type == 'cpu': teachers['floor'].to(memory_format=torch.channels_last)   # as Distill does on a CPU
    losses = {}
    for case in CASES:
        if case in ('student', 'floor'): continue
        if case == 'torchdistill': losses[case] = run_torch('torchdistill', job, 0, first_loss=True).first_loss; continue
        probe = FirstLoss()
        fastai_run(case, job, {**teachers, 'compiled': copy.deepcopy(job.teacher).eval()}, a.bs, dev, probe=probe)
        losses[case] = probe.value
    t0 = time.perf_counter()
    teachers['compiled'].compile()
    first = fastai_run('compiled', job, teachers, a.bs, dev, steps=WARMUP + 1)   # compiles on the first step
    compile_s = first[0] - statistics.median(first[1:]) if len(first) > 1 else first[0]
    print(f"compiled teacher: first run {time.perf_counter() - t0:.1f} s, compile time about {compile_s:.1f} s")
    times = {c: [] for c in CASES}
    for r in range(a.rounds):
        for case in CASES:
            if case == 'torchdistill': t = run_torch('torchdistill', job, 0, steps=a.steps + WARMUP).step_times
            else: t = fastai_run(case, job, teachers, a.bs, dev, steps=a.steps + WARMUP)
            times[case] += t[WARMUP:]
    med = {c: 1000 * statistics.median(v) for c, v in times.items()}
    ref = reference_loss(job, 0)
    print(f"\nstep time, {job.desc['teacher']} ({job.desc['teacher_params']:,} params) -> {job.desc['student']} "
          f"({job.desc['student_params']:,}), batch {a.bs}, {a.rounds} interleaved rounds x {a.steps} steps, medians")
    print(f"first-step loss: float64 reference {ref:.7f}")
    cl = any(m.weight.is_contiguous(memory_format=torch.channels_last) for m in teachers['kdnb'].modules()
             if isinstance(m, torch.nn.Conv2d))
    print(f"the kdnb case's teacher ran in channels-last memory format: {cl}")
    for c in CASES:
        loss = '' if c not in losses else f"   loss {losses[c]:.7f} (vs kdnb {losses[c] - losses['kdnb']:+.1e})"
        print(f"  {c:15s} {med[c]:8.2f} ms/step   {med[c] / med['kdnb']:.3f} x kdnb   "
              f"{med[c] / med['torchdistill']:.3f} x torchdistill{loss}")
    goal = med['kdnb'] / med['torchdistill']
    print(f"\nkdnb / torchdistill = {goal:.3f}   goal <= 1: {'MET' if goal <= 1 else 'MISSED'}")
    print(f"kdnb / floor        = {med['kdnb'] / med['floor']:.3f}")
    finish(dict(args=vars(a), machine=machine_line(dev), job=job.desc, date=time.strftime('%Y-%m-%d %H:%M:%S'),
                ms=med, first_loss=losses, reference_loss=ref, compile_seconds=compile_s,
                ratios=dict(kdnb_over_torchdistill=goal, kdnb_over_floor=med['kdnb'] / med['floor'])), t_start, a.json)


if __name__ == '__main__': main()
