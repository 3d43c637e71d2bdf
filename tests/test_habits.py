"""What a fastai user does with a Learner works with `Distill` (issue 13): the README's example distils on the digits,
then every habit of the issue's table runs: lr_find, validate, get_preds, tta, fine_tune, save/load, to_fp16,
show_batch, show_results, ClassificationInterpretation (confusion matrix, top losses), a `Learner` as the teacher,
Checkpoint resume, and export -> load_learner -> predict / get_preds / validate / show_results in a fresh process."""
import json, subprocess, sys, textwrap, warnings
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pytest, torch
from fastai.vision.all import Learner, CrossEntropyLossFlat, accuracy, ClassificationInterpretation, Category
from fastai.callback.core import Callback
from kdnb.core import Distill
from kdnb.checkpoint import Checkpoint
from kdnb.data import get_dls
from kdnb.methods.kd import KD
from kdnb.metrics import Agreement
from kdnb.models import get_model
from kdnb.teachers import get_teacher

@pytest.fixture(scope='module')
def learn(tmp_path_factory):
    "The README's example: KD on the digits, with the teacher-reading metric `Agreement`."
    torch.manual_seed(0)
    dls = get_dls('digits', device='cpu')
    teacher = get_teacher('cnn-t', 'digits', epochs=3, device='cpu')
    learn = Learner(dls, get_model('cnn-s', img_size=8), loss_func=CrossEntropyLossFlat(),
                    metrics=[accuracy, Agreement()],
                    cbs=Distill(teacher, KD()), path=tmp_path_factory.mktemp('habits'))
    with learn.no_bar(): learn.fit_one_cycle(2, 1e-2)
    return learn

def test_training_habits(learn):
    with learn.no_bar():
        learn.lr_find(num_it=10, show_plot=False)
        loss, acc, agree = learn.validate()
        assert acc > 0.5 and 0 <= agree <= 1
        preds, targs = learn.get_preds()
        assert preds.shape == (len(learn.dls.valid_ds), 10)
        tta_preds, _ = learn.tta(n=2)
        assert tta_preds.shape == preds.shape
        learn.save('student')
        learn.load('student')
        learn.fine_tune(1, 1e-3, freeze_epochs=0)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')   # no CUDA here: fastai's MixedPrecision warns that autocast is off
            learn.to_fp16(); learn.fit(1, 1e-3); learn.to_fp32()

def test_show_and_interpret(learn):
    learn.dls.show_batch(max_n=4); plt.close('all')
    learn.show_results(max_n=4); plt.close('all')
    get_dls('digits', with_idx=True, device='cpu').show_batch(max_n=4); plt.close('all')   # batches with indices too
    assert list(learn.dls.vocab) == [str(c) for c in range(10)]
    interp = ClassificationInterpretation.from_learner(learn)
    interp.plot_confusion_matrix(); interp.plot_top_losses(4); plt.close('all')
    assert interp.confusion_matrix().sum() == len(learn.dls.valid_ds)

def test_a_learner_as_teacher():
    torch.manual_seed(0)
    dls = get_dls('digits', device='cpu')
    teacher = Learner(dls, get_model('cnn-t', img_size=8), loss_func=CrossEntropyLossFlat())
    with teacher.no_bar(), teacher.no_logging(): teacher.fit(1, 1e-2)
    d = Distill(teacher, KD())
    assert d.teacher is teacher.model
    before = [p.detach().clone() for p in teacher.model.parameters()]
    student = Learner(dls, get_model('cnn-s', img_size=8), loss_func=CrossEntropyLossFlat(), cbs=d)
    with student.no_bar(), student.no_logging(): student.fit(1, 1e-2)
    assert not teacher.model.training                                              # frozen: eval mode, same weights
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.model.parameters()))

class Crash(Callback):
    def after_batch(self):
        if self.training and self.train_iter == 15: raise RuntimeError('simulated crash')

def test_checkpoint_resume(tmp_path):
    def run(*cbs, seed=0):
        torch.manual_seed(seed)
        learn = Learner(get_dls('digits', device='cpu'), get_model('cnn-s', img_size=8),
                        loss_func=CrossEntropyLossFlat(),
                        cbs=[Distill(get_teacher('cnn-t', 'digits', epochs=3, device='cpu'), KD()), Checkpoint(), *cbs],
                        path=tmp_path)
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 1e-2)
        return learn
    full = run()
    with pytest.raises(RuntimeError, match='simulated crash'): run(Crash())
    resumed = run(seed=1)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()): assert torch.equal(a, b)

PREDICT = textwrap.dedent('''
    import json, sys, warnings
    import torch
    from fastai.learner import load_learner
    from kdnb.data import load_arrays
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        learn = load_learner(sys.argv[1])
        x, y = load_arrays('digits')
        label, idx, probs = learn.predict(x[0])                 # a raw 8x8 image, as a user has it
        dl = learn.dls.test_dl(list(range(40)), with_labels=True)   # items: sample indices of the shipped data
        preds, targs = learn.get_preds(dl=dl)
        loss, acc = learn.validate(dl=dl)
        learn.show_results(dl=dl, max_n=4)
    print(json.dumps(dict(label=str(label), label_type=type(label).__name__, idx=int(idx), p=float(probs.sum()),
                          true=int(y[0]), shape=list(preds.shape), acc=float(acc),
                          teacher=learn.distill.teacher is None, notes=[str(w.message) for w in caught])))
''')

def test_export_predicts_in_a_fresh_process(learn, tmp_path):
    learn.export(tmp_path / 'student.pkl')
    out = subprocess.run([sys.executable, '-c', PREDICT, str(tmp_path / 'student.pkl')], capture_output=True, text=True,
                         env={'MPLBACKEND': 'Agg', **__import__('os').environ})
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r['label_type'] == Category.__name__ and r['label'] == str(r['idx'])   # decoded to the class name
    assert abs(r['p'] - 1) < 1e-5 and r['shape'] == [40, 10] and r['acc'] > 0.5
    assert r['teacher'], "the export holds no teacher"
    assert any("left out the metrics that need one: ['agreement']" in n for n in r['notes']), r['notes']
