"""Which default setting makes `kdnb bench` informative? For each candidate (student, training subset, epochs), train
the student alone (`none`) and with Hinton KD (`kd`) over the same seeds on Fashion-MNIST, report on the official
test split, and pair the two by seed. The bench notebook (nbs/foundation/09_bench.ipynb) renders the table this
writes and explains the choice.

    python benchmarks/bench_settings.py --json nbs/foundation/results/bench_settings.json
"""
import argparse, json, time
import pandas as pd
from kdnb.bench import BenchConfig, get_methods, run_grid, paired_diff, provenance
from kdnb.models import get_model, param_count
from kdnb.performance import tune_malloc

# (student, n_train, epochs): the measured starting point first, then cheaper ones
CANDIDATES = [('cnn', 5000, 10), ('cnn', 5000, 5), ('cnn', 5000, 3), ('cnn', 2500, 5), ('cnn', 1000, 8),
              ('cnn-s', 5000, 5), ('cnn', 10000, 3)]

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--json', required=True)
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--teacher-epochs', type=int, default=3)
    p.add_argument('--only', type=int, nargs='*', help='indices of CANDIDATES to run (default: all)')
    a = p.parse_args()
    tune_malloc()
    rows, all_runs = [], []
    for i, (student, n_train, epochs) in enumerate(CANDIDATES):
        if a.only and i not in a.only: continue
        cfg = BenchConfig(dataset='fashion', methods=['none', 'kd'], student=student, n_train=n_train, epochs=epochs,
                          teacher='cnn-t', teacher_epochs=a.teacher_epochs, seeds=list(range(a.seeds)))
        t0 = time.perf_counter()
        runs, teacher_acc, _ = run_grid(get_methods(cfg.methods), cfg, quiet=True)
        secs = time.perf_counter() - t0
        d = paired_diff(runs, 'kd', 'none')
        row = dict(student=student, student_params=param_count(get_model(student)), n_train=n_train, epochs=epochs,
                   teacher_acc=teacher_acc, none_acc=runs[runs.method == 'none'].acc.mean(),
                   kd_acc=runs[runs.method == 'kd'].acc.mean(), kd_minus_none=d['mean'], se=d['se'],
                   sec_per_run=runs.sec_per_epoch.mean() * epochs, grid_seconds=secs)
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
        rows.append(row); all_runs += [dict(r, setting=i) for r in runs.to_dict(orient='records')]
    res = dict(provenance=provenance(), seeds=a.seeds, teacher=dict(arch='cnn-t', epochs=a.teacher_epochs),
               candidates=rows, runs=all_runs)
    with open(a.json, 'w') as f: json.dump(res, f, indent=1, default=float)
    print(pd.DataFrame(rows).to_string(index=False))

if __name__ == '__main__': main()
