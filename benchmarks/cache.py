"""Offline distillation from a `TeacherCache`: memory, step time and accuracy of dense and sparse top-k caches. Prints figures; not a test.

Three measurements on MNIST-5k with the default pair (cnn-t teacher from the kdnb cache -> cnn-s student):
  memory   : bytes of teacher outputs per sample (`TeacherCache.nbytes / samples`) of the dense cache (k = all:
             float32 logits, 4 C bytes) and of top-k caches (float32 value + int16 class per kept logit, 6 k bytes;
             int32 classes from 2^15 classes on), measured for C = 10 and computed from that formula for C = 100 and
             1000. Every cache also holds its index (int64 sample ids and an int64 position table, 16 B/sample).
  step time: median seconds per training step (fastai `before_batch` to `after_batch`; data loading excluded) of the
             student alone and of `Distill(cache, KD(T=4), ce_weight=0.1, kd_weight=0.9)` for the dense and each
             top-k cache, in interleaved rounds (student, dense, top-1, ... ; student, dense, ...), first 3 steps of
             each run dropped; ratio to the student (target <= 1.10).
  accuracy : validation top-1 of KD (kdnb.bench's recipe: `Distill(teacher, KD())`, 5 epochs one-cycle Adam lr 1e-2, batch 64,
             the whole training split) with the live teacher, the dense cache and each top-k cache, seeds 0-2, mean
             +- sd; a difference to dense KD is flagged when |mean difference| > 2 standard errors
             (sqrt((sd_a^2 + sd_b^2) / n)), i.e. beyond seed noise.
Top-k with k = 10 on 10 classes holds the dense content, read through the sparse path (scatter into a -1e9 fill),
so it must match dense KD; a top-k cache gives the dropped classes probability 0 in the teacher's softmax.

    python benchmarks/cache.py [--ks 1 5 10] [--bs 64] [--rounds 5] [--steps 20] [--seeds 0 1 2] [--epochs 5]
                               [--no-accuracy] [--device cpu] [--json out.json]
"""
import argparse, math, statistics, time
import torch
from kdnb.bench import BenchConfig, run_one
from kdnb.core import Method, SampleIndex
from kdnb.data import get_dls
from kdnb.models import get_model, default_pair
from kdnb.core import Distill
from kdnb.methods.kd import KD
from kdnb.teachers import get_teacher, predict_logits, TeacherCache
from _common import machine_line, step_times, finish, parse_args

TARGET = 1.10   # cached Distill step / student step must be <= this


def value_bytes(n_classes: int, k: int | None = None) -> int:
    "Bytes per sample of teacher outputs: 4 C for dense float32 logits (k None), k x (4 + class id size) for top-k."
    if k is None: return 4 * n_classes
    return k * (4 + (2 if n_classes < 2**15 else 4))


def build_caches(teacher, dls, ks) -> dict:
    "The dense cache and one top-k cache per k in `ks`, by name ('dense', 'top1', ...)."
    return {'dense': TeacherCache.build(teacher, dls), **{f'top{k}': TeacherCache.build(teacher, dls, k=k) for k in ks}}


def memory_table(caches, n_classes) -> list[dict]:
    "Bytes per sample: measured on these caches, and computed by `value_bytes` for 100 and 1000 classes."
    rows = []
    for name, c in caches.items():
        measured = c.nbytes / len(c.index)
        assert measured == value_bytes(n_classes, c.k), (name, measured)   # the formula is the implementation's
        rows.append(dict(cache=name, k='all' if c.k is None else c.k, measured_bytes=measured,
                         **{f'computed_bytes_{C}': value_bytes(C, c.k) for C in (100, 1000)}))
    return rows


def time_caches(caches, dls, s_arch, rounds, steps) -> dict:
    "Step times (s) of the student alone and of Distill + KD with each cache, interleaved over `rounds`."
    def student():
        torch.manual_seed(0)
        return get_model(s_arch)
    setups = {'student': lambda: [SampleIndex()], **{n: (lambda c=c: [Distill(c, KD())]) for n, c in caches.items()}}
    times = {n: [] for n in setups}
    for r in range(rounds):
        for name, make in setups.items(): times[name] += step_times(student(), dls, make(), steps=steps)
    return times


def accuracy_runs(teacher, caches, cfg, seeds) -> list[dict]:
    "KD runs with kdnb.bench's recipe: the live teacher and every cache, each seed (interleaved per seed)."
    kd = lambda teacher, student, dls: [KD()]
    # a cache is the teacher
    setups = [(Method('live', kd), teacher)] + [(Method(n, kd), c) for n, c in caches.items()]
    t_valid, _ = predict_logits(teacher, get_dls(cfg.dataset, bs=cfg.bs, device=cfg.device).valid)
    runs = []
    for seed in seeds:
        for m, source in setups:
            runs.append(run_one(m, source, cfg, seed, t_valid))
            print(f"  seed {seed} {m.name:6s} top-1 {100 * runs[-1]['acc']:.2f}%  ({runs[-1]['sec_per_epoch']:.1f} "
                  f"s/epoch)")
    return runs


