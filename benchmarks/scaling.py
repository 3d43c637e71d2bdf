"""How does the cost of live-teacher distillation grow with the batch size and the teacher's width? Prints figures; not a test.

For every point it measures, interleaved (student, Distill, teacher forward; then the next point; then the next
round), the median seconds per training step of
  student : the student alone (cross-entropy)
  distill : `Distill(teacher, KD(T=4), ce_weight=0.1, kd_weight=0.9)` with the live teacher (cache=False)
  teacher : one teacher forward pass under `no_grad` on the same kind of batch
  floor   : the student plus a callback that runs the teacher (no grad) in the step and discards the output
and the overhead fraction  distill / floor  -- 1.00 means distillation costs exactly one teacher forward pass on
top of the student's step, inside the step; the target is <= 1.05 everywhere. Also recorded: distill / (student +
teacher), with the teacher timed on its own (hot batches: faster than the same forward inside a training step).
A step is timed from fastai's `before_batch` to `after_batch` (forward(s), loss, backward, optimizer step; data
loading and validation excluded); the first 3 steps of each run are dropped.

The two axes (MNIST 28x28, student cnn-s = `cnn(width=8, depth=2)`, 6k parameters):
  batch size : 32, 64, 128, 256, 512, with the 4x teacher (the default pair, cnn-t)
  teacher width : 1x, 2x, 4x, 8x the student at batch 64. Width is the `width` argument of `kdnb.models.cnn`: the
                  channels of the stem convolution, doubled by each of the 2 stages (w, 2w, 4w), same depth as the
                  student; parameters and FLOPs grow about as width^2 (4x = cnn-t, the default teacher).
Teachers are freshly initialised (seed 0, eval mode): their weights do not change the time of a forward pass.
The point (batch 64, 4x) belongs to both axes and is measured once.
Writes benchmarks/results/scaling_bs.png and scaling_width.png (step time and overhead fraction per point).

    python benchmarks/scaling.py [--bs 32 64 128 256 512] [--widths 1 2 4 8] [--width-bs 64] [--rounds 3]
                                 [--steps 20] [--device cpu] [--plots benchmarks/results] [--json out.json]
"""
import argparse, statistics, time
from pathlib import Path
import torch
from kdnb.core import Distill
from kdnb.data import get_dls
from kdnb.models import get_model, param_count
from kdnb.methods.kd import KD
from _common import TeacherOnly, step_times, teacher_times, machine_line, finish, parse_args

TARGET = 1.05          # distill / (student + teacher forward) must stay <= this
STUDENT = 'cnn-s'      # cnn(width=8, depth=2)
STUDENT_WIDTH = 8
RESULTS = Path(__file__).resolve().parent / 'results'


def make_student(img=28):
    torch.manual_seed(0)
    return get_model(STUDENT, img_size=img)


def make_teacher(mult, device):
    "A freshly initialised `cnn` teacher `mult` times the student's width (same depth), eval mode."
    torch.manual_seed(0)
    return get_model('cnn', width=STUDENT_WIDTH * mult, depth=2).to(device).eval()


def measure(points, rounds, steps, device) -> list[dict]:
    """Median step times of student, Distill and teacher forward at every (batch size, width multiple) in `points`,
    interleaved."""
    dls = {bs: get_dls('mnist', bs=bs, device=device) for bs in dict.fromkeys(bs for bs, _ in points)}
    teachers = {m: make_teacher(m, device) for m in dict.fromkeys(m for _, m in points)}
    times = {p: dict(student=[], floor=[], distill=[], teacher=[]) for p in points}
    for r in range(rounds):
        for bs, m in points:
            t = times[(bs, m)]
            t['student'] += step_times(make_student(), dls[bs], steps=steps)
            t['floor'] += step_times(make_student(), dls[bs], [TeacherOnly(teachers[m])], steps=steps)
            t['distill'] += step_times(make_student(), dls[bs],
                                       [Distill(teachers[m], KD(T=4), ce_weight=0.1, kd_weight=0.9, cache=False)], steps=steps)
            t['teacher'] += teacher_times(teachers[m], dls[bs], steps)
        print(f"  round {r + 1}/{rounds} done")
    rows = []
    for (bs, m), t in times.items():
        med = {k: 1000 * statistics.median(v) for k, v in t.items()}
        bound = med['student'] + med['teacher']
        rows.append(dict(bs=bs, width_mult=m, teacher_width=STUDENT_WIDTH * m, teacher_params=param_count(teachers[m]),
                         student_ms=med['student'], distill_ms=med['distill'], teacher_ms=med['teacher'], bound_ms=bound,
                         floor_ms=med['floor'], overhead=med['distill'] / med['floor'], overhead_vs_alone=med['distill'] / bound, distill_over_student=med['distill'] / med['student'],
                         teacher_over_student=med['teacher'] / med['student'], n_steps=len(t['student'])))
    return rows


def flag_points(rows, axis_col, tol=0.05) -> list[str]:
    "Where the overhead is not a constant fraction: above TARGET, or more than `tol` from the median over the axis."
    mid = statistics.median(r['overhead'] for r in rows)
    return [f"{axis_col}={r[axis_col]}: overhead {r['overhead']:.3f} (axis median {mid:.3f}"
            + (f", above the {TARGET} target)" if r['overhead'] > TARGET else ")")
            for r in rows if r['overhead'] > TARGET or abs(r['overhead'] - mid) > tol]


AXES = dict(bs=('bs', 'batch size'), width=('width_mult', 'teacher width / student width'))

