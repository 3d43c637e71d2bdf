"""kdnb against fasterai and torchdistill on the same Hinton-KD job. Prints figures; not a test.

The job is the same for every library: the same teacher weights, the same student initialisation (seeded), the same
batches in the same order (a fresh, seeded fastai `DataLoaders` per run; the plain-PyTorch loops iterate it too), the
same optimizer (`torch.optim.Adam`, constant learning rate; fastai learners get it through `OptimWrapper`), and the
same loss, `ce_weight * CE + kd_weight * T^2 * KL(p_t^T || p_s^T)` with T=4, ce_weight=0.1, kd_weight=0.9:
  kdnb         : fastai `Learner` + `kdnb.core.Distill(teacher, KD(T=4), ce_weight=0.1, kd_weight=0.9,
                 cache=False)` (the live teacher; benchmarks/auto_cache.py measures the remembered one)
  fasterai     : fastai `Learner` + `fasterai.distill.KnowledgeDistillationCallback(teacher, SoftTarget(T=4),
                 weight=0.9)` (its total loss is `lerp(CE, KD, weight)` = 0.1 CE + 0.9 KD)
  torchdistill : torchdistill's own `DistillationBox` (a `WeightedSumLoss` holding its `KDLoss(temperature=4,
                 alpha=0.1, beta=0.9)`, the teacher frozen with `requires_grad: False`, so it runs under `no_grad`),
                 configured by a Python dict instead of YAML and driven by the step loop of torchdistill's example
                 script (`forward_process` then `post_forward_process`) over the same batches
  student      : the student alone in a fastai `Learner` (cross-entropy)
  student-torch: the student alone in a plain PyTorch loop (the framework cost torchdistill's loop does not pay)
  teacher fwd  : one teacher forward pass under `no_grad` on the same batches; "student + teacher fwd" is the lower
                 bound of any live-teacher KD step
Before timing, the script asserts that the three KD losses are equal on the first batch (and equal a float64
reference) and prints them.

What is measured, per case:
  step   : wall time of a training step (fastai `before_batch` to `after_batch`: forward(s), loss, backward,
           optimizer step; the same span in the PyTorch loops; data loading excluded), median over interleaved rounds
           (A B C ... A B C ...), the first 3 steps of each run dropped; also steps/s
  epoch  : wall time of a whole epoch including data loading and validation (fasterai also runs the teacher in
           validation), median over the epochs of the accuracy runs (interleaved per seed)
  memory : peak resident-set growth of a fresh child process over one run of `--mem-steps` training steps, above its
           RSS once the libraries are imported and the teacher is loaded (Linux: VmHWM reset through
           /proc/self/clear_refs); it counts everything the run allocates (learner, data, activations, autograd
           graphs, optimizer state), i.e. what each approach needs on top of the loaded process. It varies by about
           +-20% between fresh processes (allocator behaviour): `--mem-repeats N` takes the median of N children.
           On CUDA also `torch.cuda.max_memory_allocated` in that child.
  accuracy: validation top-1 of the student after `--epochs` epochs, for every seed (same evaluation code for all).
Targets (issue 4): kdnb's live-teacher epoch <= 0.55 x fasterai's and <= every other peer's on the same job.

Cases: `mnist` (MNIST-5k 28x28; pair `issue`: the issue's 372k-parameter CNN teacher and 24k-parameter CNN student,
or `default`: kdnb's cnn-t -> cnn-s), `synth` (32x32x3 synthetic images, 10 classes, class templates + noise, with a
conv teacher/student sized so that convolutions dominate; the teacher is trained briefly in the script).

    python benchmarks/peers.py [--case mnist|synth|all] [--pair issue|default] [--bs 128] [--rounds 5] [--steps 30]
                               [--epochs 3] [--seeds 0 1] [--device cpu] [--mem-steps 10] [--mem-repeats 1] [--no-memory]
                               [--json out.json]
"""
import argparse, copy, math, statistics, sys, time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import version
import multiprocessing as mp
import torch
import torch.nn.functional as F
from torch import nn
from fastai.callback.core import Callback, CancelFitException
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.optimizer import OptimWrapper
from fasterai.distill.distillation_callback import KnowledgeDistillationCallback
from fasterai.distill.losses import SoftTarget
from torchdistill.core.distillation import DistillationBox
from kdnb.core import Distill
from kdnb.data import arrays_dls
from kdnb.data import get_dls
from kdnb.models import get_model, param_count
from kdnb.methods.kd import KD
from kdnb.teachers import get_teacher, train_learner
from _common import StepTimer, EpochTimer, PeakRSS, sync, time_teacher, median, machine_line, parse_args, set_malloc, finish