def summarise(runs, ref='dense') -> list[dict]:
    "Mean +- sd of top-1 per teacher source, the difference to `ref` and whether it is beyond seed noise."
    by = {}
    for r in runs: by.setdefault(r['method'], {})[r['seed']] = r['acc']
    def sd(v): return statistics.stdev(v) if len(v) > 1 else 0.
    ref_acc = list(by[ref].values())
    rows = []
    for name, accs in by.items():
        a = list(accs.values())
        diff = statistics.mean(a) - statistics.mean(ref_acc)
        se = math.sqrt((sd(a) ** 2 + sd(ref_acc) ** 2) / len(a))
        paired = [accs[s] - by[ref][s] for s in accs]
        beyond = None if len(a) < 2 else bool(name != ref and abs(diff) > 2 * se)   # one seed: no noise estimate
        rows.append(dict(teacher=name, mean=statistics.mean(a), sd=sd(a), n=len(a), diff_vs_dense=diff, se_diff=se,
                         max_abs_paired_diff=max(abs(d) for d in paired), beyond_noise=beyond))
    return rows


def main():
    d = BenchConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--ks', type=int, nargs='+', default=[1, 5, 10], help='k of the top-k caches')
    p.add_argument('--bs', type=int, default=d.bs, help='batch size of the step timing')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--steps', type=int, default=20, help='timed steps per run (after 3 warm-up steps)')
    p.add_argument('--seeds', type=int, nargs='+', default=d.seeds)
    p.add_argument('--epochs', type=int, default=d.epochs,
                   help=f'student epochs of the accuracy runs (bench default {d.epochs})')
    p.add_argument('--no-accuracy', action='store_true', help='skip the accuracy runs')
    a, dev = parse_args(p)
    t_start = time.perf_counter()
    print(machine_line(dev))
    cfg = BenchConfig(methods=['kd'], epochs=a.epochs, seeds=a.seeds, device=str(dev))
    t_arch, s_arch = default_pair()
    teacher = get_teacher(cfg.teacher, cfg.dataset, epochs=cfg.teacher_epochs, device=dev)
    dls = get_dls(cfg.dataset, bs=a.bs, with_idx=True, device=dev)
    caches = build_caches(teacher, dls, a.ks)
    n_classes = caches['dense'].n_classes
    out = dict(args=vars(a), machine=machine_line(dev), date=time.strftime('%Y-%m-%d %H:%M:%S'),
               pair=dict(teacher=t_arch, student=s_arch, teacher_acc=teacher.kdnb_info['valid_acc']),
               n_samples=len(caches['dense'].index), n_classes=n_classes, target=TARGET)

    out['memory'] = memory_table(caches, n_classes)
    print(f"\nteacher outputs per sample ({len(caches['dense'].index)} samples, {n_classes} classes measured; "
          f"100 and 1000 classes computed from the formula, not measured)")
    print(f"  {'cache':6s} {'k':>4s} {'10 (measured)':>14s} {'100 (computed)':>15s} {'1000 (computed)':>16s}   "
          f"bytes/sample")
    for r in out['memory']:
        print(f"  {r['cache']:6s} {r['k']!s:>4s} {r['measured_bytes']:14.0f} {r['computed_bytes_100']:15d} "
              f"{r['computed_bytes_1000']:16d}")
    print("  (+ 16 B/sample of index in every cache; top-10 of 10 classes is the dense content in the sparse layout)")

    times = time_caches(caches, dls, s_arch, a.rounds, a.steps)
    med = {n: 1000 * statistics.median(v) for n, v in times.items()}
    out['steps'] = {n: dict(median_ms=med[n], ratio=med[n] / med['student'], n_steps=len(times[n])) for n in times}
    print(f"\nstep time, batch {a.bs}, {a.rounds} interleaved rounds x {a.steps} steps, medians")
    for n, s in out['steps'].items():
        print(f"  {n:8s} {s['median_ms']:8.2f} ms/step   {s['ratio']:.3f} x student"
              + ("" if n == 'student' else f"   (target <= {TARGET}{'' if s['ratio'] <= TARGET else ': MISSED'})"))

    if not a.no_accuracy:
        print(f"\naccuracy: KD (T=4, 0.1 CE + 0.9 KD), {cfg.epochs} epochs, seeds {a.seeds}")
        runs = accuracy_runs(teacher, caches, cfg, a.seeds)
        out['runs'], out['accuracy'] = runs, summarise(runs)
        print(f"  {'teacher':8s} {'top-1 %':>15s} {'vs dense':>9s} {'2 SE':>6s}")
        for r in out['accuracy']:
            print(f"  {r['teacher']:8s} {100 * r['mean']:7.2f} ± {100 * r['sd']:4.2f} {100 * r['diff_vs_dense']:+9.2f} "
                  f"{200 * r['se_diff']:6.2f}" + ("   BEYOND SEED NOISE" if r['beyond_noise'] else
                                                  "   (1 seed: no noise estimate)" if r['beyond_noise'] is None else ""))
    finish(out, t_start, a.json)


if __name__ == '__main__': main()
