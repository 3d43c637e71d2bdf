"""Exact resume of interrupted distillation (issue 5), for methods with state beyond the student's weights.

Each case trains 3 epochs of one-cycle Adam on the digits, once straight through and once killed in the middle of
the second epoch (a callback raises at a given training iteration, as a killed job would), then resumed by a new
learner built from *other* initial weights with the same `fit` call and `Checkpoint()`. The resumed run must end with
bit-identical weights (student, connectors, auxiliary heads, temperature buffers), optimizer state and per-epoch
table. A control shows the test can fail: resuming without the saved data-order state gives other weights.
"""
import random
import pytest, torch
from fastai.callback.core import Callback
from fastai.callback.schedule import fit_one_cycle  # noqa: F401 (patches Learner)
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from kdnb.core import Distill, METHODS
from kdnb.checkpoint import Checkpoint
from kdnb.data import get_dls
from kdnb.features import FeatureMSE, make_connector
from kdnb.models import get_model
import kdnb.methods.dts, kdnb.methods.dual_head  # noqa: F401 (register 'dts' and 'dhkd')
import kdnb.methods.crd, kdnb.methods.nd  # noqa: F401 (register 'crd' and 'kdpp')
from kdnb.methods.reviewkd import ReviewKD

EPOCHS, CRASH_EPOCH, CRASH_OFFSET = 3, 1, 3      # crash at the 4th batch of the second epoch

class Crash(Callback):
    "Raise at training iteration `at`, like a killed job."
    def __init__(self, at): self.at = at
    def after_batch(self):
        if self.training and self.train_iter == self.at: raise RuntimeError('simulated crash')

def teacher():
    torch.manual_seed(100)
    return get_model('cnn-t', img_size=8).eval()

def feature_cbs(t, student, dls):
    "FitNets-style hint on `layer1` through a trainable connector (16 -> 64 channels on the digits)."
    conn = make_connector((1, 16, 4, 4), (1, 64, 4, 4))
    return [Distill(t, FeatureMSE('layer1', 'layer1', connectors=conn), ce_weight=1.)]

CASES = {
    'dts': METHODS['dts'].make,                       # temperature buffer moved by an EMA every step
    'dhkd': METHODS['dhkd'].make,                     # auxiliary head + gradient alignment
    'feature': feature_cbs,                           # trainable connector
    'crd': METHODS['crd'].make,                       # embedding heads, memory banks and Z in buffers
    'reviewkd': lambda t, s, dls: [Distill(t, ReviewKD(warmup=0.5))],   # review path, warm-up
    'kdpp': METHODS['kdpp'].make,                     # projector and class-centre buffer, warmed-up KD
    'kd-memo': METHODS['kd'].make,                    # teacher outputs remembered (the default memo)
    # ... and kept on disk, in the run's directory
    'kd-memo-file': lambda t, s, dls: [Distill(t, *METHODS['kd'].terms(t, s, dls), cache=dls.path / 'outputs.pt')],
}

def make_learner(path, case, init_seed, extra=()):
    dls = get_dls('digits', n_train=400, bs=32, with_idx=True, seed=0, device='cpu')
    torch.manual_seed(init_seed)
    student = get_model('cnn-s', img_size=8)
    dls.path = path
    return Learner(dls, student, loss_func=CrossEntropyLossFlat(), metrics=accuracy, path=path,
                   cbs=[*CASES[case](teacher(), student, dls), Checkpoint(), *extra])

def fit(learn):
    torch.manual_seed(1); random.seed(1)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(EPOCHS, 3e-3)
    return learn

def assert_same_run(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert list(sa) == list(sb)
    for k in sa: assert torch.equal(sa[k], sb[k]), f"tensor {k} differs"
    for x, y in zip(a.opt.state_dict()['state'], b.opt.state_dict()['state']):
        assert x.keys() == y.keys()
        for k in x: assert torch.equal(torch.as_tensor(x[k]), torch.as_tensor(y[k])), f"optimizer state {k} differs"
    assert [list(v) for v in a.recorder.values] == [list(v) for v in b.recorder.values]

@pytest.mark.parametrize('case', list(CASES))
def test_resume_is_exact(case, tmp_path):
    full = fit(make_learner(tmp_path / 'full', case, init_seed=0))
    crash_at = CRASH_EPOCH * len(full.dls.train) + CRASH_OFFSET
    with pytest.raises(RuntimeError, match='simulated crash'):
        fit(make_learner(tmp_path / 'resumed', case, init_seed=0, extra=[Crash(crash_at)]))
    assert (tmp_path / 'resumed' / 'models' / 'checkpoint.pt').exists()
    # other initial weights: all must come from the file
    resumed = fit(make_learner(tmp_path / 'resumed', case, init_seed=7))
    assert resumed.cbs.filter(lambda c: isinstance(c, Checkpoint))[0].resumed_from == CRASH_EPOCH
    assert len(resumed.recorder.values) == EPOCHS
    assert_same_run(full, resumed)
    if case == 'dts':   # the state this case is about really moved during training
        assert float(full.model.terms[0].temperature) != 4.0
    if case.startswith('kd-memo'):   # the memo served batches in both runs (rebuilt, or read back, after the crash)
        assert full.distill.memo.looked_up > 0 and resumed.distill.memo.looked_up > 0

class ForgetDataOrder(Checkpoint):
    "A deliberately broken resume that does not restore the DataLoaders' shuffling state."
    def _restore(self, s):
        super()._restore(s)
        for dl in self.dls.loaders: dl.rng = random.Random(12345)

def test_resume_check_can_fail(tmp_path):
    "Control: the comparison above detects a resume that misses one piece of state."
    full = fit(make_learner(tmp_path / 'full', 'dts', init_seed=0))
    crash_at = CRASH_EPOCH * len(full.dls.train) + CRASH_OFFSET
    with pytest.raises(RuntimeError): fit(make_learner(tmp_path / 'r', 'dts', 0, extra=[Crash(crash_at)]))
    learn = make_learner(tmp_path / 'r', 'dts', 7)
    learn.cbs = learn.cbs.filter(lambda c: not isinstance(c, Checkpoint))
    learn.add_cb(ForgetDataOrder())
    with pytest.raises(AssertionError): assert_same_run(full, fit(learn))