KD_LIBS = ('kdnb', 'fasterai', 'torchdistill')          # the three implementations of the same KD job
LIBS = (*KD_LIBS, 'student', 'student-torch')          # timed in every round, in this order
WARMUP = 3                                             # steps dropped at the start of each timed run
TARGET_FASTERAI = 0.55                                 # kdnb epoch / fasterai epoch must be <= this


# ----------------------------------------------------------------------------------------------------- the job
@dataclass
class Job:
    "Everything that must be identical across libraries: data, teacher, student, optimizer, loss."
    case: str
    make_dls: callable                 # seed -> fresh fastai DataLoaders (seeded shuffling)
    teacher: nn.Module                 # trained (or briefly trained) teacher, eval mode
    make_student: callable             # () -> fresh student (call under a seed)
    desc: dict = field(default_factory=dict)
    lr: float = 3e-3
    T: float = 4.0
    ce_weight: float = 0.1
    kd_weight: float = 0.9
    device: torch.device = torch.device('cpu')
    n_batches: int = 0                 # training batches per epoch

    def student(self, seed):
        "The student initialised from `seed` (the same weights for every library)."
        torch.manual_seed(seed)
        return self.make_student().to(self.device)


def synth_images(n=2560, n_classes=10, size=32, noise=1.5, seed=0):
    "3-channel `size`x`size` images: a smooth random template per class plus Gaussian noise; deterministic in `seed`."
    g = torch.Generator().manual_seed(seed)
    templates = F.interpolate(torch.randn(n_classes, 3, size // 4, size // 4, generator=g), size=size, mode='bilinear',
                              align_corners=False)
    y = (torch.arange(n) % n_classes)[torch.randperm(n, generator=g)]
    x = templates[y] + noise * torch.randn(n, 3, size, size, generator=g)
    return (x - x.mean()) / x.std(), y


def build_job(case, bs, device, pair='issue', teacher_state=None, teacher_acc=True) -> Job:
    """The job of `case` ('mnist' or 'synth'); `teacher_state` reuses an already built synthetic teacher (child
    processes)."""
    if case == 'mnist':
        if pair == 'issue':      # the measurement: 372k-parameter teacher, 24k-parameter student
            t_arch, t_kw, s_arch, s_kw = 'cnn', dict(width=64, depth=2), 'cnn', dict(width=16, depth=2)
        else: t_arch, t_kw, s_arch, s_kw = 'cnn-t', {}, 'cnn-s', {}
        teacher = get_teacher(t_arch, 'mnist', device=device, **t_kw)
        make_dls = lambda seed: get_dls('mnist', bs=bs, seed=seed, device=device)
        make_student = lambda: get_model(s_arch, img_size=28, **s_kw)
        desc = dict(data='MNIST-5k (4000 train / 1000 valid, 28x28x1)', teacher=f'{t_arch} {t_kw}',
                    student=f'{s_arch} {s_kw}',
                    teacher_acc=teacher.kdnb_info['valid_acc'])
    elif case == 'synth':
        x, y = synth_images()
        cut = int(0.8 * len(x))
        make_dls = lambda seed: arrays_dls(x, y, range(cut), range(cut, len(x)), bs=bs, seed=seed, device=device)
        t_kw, s_kw = dict(in_ch=3, width=32, depth=3), dict(in_ch=3, width=8, depth=3)
        teacher = get_model('cnn', img_size=32, **t_kw)
        if teacher_state is None: train_learner(teacher, make_dls(1000), epochs=2, lr=1e-2)   # a brief, real teacher
        else: teacher.load_state_dict(teacher_state)
        teacher = teacher.to(device).eval()
        make_student = lambda: get_model('cnn', img_size=32, **s_kw)
        desc = dict(data=f'synthetic 32x32x3, 10 classes ({cut} train / {len(x) - cut} valid)', teacher=f'cnn {t_kw}',
                    student=f'cnn {s_kw}', teacher_acc=evaluate(teacher,
                                                                make_dls(0).valid) if teacher_acc else float('nan'))
    else: raise ValueError(f"unknown case {case!r}: choose 'mnist' or 'synth'")
    job = Job(case, make_dls, teacher, make_student, desc, device=torch.device(device),
              n_batches=len(make_dls(0).train))
    job.desc.update(teacher_params=param_count(teacher), student_params=param_count(job.make_student()))
    if not math.isclose(job.ce_weight + job.kd_weight, 1.0):
        raise ValueError("fasterai's callback computes lerp(CE, KD, weight): it needs ce_weight + kd_weight == 1")
    return job


@torch.inference_mode()
def evaluate(model, dl) -> float:
    "Top-1 accuracy of `model` on `dl` (eval mode), the same code for every library."
    model.eval()
    correct = total = 0
    for x, y in dl:
        correct += (model(x).argmax(-1) == y).sum().item(); total += len(y)
    return correct / total


# ------------------------------------------------------------------------------------------------------ runners
@dataclass
class Run:
    step_times: list
    epoch_times: list
    student: nn.Module
    dls: object
    first_loss: float | None = None


class FirstLoss(Callback):
    "Keep `learn.loss_grad` of the first training batch (after every other callback's `after_loss`), then stop."
    order = 200
    value = None
    def after_loss(self):
        if self.training: self.value = self.learn.loss_grad.item(); raise CancelFitException()


def fastai_callbacks(lib, job, teacher):
    "The callbacks that make a fastai `Learner` run `lib`'s version of the job."
    if lib == 'student': return []
    if lib == 'kdnb':
        return [Distill(teacher, KD(T=job.T), ce_weight=job.ce_weight, kd_weight=job.kd_weight, cache=False)]
    if lib == 'fasterai':
        return [KnowledgeDistillationCallback(teacher, partial(SoftTarget, T=job.T), weight=job.kd_weight)]
    raise ValueError(lib)


def run_fastai(lib, job, seed, epochs=1, steps=None, first_loss=False) -> Run:
    "Train with a fastai `Learner` for `epochs` epochs, or until `steps` training steps."
    dls, student, teacher = job.make_dls(seed), job.student(seed), copy.deepcopy(job.teacher)
    timer, epoch_timer, probe = StepTimer(steps), EpochTimer(), FirstLoss()
    cbs = [*fastai_callbacks(lib, job, teacher), timer, epoch_timer] + ([probe] if first_loss else [])
    learn = Learner(dls, student, loss_func=CrossEntropyLossFlat(),
                    opt_func=partial(OptimWrapper, opt=torch.optim.Adam),
                    metrics=[accuracy], cbs=cbs)
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, job.lr)
    return Run(timer.times, epoch_timer.times, student, dls, probe.value)


