"""Does kdnb's fastai-typed data (labels with a vocab, types given back on decoding for show_batch, show_results,
ClassificationInterpretation and predict) cost training time? Prints figures; not a test.

In one process, interleaved (A B, A B, ...): one epoch of Distill + KD (the default pair, MNIST-5k, batch 128,
train + validation, data loading included) on
  typed : `kdnb.data.get_dls` as it is
  plain : the same arrays, split, normalisation and batch order through untyped transforms (the pipeline before)
and prints the median epoch time of each and the ratio typed / plain, with each round's ratio to show the spread.
(A first version typed every item as `TensorImageBW`/`TensorCategory`: 1.21x here, so items and batches stay plain.)

    python benchmarks/typed_data.py [--rounds 5] [--malloc default|tuned] [--json out.json]
"""
import argparse, random, statistics, time
import torch
from fastai.data.core import Datasets
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from kdnb.core import Distill
from kdnb.data import get_dls, ArrayItem
from kdnb.methods.kd import KD
from kdnb.models import get_model, default_pair
from kdnb.teachers import get_teacher
from _common import machine_line, parse_args, finish

class PlainNormalized(ArrayItem):
    "The untyped pipeline's image item: normalised, a plain tensor."
    def __init__(self, data, mean, std): super().__init__(data); self.mean, self.std = mean, std
    def encodes(self, i: int): return (self.data[i] - self.mean) / self.std

def plain_dls(typed):
    "The same samples, split, normalisation and shuffling as `typed`, through untyped transforms."
    x_tfm = typed.train_ds.tls[0].tfms.fs[0]
    labels = typed.train_ds.tls[1].tfms.fs[0].data
    tfms = [[PlainNormalized(x_tfm.data, x_tfm.mean, x_tfm.std)], [ArrayItem(labels, dtype=torch.long)]]
    dsets = Datasets(range(len(labels)), tfms=tfms, splits=(list(typed.train_ds.items), list(typed.valid_ds.items)),
                     n_inp=1)
    dls = dsets.dataloaders(bs=typed.train.bs, device='cpu', num_workers=0)
    for d, t in zip(dls.loaders, typed.loaders): d.rng = random.Random(); d.rng.setstate(t.rng.getstate())
    dls.with_idx = False
    return dls

def epoch_seconds(dls, teacher, s_arch) -> float:
    torch.manual_seed(0)
    learn = Learner(dls, get_model(s_arch), loss_func=CrossEntropyLossFlat(), cbs=Distill(teacher, KD()))
    t0 = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return time.perf_counter() - t0

def main():
    t_start = time.perf_counter()
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=5)
    a, device = parse_args(p)
    t_arch, s_arch = default_pair()
    teacher = get_teacher(t_arch, 'mnist', device='cpu')
    typed = get_dls('mnist', bs=128, device='cpu')
    plain = plain_dls(typed)
    xb, yb = typed.one_batch(); xp, yp = plain.one_batch()
    same = torch.equal(xb.as_subclass(torch.Tensor), xp) and torch.equal(yb.as_subclass(torch.Tensor), yp)
    assert same, "not the same batches"
    print(machine_line('cpu'), f"| batches: typed {type(xb).__name__}, plain {type(xp).__name__}")
    epoch_seconds(typed, teacher, s_arch); epoch_seconds(plain, teacher, s_arch)   # warm-up
    times = {'typed': [], 'plain': []}
    for r in range(a.rounds):
        for name, dls in (('typed', typed), ('plain', plain)): times[name].append(epoch_seconds(dls, teacher, s_arch))
    med = {k: statistics.median(v) for k, v in times.items()}
    per_round = [t / p for t, p in zip(times['typed'], times['plain'])]
    print(f"epoch seconds (median of {a.rounds}): typed {med['typed']:.3f}, plain {med['plain']:.3f}; "
          f"typed / plain {med['typed'] / med['plain']:.3f} (rounds: {', '.join(f'{r:.3f}' for r in per_round)})")
    finish(dict(seconds=times, median=med, ratio=med['typed'] / med['plain'], per_round=per_round), t_start, a.json)

if __name__ == '__main__': main()
