"""Shared pieces of the benchmark scripts: step timers, teacher-forward timing, machine description, peak memory."""
import json, platform, resource, statistics, time
from pathlib import Path
import torch
import math
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat

WARMUP = 3   # steps dropped at the start of each timed run
# the C allocator setting of this process: 'default' (glibc's) or 'tuned' (`kdnb.performance.tune_malloc()`)
MALLOC = 'default'


def set_malloc(mode: str):
    "Apply the allocator setting `mode` to this process ('tuned': `tune_malloc()`); `machine_line` reports it."
    global MALLOC
    if mode not in ('default', 'tuned'): raise ValueError(f"--malloc must be 'default' or 'tuned', got {mode!r}")
    if mode == 'tuned':
        from kdnb.performance import tune_malloc
        if not tune_malloc(): mode = 'default (tune_malloc unavailable: not glibc)'
    MALLOC = mode


def parse_args(parser):
    """Parse the command line with the options every script shares (`--device`, `--json`, `--malloc`), apply the
    allocator setting before anything is measured, and return the arguments and the device (default: CUDA when present)."""
    parser.add_argument('--device', default=None, help='cpu, cuda, ... (default: CUDA when present)')
    parser.add_argument('--json', default=None, help='write the figures to this file')
    parser.add_argument('--malloc', default='default', choices=['default', 'tuned'],
                        help="C allocator: glibc's defaults, or kdnb.performance.tune_malloc() (freed memory kept for reuse)")
    a = parser.parse_args()
    set_malloc(a.malloc)
    from fastai.torch_core import default_device
    return a, (torch.device(a.device) if a.device else default_device())


def sync(device):
    "Wait for queued kernels on `device`, so that wall times measure the work (a no-op on CPU)."
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()


class StepTimer(Callback):
    """Record the wall time of each training step (`before_batch` to `after_batch`); stop after `steps` steps (None:
    never)."""
    order = -100   # first in `before_batch`, so that every callback's batch work is inside the timed span
    def __init__(self, steps=None): self.steps, self.times = steps, []
    def before_batch(self):
        if self.training:
            sync(self.dls.device)
            self.t0 = time.perf_counter()
    def after_batch(self):
        if not self.training: return
        sync(self.dls.device)
        self.times.append(time.perf_counter() - self.t0)
        if self.steps is not None and len(self.times) >= self.steps: raise CancelFitException()


class EpochTimer(Callback):
    "Record the wall time of each epoch, training and validation (`before_epoch` to `after_epoch`)."
    order = 100
    def __init__(self): self.times = []
    def before_epoch(self): sync(self.dls.device); self.t0 = time.perf_counter()
    def after_epoch(self): sync(self.dls.device); self.times.append(time.perf_counter() - self.t0)


def time_teacher(teacher, dls, steps, warmup=3):
    "Teacher forward passes (no grad) on `steps` training batches, loaded first so that only the forward is timed."
    batches = []
    for i, (x, *_) in enumerate(dls.train):
        if i >= steps: break
        batches.append(x)
    times = []
    for x in batches:
        sync(x.device)
        t0 = time.perf_counter()
        with torch.no_grad(): teacher(x)
        sync(x.device)
        times.append(time.perf_counter() - t0)
    return times[warmup:]


def median(xs): return statistics.median(xs) if xs else float('nan')


def machine_line(device) -> str:
    "One line: architecture, CPU, torch version, device, threads and date."
    return (f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, device {device}, "
            f"threads {torch.get_num_threads()}, malloc {MALLOC}, date {time.strftime('%Y-%m-%d')}")


def _status_kb(field: str) -> int | None:
    "A `VmXXX` field of /proc/self/status in kB (Linux), or None."
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'): return int(line.split()[1])
    except OSError: pass
    return None


class PeakRSS:
    "Peak resident memory growth of this process over a block: `with PeakRSS() as m: ...; m.growth_mb`."
    def __enter__(self):
        try:     # reset the high-water mark VmHWM to the current RSS (Linux >= 4.0)
            with open('/proc/self/clear_refs', 'w') as f: f.write('5')
            self.exact = True
        except OSError: self.exact = False
        self.start_kb = _status_kb('VmRSS') or 0
        self.start_max_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self
    def __exit__(self, *exc):
        peak = _status_kb('VmHWM') if self.exact else None
        if peak is None:   # fall back to ru_maxrss: only growth above the process's earlier peak is visible
            peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, self.start_max_kb)
        self.peak_mb, self.start_mb = peak / 1024, self.start_kb / 1024
        self.growth_mb = max(0., (peak - self.start_kb) / 1024)


class SkipValidation(Callback):
    "Skip fastai's validation pass (timing runs only train)."
    def before_validate(self): raise CancelValidException()


def step_times(student, dls, cbs=(), steps=20, warmup=WARMUP, lr=1e-3) -> list:
    """Seconds of `steps` training steps of `student` in a fastai `Learner` with `cbs`, after `warmup` dropped steps
    (as many epochs as needed)."""
    timer = StepTimer(steps + warmup)
    learn = Learner(dls, student, loss_func=CrossEntropyLossFlat(), cbs=[*cbs, timer, SkipValidation()])
    with learn.no_bar(), learn.no_logging(): learn.fit(math.ceil((steps + warmup) / len(dls.train)), lr)
    return timer.times[warmup:]


def teacher_times(teacher, dls, steps, warmup=WARMUP) -> list:
    """Seconds of `steps` teacher forward passes (no grad) on training batches, cycling over epochs when `dls.train` is
    short."""
    times = time_teacher(teacher, dls, steps + warmup, warmup)
    while len(times) < steps: times += time_teacher(teacher, dls, steps - len(times), warmup=0)
    return times


class TeacherOnly(Callback):
    """Run `teacher` (no grad) on each training batch and throw the result away: the floor for any live-teacher
    distillation inside a fastai step, measured in the same loop (a teacher timed alone, on hot batches, runs faster)."""
    def __init__(self, teacher): self.teacher = teacher
    def after_pred(self):
        if self.training:
            with torch.no_grad(): self.teacher(*self.xb)


def finish(out: dict, t_start: float, path=None):
    "Record and print the run's total time in `out`; write `out` as JSON to `path` if given."
    out['total_seconds'] = time.perf_counter() - t_start
    print(f"\ntotal run time {out['total_seconds']:.0f} s")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, 'w') as f: json.dump(out, f, indent=1, default=str)
        print(f"wrote {path}")