def torchdistill_config(job, epochs):
    "torchdistill's training configuration (what its YAML files hold) for this job, as a Python dict."
    kd = dict(student_module_path='.', student_module_io='output', teacher_module_path='.', teacher_module_io='output',
              temperature=job.T, alpha=job.ce_weight, beta=job.kd_weight, reduction='batchmean')
    return dict(num_epochs=epochs, teacher=dict(forward_proc='forward_batch_only', requires_grad=False),
                student=dict(forward_proc='forward_batch_only'),
                optimizer=dict(key='Adam', kwargs=dict(lr=job.lr)),
                criterion=dict(key='WeightedSumLoss', kwargs=dict(sub_terms=dict(
                    kd=dict(criterion=dict(key='KDLoss', kwargs=kd), weight=1.0)))))


def run_torch(lib, job, seed, epochs=1, steps=None, first_loss=False) -> Run:
    "Train in a plain PyTorch loop over the same batches: torchdistill's `DistillationBox`, or the student alone."
    dls, student, teacher = job.make_dls(seed), job.student(seed), copy.deepcopy(job.teacher)
    if lib == 'torchdistill':
        box = DistillationBox(teacher, student, {}, torchdistill_config(job, epochs), job.device, None, False, 1)
        start_epoch = lambda epoch: box.pre_epoch_process(epoch=epoch)
        loss_of = lambda x, y: box.forward_process(x, y, supp_dict={})
        update = lambda loss: box.post_forward_process(loss=loss)
    elif lib == 'student-torch':
        opt = torch.optim.Adam(student.parameters(), lr=job.lr)
        start_epoch = lambda epoch: student.train()
        loss_of = lambda x, y: F.cross_entropy(student(x), y)
        def update(loss): loss.backward(); opt.step(); opt.zero_grad()
    else: raise ValueError(lib)
    step_times, epoch_times = [], []
    for epoch in range(epochs):
        t_epoch = time.perf_counter()
        start_epoch(epoch)
        for x, y in dls.train:
            sync(job.device); t0 = time.perf_counter()
            loss = loss_of(x, y)
            if first_loss: return Run([], [], student, dls, loss.item())
            update(loss)
            sync(job.device); step_times.append(time.perf_counter() - t0)
            if steps is not None and len(step_times) >= steps: return Run(step_times, epoch_times, student, dls)
        evaluate(student, dls.valid)      # validation, as torchdistill's example does after every epoch
        sync(job.device); epoch_times.append(time.perf_counter() - t_epoch)
    return Run(step_times, epoch_times, student, dls)


