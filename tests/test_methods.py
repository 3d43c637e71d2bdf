"""Every registered method is stated once: the line a user writes (`Method.usage`, e.g. `Distill(teacher, KD())`),
the registry/bench (`Method.make(teacher, student, dls)`) and the method notebook's experiment train the same loss.
And a method is findable in one hop: key -> module -> notebook in `nbs/<family>/`, and back."""
import importlib, json, re, pathlib
import pytest
import torch
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from kdnb.bench import get_methods
from kdnb.core import Distill, METHOD_FAMILIES
from kdnb.data import get_dls
from kdnb.models import get_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
METHODS = [m for m in get_methods() if m.name != 'none']

def train(make_cbs, seed=0):
    "Two steps on the digits with the callbacks `make_cbs(teacher, student, dls)` builds; returns the learner."
    torch.manual_seed(seed)
    teacher = get_model('cnn-t', img_size=8).eval()       # untrained is enough: the losses only need to be equal
    student = get_model('cnn-s', img_size=8)
    dls = get_dls('digits', n_train=64, bs=32, with_idx=True, seed=seed, device='cpu')
    learn = Learner(dls, student, loss_func=CrossEntropyLossFlat(), cbs=make_cbs(teacher, student, dls))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return learn

def usage_cbs(method):
    "The callbacks of the method's documented one-liner, evaluated with the method's module in scope."
    def make(teacher, student, dls):
        scope = {**vars(importlib.import_module(method.module)), 'Distill': Distill, 'teacher': teacher,
                 'student': student, 'dls': dls}
        cb = eval(method.usage, scope)
        return [cb]
    return make

@pytest.mark.parametrize('method', METHODS, ids=[m.name for m in METHODS])
def test_usage_and_registry_train_the_same_loss(method):
    assert method.usage.startswith('Distill('), \
        f"{method.name}: `usage` must be the user's one line, got {method.usage!r}"
    a, b = train(method.make), train(usage_cbs(method))
    da, db = a.distill, b.distill
    assert [type(t) for t in da.terms] == [type(t) for t in db.terms]
    assert da.weights == db.weights and da.ce_weight == db.ce_weight
    assert [repr(t) for t in da.terms] == [repr(t) for t in db.terms], "the terms' settings differ"
    assert [type(c) for c in da.companions] == [type(c) for c in db.companions]
    assert a.recorder.losses and [float(v) for v in a.recorder.losses] == [float(v) for v in b.recorder.losses], \
        "the two paths gave different training losses"
    for (k, v), (k2, v2) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), f"{method.name}: weights differ after training ({k})"

def experiment_cells(nb: pathlib.Path) -> str:
    cells = json.loads(nb.read_text())['cells']
    sources = [''.join(c['source']) for c in cells if c['cell_type'] == 'code']
    return '\n'.join(s for s in sources if 'compare(' in s)

@pytest.mark.parametrize('method', METHODS, ids=[m.name for m in METHODS])
def test_found_in_one_hop(method):
    "key -> module -> notebook under nbs/<family>/, whose experiment trains the registered method itself."
    nb = ROOT / method.notebook
    assert method.notebook and nb.exists(), f"{method.name}: no notebook found for module {method.module}"
    module = method.module.rsplit('.', 1)[1]
    assert nb.stem.split('_', 1)[1] == module, f"{nb.name} must be named after its module {method.module}"
    family = nb.parent.name
    assert family in METHOD_FAMILIES, f"{nb} must live in a family folder {sorted(METHOD_FAMILIES)}"
    same_nb = [m for m in METHODS if m.notebook == method.notebook]
    assert any(m.family == family for m in same_nb), f"{nb} is in nbs/{family}/ but registers no {family!r} method"
    exp = experiment_cells(nb)
    assert exp, f"{nb.name} has no experiment (a cell calling `compare(`)"
    key = re.escape(method.name)
    used = re.search(rf"""METHODS\[['"]{key}['"]\]|get_methods\(\[[^\]]*['"]{key}['"]""", exp)
    assert used, (f"{nb.name}'s experiment must train the registered method: METHODS[{method.name!r}] "
                  "(a variant built by hand would train another setting)")


class CountTeacherForwards(Callback):
    "The teacher's forward calls inside training steps (not the probes a term runs when it is built), and the steps."
    order = -100   # before `Distill`, so a step is open when the teacher runs
    def before_fit(self):
        self.calls, self.steps, self.in_step = 0, 0, False
        self.hook = self.learn.distill.teacher.register_forward_hook(self.count)
    def count(self, module, inputs, output): self.calls += self.in_step
    def before_batch(self):
        if self.training: self.in_step, self.steps = True, self.steps + 1
    def after_batch(self): self.in_step = False
    def after_fit(self): self.hook.remove()


FEATURE_METHODS = [m for m in METHODS if m.family == 'features']

@pytest.mark.parametrize('method', FEATURE_METHODS, ids=[m.name for m in FEATURE_METHODS])
def test_one_teacher_forward_per_step(method):
    "A feature method takes the teacher's features from the forward pass that gives its logits: one per training step."
    counter = CountTeacherForwards()
    train(lambda teacher, student, dls: [*method.make(teacher, student, dls), counter])
    assert counter.steps == 2 and counter.calls == counter.steps, (counter.calls, counter.steps)
