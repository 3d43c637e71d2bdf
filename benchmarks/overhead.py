"""What does distillation cost per training step? Prints figures; not a test.

Measures, in one run and interleaved (A B C D, A B C D, ...), the median seconds per training step of
  student : the student alone (cross-entropy)
  floor   : the student plus a callback that runs the teacher (no grad) on each batch and discards its output:
            the cheapest any live-teacher distillation can be inside a fastai step
  live    : Distill(teacher, KD(T=4), cache=False): the live teacher, every batch
  cached  : Distill(TeacherCache, KD(T=4)), dense precomputed teacher logits
and, on the same batches but on their own, teacher forward passes (no grad). A step is timed from fastai's
`before_batch` to `after_batch` (forward, loss, backward, optimizer step; data loading excluded).
Targets: live <= 1.05 x floor; cached <= 1.10 x student; both ratios are also printed for each round (the ratio
of that round's medians), whose spread shows how precise the pooled ratio is. Also printed: live / (student + teacher alone), where the
teacher timed alone on hot batches is faster than the same forward inside a training step.

    python benchmarks/overhead.py [--bs 64] [--rounds 5] [--steps 30] [--dataset mnist] [--device cpu] [--json out.json]
"""
import argparse, statistics, time
import torch
from kdnb.core import Distill, SampleIndex
from kdnb.data import get_dls
from kdnb.models import get_model, default_pair, param_count
from kdnb.methods.kd import KD
from kdnb.teachers import get_teacher, TeacherCache
from _common import TeacherOnly, step_times, teacher_times, machine_line, parse_args, finish


ROUND_RATIOS = dict(live_over_floor=('live', 'floor'), cached_over_student=('cached', 'student'))


def time_steps(student_arch, dls, cbs, steps, img):
    "Training-step times of a fresh student (seed 0) with `cbs`."
    torch.manual_seed(0)
    return step_times(get_model(student_arch, img_size=img), dls, cbs, steps)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--dataset', default='mnist')
    a, dev = parse_args(p)
    t_start = time.perf_counter()
    img = 28 if a.dataset == 'mnist' else 8
    t_arch, s_arch = default_pair()
    teacher = get_teacher(t_arch, a.dataset, device=dev)
    dls = get_dls(a.dataset, bs=a.bs, with_idx=True, device=dev)
    cache = TeacherCache.build(teacher, dls)
    setups = {
        'student': lambda: [SampleIndex()],
        'floor': lambda: [SampleIndex(), TeacherOnly(teacher)],
        'live': lambda: [Distill(teacher, KD(T=4), ce_weight=0.1, kd_weight=0.9, cache=False)],
        'cached': lambda: [Distill(cache, KD(T=4), ce_weight=0.1, kd_weight=0.9)],
    }
    times = {k: [] for k in [*setups, 'teacher_fwd']}
    per_round = {k: [] for k in ROUND_RATIOS}     # each round's ratio of medians: the spread tells the noise
    for r in range(a.rounds):                     # interleaved: A B C D, A B C D, ...
        this = {name: time_steps(s_arch, dls, make(), a.steps, img) for name, make in setups.items()}
        for name, v in this.items(): times[name] += v
        times['teacher_fwd'] += teacher_times(teacher, dls, a.steps)
        for k, (num, den) in ROUND_RATIOS.items():
            per_round[k].append(statistics.median(this[num]) / statistics.median(this[den]))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(machine_line(dev))
    print(f"pair: teacher {t_arch} ({param_count(teacher):,} params), student {s_arch} "
          f"({param_count(get_model(s_arch, img_size=img)):,} params), {a.dataset}, batch {a.bs}, "
          f"{a.rounds} rounds x {a.steps} steps, medians")
    for k in times: print(f"  {k:12s} {1000 * med[k]:8.2f} ms/step   ({len(times[k])} steps)")
    ratios = dict(live_over_floor=med['live'] / med['floor'],
                  live_over_student_plus_teacher=med['live'] / (med['student'] + med['teacher_fwd']),
                  cached_over_student=med['cached'] / med['student'], live_over_student=med['live'] / med['student'])
    print(f"live   / floor (student + in-step teacher) = {ratios['live_over_floor']:.3f}   (target <= 1.05)")
    print(f"cached / student                           = {ratios['cached_over_student']:.3f}   (target <= 1.10)")
    for k, v in per_round.items():
        print(f"  {k} per round: " + ' '.join(f'{x:.3f}' for x in v) + f"   (min {min(v):.3f}, max {max(v):.3f})")
    print(f"live   / (student + teacher timed alone)   = {ratios['live_over_student_plus_teacher']:.3f}")
    print(f"live   / student                           = {ratios['live_over_student']:.3f}")
    finish(dict(machine=machine_line(dev), teacher=t_arch, student=s_arch, dataset=a.dataset, bs=a.bs, rounds=a.rounds,
                steps=a.steps, ms={k: 1000 * v for k, v in med.items()}, ratios=ratios, per_round_ratios=per_round),
           t_start, a.json)

if __name__ == '__main__': main()