def run(lib, job, seed, epochs=1, steps=None, first_loss=False) -> Run:
    fn = run_torch if lib in ('torchdistill', 'student-torch') else run_fastai
    if steps is not None: epochs = max(epochs, math.ceil(steps / job.n_batches))
    return fn(lib, job, seed, epochs=epochs, steps=steps, first_loss=first_loss)


# ------------------------------------------------------------------------------------------------- measurements
def reference_loss(job, seed) -> float:
    "The job's loss on the first training batch, computed independently in float64."
    x, y = next(iter(job.make_dls(seed).train))
    student = job.student(seed).train()
    with torch.no_grad(): s, t = student(x).double(), job.teacher(x).double()
    kl = (F.softmax(t / job.T, -1) * (F.log_softmax(t / job.T, -1) - F.log_softmax(s / job.T, -1))).sum(-1).mean()
    return (job.ce_weight * F.cross_entropy(s, y) + job.kd_weight * job.T ** 2 * kl).item()


def check_losses(job, seed=0, rtol=1e-5) -> dict:
    "Assert that the three KD libraries compute the same loss on the same first batch (and equal the reference)."
    values = {'reference (float64)': reference_loss(job, seed)}
    for lib in KD_LIBS: values[lib] = run(lib, job, seed, first_loss=True).first_loss
    ref = values['reference (float64)']
    for lib in KD_LIBS:
        assert math.isclose(values[lib], ref, rel_tol=rtol), f"{lib}'s loss {values[lib]:.7f} != reference {ref:.7f}"
    return values


def time_loading(dls) -> float:
    "Seconds to iterate the training and validation batches once, with no model: the data part of an epoch."
    t0 = time.perf_counter()
    for dl in (dls.train, dls.valid):
        for _ in dl: pass
    return time.perf_counter() - t0


def time_rounds(job, rounds, steps) -> tuple[dict, dict]:
    """Step and epoch times of every library, interleaved (A B C ..., A B C ...); each run is `steps` steps rounded up
    to whole epochs."""
    epochs = max(1, math.ceil(steps / job.n_batches))
    step_times, epoch_times = {k: [] for k in (*LIBS, 'teacher fwd')}, {k: [] for k in (*LIBS, 'data loading')}
    for r in range(rounds):
        for lib in LIBS:
            res = run(lib, job, seed=0, epochs=epochs)
            step_times[lib] += res.step_times[WARMUP:]; epoch_times[lib] += res.epoch_times
        step_times['teacher fwd'] += time_teacher(job.teacher, job.make_dls(0), steps, warmup=WARMUP)
        epoch_times['data loading'].append(time_loading(job.make_dls(0)))
    return step_times, epoch_times