def _log2_axis(ax, ticks):
    "A base-2 log x axis labelled at `ticks` only."
    from matplotlib.ticker import FixedLocator, FixedFormatter, NullLocator
    ax.set_xscale('log', base=2)
    ax.xaxis.set_major_locator(FixedLocator(ticks)); ax.xaxis.set_major_formatter(FixedFormatter([str(t) for t in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())

def plot_scaling(rows, axis: str, path=None):
    """Step time (ms, log scale) of student, teacher forward, their sum and Distill, and the overhead fraction, along
    `axis` ('bs' or 'width')."""
    import matplotlib.pyplot as plt, pandas as pd, seaborn as sns
    col, xlabel = AXES[axis]
    what = 'teacher 4x the student' if axis == 'bs' else f"batch {rows[0]['bs']}"
    d = pd.DataFrame(rows).sort_values(col)
    long = d.melt(id_vars=[col], value_vars=['student_ms', 'teacher_ms', 'bound_ms', 'floor_ms', 'distill_ms'],
                  var_name='what', value_name='ms')
    long['what'] = long.what.map(dict(student_ms='student alone', teacher_ms='teacher forward (no grad)',
                                      bound_ms='student + teacher forward (timed apart)', floor_ms='student + teacher in the step (floor)', distill_ms='Distill + KD, live teacher'))
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.6))
    sns.lineplot(long, x=col, y='ms', hue='what', style='what', markers=True, dashes=False, ax=a0)
    a0.set(yscale='log', xlabel=xlabel, ylabel='ms per training step', title=f'step time ({what})')
    _log2_axis(a0, d[col].tolist()); a0.legend(fontsize=8)
    sns.lineplot(d, x=col, y='overhead', marker='o', ax=a1, color='#08306b', label='Distill / floor')
    a1.axhline(1.0, color='grey', lw=0.8); a1.axhline(TARGET, color='#cb181d', ls='--', lw=1, label=f'target {TARGET}')
    a1.set(xlabel=xlabel, ylabel='overhead fraction', title='cost of distillation beyond one teacher forward')
    _log2_axis(a1, d[col].tolist())
    lo, hi = d.overhead.min(), d.overhead.max()
    a1.set_ylim(min(0.9, lo - 0.02), max(1.15, hi + 0.02)); a1.legend(fontsize=8)
    fig.tight_layout()
    if path: fig.savefig(path, dpi=110)
    return fig


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bs', type=int, nargs='+', default=[32, 64, 128, 256, 512],
                   help='batch sizes (with the 4x teacher)')
    p.add_argument('--widths', type=int, nargs='+', default=[1, 2, 4, 8], help='teacher width multiples of the student')
    p.add_argument('--width-bs', type=int, default=64, help='batch size of the width axis')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--steps', type=int, default=20, help='timed steps per run (after 3 warm-up steps)')
    p.add_argument('--plots', default=str(RESULTS), help='folder of scaling_bs.png and scaling_width.png')
    a, dev = parse_args(p)
    t_start = time.perf_counter()
    print(machine_line(dev))
    bs_points = [(bs, 4) for bs in a.bs]
    width_points = [(a.width_bs, m) for m in a.widths]
    points = list(dict.fromkeys(bs_points + width_points))
    print(f"student {STUDENT} ({param_count(make_student()):,} params); {len(points)} points x {a.rounds} rounds x "
          f"{a.steps} steps, medians")
    rows = {(r['bs'], r['width_mult']): r for r in measure(points, a.rounds, a.steps, dev)}
    out = dict(args=vars(a), machine=machine_line(dev), date=time.strftime('%Y-%m-%d %H:%M:%S'),
               student=dict(arch=STUDENT, width=STUDENT_WIDTH, params=param_count(make_student())),
               width_definition='kdnb.models.cnn `width`: stem channels, doubled by each of the 2 stages; teacher '
                                'width = multiple x the student width 8, same depth; params ~ width^2',
               target=TARGET, axes={}, flags={})
    plots = Path(a.plots); plots.mkdir(parents=True, exist_ok=True)
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    for axis, pts in (('bs', bs_points), ('width', width_points)):
        axis_rows = [rows[p] for p in pts]
        col = AXES[axis][0]
        print(f"\n{AXES[axis][1]} axis " + ("(teacher 4x the student)" if axis == 'bs' else f"(batch {a.width_bs})"))
        print(f"  {col:>10s} {'t.params':>9s} {'student':>8s} {'teacher':>8s} {'floor':>8s} {'distill':>8s}  ms/step   "
              f"distill/floor  distill/(s+t)  distill/s")
        for r in axis_rows:
            print(f"  {r[col]:>10} {r['teacher_params']:>9,} {r['student_ms']:8.2f} {r['teacher_ms']:8.2f} "
                  f"{r['floor_ms']:8.2f} {r['distill_ms']:8.2f}            {r['overhead']:6.3f}         {r['overhead_vs_alone']:6.3f}"
                  f"      {r['distill_over_student']:6.2f}")
        flags = flag_points(axis_rows, col)
        print("  overhead a constant fraction within 0.05 of the median and <= target at every point" if not flags
              else "  overhead NOT constant at: " + "; ".join(flags))
        out['axes'][axis], out['flags'][axis] = axis_rows, flags
        plt.close(plot_scaling(axis_rows, axis, plots / f'scaling_{axis}.png'))
    print(f"\nwrote {plots / 'scaling_bs.png'} and {plots / 'scaling_width.png'}")
    finish(out, t_start, a.json)


if __name__ == '__main__': main()
