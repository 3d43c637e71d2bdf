"""The cost of feature distillation: each feature method's training step against the live-teacher KD step on the same
pair. Prints figures; not a test.

The job: the bench's default pair (teacher `cnn-t` from the kdnb cache, student `BenchConfig().student`), on the
bench's data (Fashion-MNIST, its training subset, batch `--bs`), the live teacher in every step (no teacher cache:
feature methods need the teacher's features). Each case is what `kdnb bench` trains, `Method.make(teacher, student,
dls)`: `kd` (Hinton KD, the reference), and every registered method of the `features` family (or `--methods`).

What is measured, per case:
  step   : wall time of a training step (fastai `before_batch` to `after_batch`: student and teacher forwards, hooks,
           connectors, loss, backward, optimizer step; data loading excluded), median over interleaved rounds
           (kd, m1, m2, ..., kd, m1, ...), the first 3 steps of each run dropped; ratio to the KD step.
  teacher forwards per batch: the teacher's forward calls during the timed steps, counted by a forward hook, over the
           number of steps (1 is the target: features come from the same forward as the logits).
  flops  : the matmul and convolution FLOPs of one training step (forward and backward, `FlopCounterMode`; elementwise
           work such as BatchNorm, pooling and the attention maps is not counted), and their ratio to the KD step's:
           what a method's own parts (connectors, heads, review paths, memory banks) add in arithmetic, against which
           the step-time ratio is read (a time ratio near the FLOP ratio is the method's work, not the hooks').
Target (issue 17): a feature-KD step <= 1.15 x the KD step on the default pair, per method.

    python benchmarks/feature_step.py [--methods fitnets at ...] [--bs 64] [--rounds 5] [--steps 20] [--device cpu]
                                      [--json out.json]
"""
import argparse, statistics, time
import torch
from torch.utils.flop_counter import FlopCounterMode
from fastai.callback.core import Callback
from fastai.callback.core import CancelFitException
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from kdnb.bench import BenchConfig, get_methods
from kdnb.core import METHODS
from kdnb.data import img_size
from kdnb.models import get_model
from _common import machine_line, step_times, finish, parse_args

TARGET = 1.15   # feature-method step / KD step must be <= this


class CountForwards(Callback):
    "Count `model`'s forward calls during training steps (not the probes a term runs when the learner is built)."
    order = -101   # before the step timer
    def __init__(self, model): self.model, self.calls, self.steps = model, 0, 0
    def before_fit(self): self.handle = self.model.register_forward_hook(self.count)
    def count(self, module, inputs, output):
        if self.in_step: self.calls += 1
    in_step = False
    def before_batch(self):
        if self.training: self.in_step, self.steps = True, self.steps + 1
    def after_batch(self): self.in_step = False
    def after_fit(self): self.handle.remove()


class CountFlops(Callback):
    "The matmul/conv FLOPs of the first training step (before_batch to after_batch), then stop the fit."
    order = -102
    def __init__(self): self.flops = None
    def before_batch(self):
        if self.training: self.mode = FlopCounterMode(display=False); self.mode.__enter__()
    def after_batch(self):
        if not self.training: return
        self.mode.__exit__(None, None, None)
        self.flops = self.mode.get_total_flops()
        raise CancelFitException()


def step_flops(student, dls, cbs) -> int:
    "FLOPs of one training step of `student` with `cbs` (matmuls and convolutions, forward and backward)."
    counter = CountFlops()
    learn = Learner(dls, student, loss_func=CrossEntropyLossFlat(), cbs=[*cbs, counter])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return counter.flops


def main():
    d = BenchConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--methods', nargs='+', default=None, help="method names (default: every 'features' method)")
    p.add_argument('--bs', type=int, default=d.bs, help='batch size')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--steps', type=int, default=20, help='timed steps per run (after 3 warm-up steps)')
    a, dev = parse_args(p)
    t_start = time.perf_counter()
    print(machine_line(dev))
    get_methods()                                          # imports every method module, filling the registry
    names = a.methods or [n for n, m in METHODS.items() if m.family == 'features']
    methods = get_methods(['kd', *[n for n in names if n != 'kd']])
    cfg = BenchConfig(bs=a.bs, device=str(dev))
    teacher = cfg.get_teacher()
    dls = cfg.get_dls(0, with_idx=True)
    def student():
        torch.manual_seed(0)
        return get_model(cfg.student, img_size=img_size(cfg.dataset)).to(dev)
    flops = {}
    for m in methods:
        s = student()
        flops[m.name] = step_flops(s, dls, m.make(teacher, s, dls))
    times = {m.name: [] for m in methods}
    forwards = {m.name: [0, 0] for m in methods}        # teacher calls, steps
    for r in range(a.rounds):
        for m in methods:
            s = student()
            counter = CountForwards(teacher)
            times[m.name] += step_times(s, dls, [*m.make(teacher, s, dls), counter], steps=a.steps)
            forwards[m.name][0] += counter.calls; forwards[m.name][1] += counter.steps
    med = {n: 1000 * statistics.median(v) for n, v in times.items()}
    out = dict(args=vars(a), machine=machine_line(dev), date=time.strftime('%Y-%m-%d %H:%M:%S'), target=TARGET,
               pair=dict(teacher=cfg.teacher, student=cfg.student, dataset=cfg.dataset, n_train=cfg.n_train))
    out['steps'] = {n: dict(median_ms=med[n], ratio=med[n] / med['kd'], n_steps=len(times[n]),
                            teacher_forwards_per_step=forwards[n][0] / forwards[n][1],
                            gflops=flops[n] / 1e9, flops_ratio=flops[n] / flops['kd']) for n in times}
    print(f"\nstep time, {cfg.teacher} -> {cfg.student} on {cfg.dataset}, batch {a.bs}, "
          f"{a.rounds} interleaved rounds x {a.steps} steps, medians")
    for n, s in out['steps'].items():
        print(f"  {n:14s} {s['median_ms']:8.2f} ms/step   {s['ratio']:.3f} x KD   "
              f"{s['gflops']:6.2f} GFLOP/step {s['flops_ratio']:5.2f} x KD   "
              f"{s['teacher_forwards_per_step']:.2f} teacher forwards/step"
              + ("" if n == 'kd' else f"   (target <= {TARGET}{'' if s['ratio'] <= TARGET else ': MISSED'})"))
    finish(out, t_start, a.json)


if __name__ == '__main__': main()