def accuracy_runs(job, seeds, epochs) -> dict:
    "Validation accuracy after `epochs` epochs, for every library and seed (interleaved per seed)."
    acc = {k: [] for k in LIBS}
    for seed in seeds:
        for lib in LIBS:
            r = run(lib, job, seed, epochs=epochs)
            acc[lib].append(evaluate(r.student, r.dls.valid))
    return acc


def memory_child(case, bs, device, pair, teacher_state, lib, steps, threads, malloc):
    "In a fresh process: peak RSS growth (and CUDA peak allocation) over one run of `steps` steps of `lib`."
    torch.set_num_threads(threads); set_malloc(malloc)   # the parent's settings
    # no teacher forward before the measurement
    job = build_job(case, bs, device, pair, teacher_state, teacher_acc=False)
    cuda = job.device.type == 'cuda'
    if cuda: torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as m: run(lib, job, seed=0, steps=steps)
    out = dict(rss_growth_mb=m.growth_mb, rss_start_mb=m.start_mb, rss_peak_mb=m.peak_mb, exact=m.exact)
    if cuda: out['cuda_max_allocated_mb'] = torch.cuda.max_memory_allocated() / 2**20
    return out


def memory_runs(job, a, pair) -> dict:
    """Peak memory of each library, each run in its own fresh child process (spawned); the median over `--mem-repeats`
    children."""
    state = {k: v.cpu() for k, v in job.teacher.state_dict().items()} if job.case == 'synth' else None
    out = {}
    for lib in LIBS:
        runs = []
        for _ in range(a.mem_repeats):
            with ProcessPoolExecutor(1, mp_context=mp.get_context('spawn')) as ex:
                runs.append(ex.submit(memory_child, job.case, a.bs, str(job.device), pair, state, lib, a.mem_steps,
                                      torch.get_num_threads(), a.malloc).result())
        out[lib] = {k: median([r[k] for r in runs]) for k in runs[0] if k != 'exact'}
        out[lib].update(exact=all(r['exact'] for r in runs), rss_growth_mb_all=[r['rss_growth_mb'] for r in runs])
    return out


# ------------------------------------------------------------------------------------------------------ report
def mean_sd(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else float('nan'))


