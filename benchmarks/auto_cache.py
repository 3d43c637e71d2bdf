"""Distillation at the cost of training the student: `Distill`'s remembered teacher outputs (`cache='auto'`, the
default) against the live teacher, the student alone and torchdistill, over whole multi-epoch runs. Prints figures;
not a test.

The job is peers.py's MNIST job (`--pair issue`: the 372k-parameter CNN teacher and the 24k-parameter CNN student of
issue 16's measurement; batch 128, Adam at a constant 3e-3, KD with T=4, 0.1 CE + 0.9 KD): the same teacher weights,
the same student initialisation, the same batches in the same order for every case.
  student      : the student alone in a fastai `Learner` (cross-entropy)
  kdnb live    : `Distill(teacher, KD(T=4), ce_weight=0.1, kd_weight=0.9, cache=False)`: the teacher runs every batch
  kdnb auto    : the same with the default `cache='auto'`: the teacher's outputs are recorded by sample index while it
                 runs and looked up once a batch's samples were all recorded (data built with `with_idx=True`)
  torchdistill : torchdistill's `DistillationBox` in the step loop of its example script (peers.py); torchdistill
                 1.1.5 has no teacher-output cache (the per-sample `cache_output` files of 1.0 are gone), so this is
                 its live run
Each case trains `--epochs` epochs (training and validation, as `fit` does); the runs are interleaved (A B C D A B C D
...) over `--rounds` rounds and the medians of the whole runs' wall times are compared. The script also checks that
`kdnb auto` ends with exactly the weights of `kdnb live` (torch.equal on every parameter) and prints what its memo
did (batches recorded, looked up, checked; memory held).
Goal (issue 16): over 10 epochs, kdnb auto <= 1.2 x the student alone, and faster than torchdistill.

    PYTHONPATH=<dir with torchdistill 1.1.5 and fasterai 0.4.1> python benchmarks/auto_cache.py [--epochs 10]
        [--rounds 2] [--bs 128] [--device cpu] [--json out.json]
"""
import argparse, statistics, time
from functools import partial
import torch
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.optimizer import OptimWrapper
from kdnb.core import Distill
from kdnb.data import get_dls
from kdnb.methods.kd import KD
from _common import EpochTimer, machine_line, parse_args, finish
from peers import build_job, run_torch

CASES = ('student', 'kdnb live', 'kdnb auto', 'torchdistill')
GOAL = 1.2   # kdnb auto / student over the whole run


def run_fastai(case, job, seed, epochs, bs, device):
    "Train `case` in a fastai `Learner` for `epochs` epochs: (epoch times, the Distill callback or None, student)."
    dls = get_dls('mnist', bs=bs, seed=seed, device=device, with_idx=case != 'student')
    student, teacher = job.student(seed), job.teacher
    cbs = [] if case == 'student' else [Distill(teacher, KD(T=job.T), ce_weight=job.ce_weight,
                                                kd_weight=job.kd_weight, cache=case == 'kdnb auto')]
    timer = EpochTimer()
    learn = Learner(dls, student, loss_func=CrossEntropyLossFlat(), opt_func=partial(OptimWrapper, opt=torch.optim.Adam),
                    metrics=[accuracy], cbs=[*cbs, timer])
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, job.lr)
    return timer.times, (cbs[0] if cbs else None), student


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--bs', type=int, default=128)
    a, dev = parse_args(p)
    t_start = time.perf_counter()
    print(machine_line(dev))
    job = build_job('mnist', a.bs, dev, 'issue')
    runs = {c: [] for c in CASES}
    memo, weights = None, {}
    for r in range(a.rounds):
        for case in CASES:
            if case == 'torchdistill': times = run_torch('torchdistill', job, 0, epochs=a.epochs).epoch_times
            else:
                times, distill, student = run_fastai(case, job, 0, a.epochs, a.bs, dev)
                if case.startswith('kdnb'): weights[case] = [p.detach().clone() for p in student.parameters()]
                if case == 'kdnb auto': memo = repr(distill.memo)
            runs[case].append(times)
            print(f"round {r}: {case:12s} {sum(times):7.2f} s ({', '.join(f'{t:.2f}' for t in times)})", flush=True)
    exact = all(torch.equal(x, y) for x, y in zip(weights['kdnb live'], weights['kdnb auto']))
    total = {c: statistics.median(sum(t) for t in v) for c, v in runs.items()}
    first = {c: statistics.median(t[0] for t in v) for c, v in runs.items()}
    later = {c: statistics.median(statistics.median(t[1:]) for t in v) for c, v in runs.items()}
    per_epoch = {c: [statistics.median(t[i] for t in v) for i in range(a.epochs)] for c, v in runs.items()}
    out = dict(args=vars(a), machine=machine_line(dev), job=job.desc, date=time.strftime('%Y-%m-%d %H:%M:%S'),
               total_s=total, first_epoch_s=first, later_epoch_s=later, epoch_s=per_epoch, exact=exact, memo=memo,
               goal=GOAL,
               ratios={f'{x} / {y}': total[x] / total[y] for x, y in [('kdnb auto', 'student'),
                       ('kdnb auto', 'kdnb live'), ('kdnb auto', 'torchdistill'), ('kdnb live', 'torchdistill'),
                       ('kdnb live', 'student')]})
    print(f"\n{a.epochs} epochs, {job.desc['teacher']} ({job.desc['teacher_params']:,} params) -> {job.desc['student']} "
          f"({job.desc['student_params']:,}), batch {a.bs}, {a.rounds} interleaved rounds, medians")
    print(f"{'':14s}{'run s':>9s}{'epoch 1 s':>11s}{'later epochs s':>16s}")
    for c in CASES: print(f"{c:14s}{total[c]:9.2f}{first[c]:11.2f}{later[c]:16.2f}")
    print(f"\nkdnb auto ends with the weights of kdnb live, bit for bit: {exact}")
    print(f"memo of the last kdnb auto run: {memo}")
    print("\nratios of whole-run times (lower is better for the first)")
    for k, v in out['ratios'].items():
        goal = f"   goal <= {GOAL}: {'MET' if v <= GOAL else 'MISSED'}" if k == 'kdnb auto / student' else (
            f"   goal < 1: {'MET' if v < 1 else 'MISSED'}" if k == 'kdnb auto / torchdistill' else '')
        print(f"  {k:28s} {v:6.3f}{goal}")
    finish(out, t_start, a.json)


if __name__ == '__main__': main()
