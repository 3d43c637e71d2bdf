"""What does distillation cost per training step? Prints figures; not a test.

Measures, in one run and interleaved (A B C D, A B C D, ...), the median seconds per training step of
  student : the student alone (cross-entropy)
  live    : Distill(teacher, KD(T=4)) with the live teacher
  cached  : Distill(TeacherCache, KD(T=4)), dense precomputed teacher logits
and, on the same batches, one teacher forward pass (no grad). A step is timed from fastai's `before_batch` to
`after_batch` (forward, loss, backward, optimizer step; data loading excluded).
Targets: live <= 1.05 x (student + teacher forward); cached <= 1.10 x student.

    python benchmarks/overhead.py [--bs 64] [--rounds 5] [--steps 30] [--dataset mnist] [--device cpu]
"""
import argparse, statistics
import torch
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.torch_core import default_device
from kdnb.core import Distill, SampleIndex
from kdnb.data import get_dls
from kdnb.models import get_model, default_pair, param_count
from kdnb.methods.kd import KD
from kdnb.teachers import get_teacher, TeacherCache
from _common import StepTimer, time_teacher, machine_line


def time_steps(student_arch, dls, cbs, steps, img):
    torch.manual_seed(0)
    student = get_model(student_arch, img_size=img)
    timer = StepTimer(steps)
    learn = Learner(dls, student, loss_func=CrossEntropyLossFlat(), cbs=[*cbs, timer])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return timer.times[3:]          # drop warm-up steps


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--dataset', default='mnist')
    p.add_argument('--device', default=None)
    a = p.parse_args()
    dev = torch.device(a.device) if a.device else default_device()
    img = 28 if a.dataset == 'mnist' else 8
    t_arch, s_arch = default_pair()
    teacher = get_teacher(t_arch, a.dataset, device=dev)
    dls = get_dls(a.dataset, bs=a.bs, with_idx=True, device=dev)
    cache = TeacherCache.build(teacher, dls)
    setups = {
        'student': lambda: [SampleIndex()],
        'live': lambda: [Distill(teacher, KD(T=4), ce_weight=0.1, kd_weight=0.9)],
        'cached': lambda: [Distill(cache, KD(T=4), ce_weight=0.1, kd_weight=0.9)],
    }
    times = {k: [] for k in [*setups, 'teacher_fwd']}
    for r in range(a.rounds):                     # interleaved: A B C D, A B C D, ...
        for name, make in setups.items(): times[name] += time_steps(s_arch, dls, make(), a.steps, img)
        times['teacher_fwd'] += time_teacher(teacher, dls, a.steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(machine_line(dev))
    print(f"pair: teacher {t_arch} ({param_count(teacher):,} params), student {s_arch} "
          f"({param_count(get_model(s_arch, img_size=img)):,} params), {a.dataset}, batch {a.bs}, "
          f"{a.rounds} rounds x {a.steps} steps, medians")
    for k in times: print(f"  {k:12s} {1000 * med[k]:8.2f} ms/step   ({len(times[k])} steps)")
    live_ratio = med['live'] / (med['student'] + med['teacher_fwd'])
    cached_ratio = med['cached'] / med['student']
    print(f"live   / (student + teacher fwd) = {live_ratio:.3f}   (target <= 1.05)")
    print(f"cached / student                 = {cached_ratio:.3f}   (target <= 1.10)")
    print(f"live   / student                 = {med['live'] / med['student']:.3f}")


if __name__ == '__main__': main()