def report(job, losses, times, epoch_times, acc, mem, a) -> dict:
    "Print the case's tables and target checks; return its figures for the JSON file."
    d = job.desc
    print(f"\n=== case {job.case}: {d['data']}, batch {a.bs}, Adam lr {job.lr} (constant), "
          f"KD T={job.T} ce_weight={job.ce_weight} kd_weight={job.kd_weight}")
    print(f"teacher {d['teacher']}: {d['teacher_params']:,} params, valid acc {d['teacher_acc']:.4f}; "
          f"student {d['student']}: {d['student_params']:,} params")
    print("loss on the first batch (same init, same batch): " + ", ".join(f"{k} {v:.7f}" for k, v in losses.items()))
    step = {k: median(v) for k, v in times.items()}
    step['student + teacher fwd'] = step['student'] + step['teacher fwd']
    epoch = {k: median(v) for k, v in epoch_times.items()}
    print(f"\n{'':22s} {'ms/step':>9s} {'steps/s':>8s} {'s/epoch':>8s} {'peak RSS +MB':>12s} {'acc % mean ± sd':>16s}"
          f"   ({a.rounds} rounds x {a.steps} steps, medians; epochs: {len(a.seeds)} seeds x {a.epochs})")
    for k in (*LIBS, 'teacher fwd', 'student + teacher fwd', 'data loading'):
        st = f"{1000 * step[k]:9.2f} {1 / step[k]:8.2f}" if k in step else ' ' * 18
        ep = f"{epoch[k]:8.3f}" if k in epoch else ' ' * 8
        mb = f"{mem[k]['rss_growth_mb']:12.1f}" if mem and k in mem else ' ' * 12
        if k in acc:
            m, s = mean_sd(acc[k]); ac = f"{100 * m:7.2f} ± {100 * s:5.2f}"
        else: ac = ''
        print(f"{k:22s} {st} {ep} {mb} {ac:>16s}")
    if mem and any('cuda_max_allocated_mb' in v for v in mem.values()):
        print("CUDA max allocated MB: " + ", ".join(f"{k} {v['cuda_max_allocated_mb']:.1f}" for k, v in mem.items()))
    print("per-seed accuracy: " + "; ".join(f"{k} " + " ".join(f"{100 * v:.2f}" for v in acc[k]) for k in LIBS))

    print("\nratios kdnb / peer (lower is better for kdnb)     step    epoch   target (on the epoch)")
    ratios, ok = {}, {}
    for peer in ('fasterai', 'torchdistill', 'student', 'student-torch', 'student + teacher fwd'):
        rs = step['kdnb'] / step[peer]
        re_ = epoch['kdnb'] / epoch[peer] if peer in epoch else float('nan')
        target = TARGET_FASTERAI if peer == 'fasterai' else 1.0 if peer == 'torchdistill' else None
        if target is not None: ok[peer] = re_ <= target
        verdict = '' if target is None else f"<= {target:.2f}  {'PASS' if ok[peer] else 'FAIL'}"
        ratios[peer] = dict(step=rs, epoch=re_)
        ep = f"{re_:7.3f}" if re_ == re_ else ' ' * 7
        print(f"  kdnb / {peer:22s}                     {rs:7.3f}  {ep}   {verdict}")

    flags = []
    m0, s0 = mean_sd(acc['kdnb'])
    for peer in ('fasterai', 'torchdistill'):
        m1, s1 = mean_sd(acc[peer])
        noise = max(2 * (s0 if s0 == s0 else 0), 2 * (s1 if s1 == s1 else 0), 0.003)
        if abs(m1 - m0) > noise:
            flags.append(f"{peer} accuracy {100 * m1:.2f}% differs from kdnb's {100 * m0:.2f}% by more than seed noise "
                         f"({100 * noise:.2f} pp)")
    print("accuracy: " + ("; ".join(flags) if flags else "the three KD implementations agree within seed noise"))
    return dict(desc=d, losses=losses, step_s=step, epoch_s=epoch, steps_per_s={k: 1 / v for k, v in step.items()},
                ratios_kdnb_over=ratios, targets_pass=ok, accuracy=acc, accuracy_flags=flags, memory=mem,
                raw_step_times=times, raw_epoch_times=epoch_times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--case', default='all', choices=['mnist', 'synth', 'all'])
    p.add_argument('--pair', default='issue', choices=['issue', 'default'], help="MNIST teacher/student pair")
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--steps', type=int, default=30, help="training steps per timed run, rounded up to whole epochs")
    p.add_argument('--epochs', type=int, default=3, help="epochs of the accuracy runs")
    p.add_argument('--lr', type=float, default=3e-3, help="Adam learning rate (constant), the same for all")
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--mem-steps', type=int, default=10, help="training steps of each memory run")
    p.add_argument('--mem-repeats', type=int, default=1, help="fresh child processes per library (median)")
    p.add_argument('--no-memory', action='store_true')
    a, dev = parse_args(p)
    print(machine_line(dev))
    print("versions: " + ", ".join(f"{m} {version(m)}" for m in ('torch', 'fastai', 'fasterai', 'torchdistill')) +
          f", python {sys.version.split()[0]}")
    out = dict(args=vars(a), machine=machine_line(str(dev)), cases={})
    t_start = time.perf_counter()
    for case in (['mnist', 'synth'] if a.case == 'all' else [a.case]):
        job = build_job(case, a.bs, dev, a.pair)
        losses = check_losses(job)
        job.lr = a.lr
        times, epoch_times = time_rounds(job, a.rounds, a.steps)
        acc = accuracy_runs(job, a.seeds, a.epochs)
        mem = None if a.no_memory else memory_runs(job, a, a.pair)
        out['cases'][case] = report(job, losses, times, epoch_times, acc, mem, a)
    finish(out, t_start, a.json)


if __name__ == '__main__': main()
