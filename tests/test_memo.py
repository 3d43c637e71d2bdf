"""`Distill`'s remembered teacher outputs (issue 16): exact, refused when they would not be, kept on disk safely.

The notebook nbs/foundation/00_core.ipynb shows the memo at work (exact weights, one note per obstacle: random
transforms, no indices, teacher features, MixUp, an EMA teacher, inputs changed by a callback; a file refused for
other data). Here: a conv pair on the digits under one-cycle Adam, outputs that do not fit the memory budget, a
damaged file, and a teacher changed between two fits. Resuming an interrupted run with the memo is in test_resume.py.
"""
import warnings
import torch
from torch import nn
from fastai.callback.schedule import fit_one_cycle  # noqa: F401 (patches Learner)
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
import kdnb.core
from kdnb.core import Distill, CacheNote
from kdnb.data import get_dls
from kdnb.methods.kd import KD
from kdnb.models import get_model


class Counting(nn.Module):
    "A conv teacher for the 8x8 digits that counts its forward calls."
    def __init__(self):
        super().__init__()
        torch.manual_seed(100)
        self.net, self.calls = get_model('cnn-t', img_size=8).eval(), 0
    def forward(self, x): self.calls += 1; return self.net(x)


def distil(teacher, cache='auto', epochs=3, **dls_kwargs):
    "One-cycle KD of a seeded cnn-s from `teacher`; the learner and the notes `Distill` gave."
    dls = get_dls('digits', n_train=600, bs=32, with_idx=True, device='cpu', **dls_kwargs)
    torch.manual_seed(0)
    learn = Learner(dls, get_model('cnn-s', img_size=8), loss_func=CrossEntropyLossFlat(),
                    cbs=Distill(teacher, KD(), cache=cache))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 3e-3)
    return learn, [str(w.message) for w in caught if issubclass(w.category, CacheNote)]


def same_weights(a, b): return all(torch.equal(x, y) for x, y in zip(a.model.parameters(), b.model.parameters()))


def test_exact_and_cheaper():
    live_teacher, memo_teacher = Counting(), Counting()
    live, _ = distil(live_teacher, cache=False)
    kept, notes = distil(memo_teacher)
    assert notes == [] and same_weights(live, kept)
    n = len(live.dls.train)
    assert live_teacher.calls == 3 * n
    assert memo_teacher.calls == n + 1 + 2      # epoch 1, its dropped samples, then a check on 8 samples per epoch
    assert kept.distill.memo.looked_up == 2 * n


def test_over_the_memory_budget(monkeypatch):
    monkeypatch.setattr(kdnb.core, 'CACHE_MAX_BYTES', 1000)     # far less than 720 samples x 10 logits x 4 bytes
    teacher = Counting()
    learn, notes = distil(teacher)
    assert len(notes) == 1 and 'do not fit the memo' in notes[0], notes
    assert learn.distill.memo is None and teacher.calls == 3 * len(learn.dls.train)
    assert same_weights(learn, distil(Counting(), cache=False)[0])


def test_damaged_file_is_rebuilt(tmp_path):
    path = tmp_path / 'outputs.pt'
    first, _ = distil(Counting(), cache=path)
    data = bytearray(path.read_bytes()); data[-100] ^= 0xFF
    path.write_bytes(bytes(data))                               # one flipped byte
    teacher = Counting()
    again, notes = distil(teacher, cache=path)
    assert len(notes) == 1 and ('checksum' in notes[0] or 'unreadable' in notes[0]), notes
    assert teacher.calls == len(again.dls.train) + 1 + 2        # recorded again, as on a first run
    assert same_weights(first, again)


def test_file_of_another_teacher_is_refused(tmp_path):
    path = tmp_path / 'outputs.pt'
    distil(Counting(), cache=path)
    other = Counting()
    with torch.no_grad(): other.net.head.weight.mul_(2)
    learn, notes = distil(other, cache=path)
    assert len(notes) == 1 and 'another teacher' in notes[0], notes
    assert same_weights(learn, distil(other, cache=False)[0])   # trained on the other teacher's own outputs


def test_teacher_changed_between_fits():
    "A second `fit` after the teacher's weights changed uses the new teacher: the first fit's memo is dropped."
    def two_fits(cache):
        teacher = Counting()
        learn, _ = distil(teacher, cache=cache, epochs=2)
        with torch.no_grad(): teacher.net.head.weight.mul_(2)
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
        return learn
    assert same_weights(two_fits('auto'), two_fits(False))
