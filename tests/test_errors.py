"""Clear errors (issue 5): a table of bad inputs for the core and every method family.

The table `BAD` tries 1309 bad inputs. Each row calls kdnb with one bad argument and asserts the exception type and a
piece of the message that names the offending argument (e.g. "`T`"). The row's name starts with its family: a kdnb
module (`core`, `checks`, `checkpoint`, `performance`, `divergences`, `features`, `teachers`, `data`, `bench`) or a
registered method name (`kd`, `dkd`, ...); `test_every_method_has_rows` fails when a registered method has no rows.

Rows where kdnb does not (yet) give the right error keep their correct expectation and are strict xfails restricted
to what happens today (`now`): the exception kdnb raises instead, `UNCLEAR` (right type, message does not name the
argument) or `NO_ERROR`. Fixing the library turns them into XPASS failures: then drop `now` and `why` from the row.

Devices are not checked by kdnb: losses leave mixed devices to torch (a clear RuntimeError, "Tensor on device cpu is
not on the expected device meta!"), and `Distill`/`TeacherCache` move the teacher and its outputs to the data's
device. So the table has no device rows (and this CPU-only suite could not build a CUDA tensor anyway).

Everything is tiny (4 x 5 logits, an 8-feature synthetic dataset, nn.Linear teachers); nothing trains.
"""
from __future__ import annotations
import contextlib, gzip, io, re, tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
import pytest
import torch
from torch import nn
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat

from kdnb import bench
from kdnb.bench import BenchConfig, get_methods, load_methods, run_grid, compare
load_methods()   # every kdnb.methods.* module registers its method
from kdnb.core import METHODS, Distill, DistillTerm, CachedTeacher, KDBatch, register_method
from kdnb.data import synth_dls
from kdnb.performance import tune_malloc
from kdnb.divergences import DIVERGENCES, get_divergence
from kdnb.features import (as_names, get_layers, Taps, feature_shapes, ConvConnector, LinearConnector, make_connector,
                           connectors_for, match_spatial, feature_mse_loss, FeatureMSE, layer_outputs, embedding_layer,
                           propose_pairs, probe_features)
from kdnb.teachers import TeacherCache, get_teacher, train_learner, atomic_save, state_checksum
from kdnb.data import get_dls, load_arrays, split_idx, noisy_labels, read_fashion, read_idx, FASHION_FILES
from kdnb.methods.kd import kd_loss, KD
from kdnb.methods.rkd import distance_potential, angle_potential, rkd_parts, rkd_loss, RKD
from kdnb.methods.fitnets import (fitnets_loss, HintRegressor, FitNets, FitNetsKD, HintStage,
                                  guided_parameters, fitnets_two_stage)
from kdnb.methods.pkt import cosine_kernel, pkt_probs, pkt_loss, PKT
from kdnb.methods.sp import sp_similarity, sp_loss, SP
from kdnb.data import arrays_dls
from kdnb.methods.at import at_map, at_loss, AT
from kdnb.methods.logit_mse import logit_mse_loss, LogitMSE
from kdnb.methods.dkd import dkd_loss, dkd_parts, DKD
from kdnb.methods.logit_std import zscore, lskd_loss, LSKD, Standardize
from kdnb.methods.nkd import nkd_loss, nkd_parts, NKD, uskd_loss, uskd_parts, uskd_rank_score, USKD
from kdnb.methods.ttm import ttm_loss, wttm_loss, TTM, WTTM
from kdnb.methods.dts import dts_gap, dts_scale, dts_target, DTSKD, DynamicTemperature
from kdnb.methods.pld import pld_loss, PLD
from kdnb.methods.sinkd import sinkhorn_plan, sinkhorn_loss, SinKD
from kdnb.methods.dual_head import (binary_kl_loss, binary_kl_norm_loss, DualHeadStudent, DualHead, DualHeadKD,
                                    align_gradients, GradAlign, find_dual_head)
from fastai.callback.training import GradientAccumulation
from kdnb.methods.ofa import ofa_weights, ofa_loss, OFA
from kdnb.methods.logitclip import clip_logits, logitclip_ce, LogitClipLoss, LogitClip, LogitClipCE
from kdnb.methods.ls_compat import (ls_loss, PureKD, template_projection, diffusion_index, class_triplet,
                                    penultimate_features)
from kdnb.methods.crd import nce_z, nce_loss, crd_loss, contrast_rows, momentum_update, training_samples, CRD
from kdnb.methods.reviewkd import hcl_loss, hcl_weights, abf_fuse, ABF, ReviewPath, ReviewKD
from kdnb.methods.nd import class_centers, nd_loss, plain_train_dl, teacher_class_centers, EmbTrans, ND, WarmupKD
from kdnb.methods.ofa_branches import (ofa_branches_loss, SepConv, make_branch, branch_points, OFABranches, cka,
                                       centered_gram, cka_matrix)
from kdnb.methods.layer_selection import (layer_map, block_outputs, layer_match_loss, LayerMatch, PredictionKL,
                                          strategy_method, pull_directions, pull_angles)

MODULE_FAMILIES = ('core', 'checks', 'checkpoint', 'performance', 'divergences', 'features', 'teachers', 'data',
                   'bench')
NO_ERROR = pytest.fail.Exception   # what `pytest.raises` raises when the call raises nothing
UNCLEAR = AssertionError           # the right exception type, but the message does not name the argument

@dataclass
class Bad:
    "One bad input: `call()` must raise `exc` whose message contains `says`."
    name: str                 # '<family>: <function> <what is wrong>' (also the pytest id)
    call: Callable            # no arguments; builds everything it needs
    exc: type                 # the exception type kdnb should raise
    says: str                 # a substring of the message, naming the offending argument
    now: type | None = None   # set for known defects: what fails today (an exception type, UNCLEAR or NO_ERROR)
    why: str = ''             # the defect, for the xfail reason

    @property
    def family(self) -> str: return self.name.split(':')[0]

# ---------------------------------------------------------------------------------------------------------------
# Tiny inputs. S, T: student and teacher logits (4 samples, 5 classes); Y: good labels. The others are each wrong
# in one way.
g = torch.Generator().manual_seed(0)
S, T = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
Y = torch.tensor([0, 1, 2, 4])
T_WIDE = torch.randn(4, 6, generator=g)          # teacher with 6 classes
T_TALL = torch.randn(5, 5, generator=g)          # teacher with 5 samples
S_INT = torch.randint(-3, 3, (4, 5), generator=g)  # integer "logits"
Y_HIGH, Y_NEG = torch.tensor([0, 1, 2, 5]), torch.tensor([0, -1, 2, 3])
Y_FLOAT, Y_SHORT = Y.float(), Y[:3]
NAN, INF = float('nan'), float('inf')

def tiny_net(width: int = 16, n_out: int = 4) -> nn.Sequential:
    "An MLP on the 8 synthetic features with named layers `hidden`, `act`, `head`."
    return nn.Sequential(OrderedDict(hidden=nn.Linear(8, width), act=nn.ReLU(), head=nn.Linear(width, n_out)))

def fit_tiny(*cbs, student=None, dls=None):
    "One epoch of a tiny Learner (8 features, 4 classes) with callbacks `cbs`: a bad input stops it at once."
    learn = Learner(dls or synth_dls(n=64, bs=16), student or nn.Linear(8, 4), loss_func=CrossEntropyLossFlat(),
                    cbs=list(cbs))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)

def distill_fit(teacher, *terms, student=None, dls=None, **kwargs):
    "`fit_tiny` with `Distill(teacher, *terms, **kwargs)`."
    fit_tiny(Distill(teacher, *terms, **kwargs), student=student, dls=dls)

def with_bias(value: float) -> nn.Linear:
    "A teacher whose outputs are all `value` (NaN, inf)."
    m = nn.Linear(8, 4)
    with torch.no_grad(): m.bias.fill_(value)
    return m

class TupleTeacher(nn.Module):
    "A teacher returning a tuple (as many library models do) instead of a logits tensor."
    def __init__(self): super().__init__(); self.lin = nn.Linear(8, 4)
    def forward(self, x): return (self.lin(x),)

class ToLong(nn.Module):
    "Round a teacher's outputs to integers (a teacher that returns class scores as int64)."
    def forward(self, x): return x.round().long()

class ZeroCache(CachedTeacher):
    "A `CachedTeacher` that returns zeros and checks nothing about the data."
    def lookup(self, idx, device=None): return torch.zeros(len(idx), 4, device=device)

def synth_cache(n: int | None = None, logits=None) -> TeacherCache:
    "A dense cache of a linear teacher over `synth_dls(n=64, with_idx=True)`; only its first `n` samples if given."
    c = TeacherCache.build(nn.Linear(8, 4), synth_dls(n=64, bs=16, with_idx=True))
    if logits is not None: c = TeacherCache(c.index, 4, logits=logits)
    return c if n is None else TeacherCache(c.index[:n], 4, logits=c.logits[:n])

def digits_model() -> nn.Module: return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

def cache_for_other_data():
    "Distill with a cache built on a 300-sample digits subset, on the full digits data (another fingerprint)."
    cache = TeacherCache.build(digits_model(), get_dls('digits', n_train=300, with_idx=True, device='cpu'))
    distill_fit(cache, KD(), student=digits_model(), dls=get_dls('digits', with_idx=True, device='cpu'))

def load_file(write, **kwargs):
    "`TeacherCache.load(path, **kwargs)` of a file that `write(path)` wrote."
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / 'cache.pt'
        write(path)
        TeacherCache.load(path, **kwargs)

def tampered(path):
    "A saved cache with one value changed after its checksum was taken."
    synth_cache().save(path)
    obj = torch.load(path, weights_only=True); obj['state']['logits'][0, 0] += 1; torch.save(obj, path)

def teacher_checkpoint(path):
    "A file laid out like `get_teacher`'s cached teachers (recipe, state, checksum), not like a TeacherCache."
    state = nn.Linear(8, 4).state_dict()
    atomic_save(dict(recipe={}, state=state, checksum=state_checksum(state), valid_acc=1.), path)

def register_tmp(name, terms=lambda teacher, student, dls: [], family='logit'):
    "`register_method`, leaving the registry as it was (a bad name that is accepted must not leak into other tests)."
    before = dict(METHODS)
    try: register_method(name, terms, family=family)
    finally: METHODS.clear(); METHODS.update(before)

class TermA(DistillTerm): name, ce_weight = 'a', 0.1
class TermB(DistillTerm): name, ce_weight = 'b', 1.0
class BadCallbacks(DistillTerm):
    "A term whose `callbacks()` returns something that is not a fastai Callback."
    name = 'bad_cbs'
    def callbacks(self): return ['schedule']

class CLIError(Exception): "What `kdnb bench` printed on stderr before exiting."

def cli(*argv):
    "`kdnb bench` argument parsing; argparse's exit becomes a `CLIError` carrying the printed message."
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err): bench.parse_args(list(argv))
    except SystemExit as e: raise CLIError(err.getvalue()) from e

# ---------------------------------------------------------------------------------------------------------------
# Row makers for what many functions share. `f(s, t, y, **kw)` is the function under test with the usual argument
# order (wrapped when its own order differs).

def logit_rows(family: str, fname: str, f: Callable, t_name: str = 't') -> list[Bad]:
    "Student/teacher logits of different class counts or shapes, integer logits, a 1-D student."
    return [
        Bad(f'{family}: {fname} class count s vs {t_name}', lambda: f(S, T_WIDE, Y), ValueError, 'class count differs'),
        Bad(f'{family}: {fname} shape s vs {t_name}', lambda: f(S, T_TALL, Y), ValueError, 'shapes differ'),
        Bad(f'{family}: {fname} integer s', lambda: f(S_INT, T, Y), TypeError, '`s` must be floating point'),
        Bad(f'{family}: {fname} integer {t_name}', lambda: f(S, S_INT, Y), TypeError,
            f'`{t_name}` must be floating point'),
        Bad(f'{family}: {fname} 1-D s', lambda: f(S[0], T[0], Y[0]), ValueError, '`s` must have shape'),
    ]

def label_rows(family: str, fname: str, f: Callable, y_name: str = 'y', now: dict | None = None) -> list[Bad]:
    "Labels out of range (high, negative), float labels, labels of the wrong shape, and missing labels."
    now = now or {}
    cases = [('labels >= C', Y_HIGH, ValueError, f'`{y_name}` must hold class indices in [0, 5)'),
             ('negative labels', Y_NEG, ValueError, f'`{y_name}` must hold class indices in [0, 5)'),
             ('float labels', Y_FLOAT, TypeError, 'integer class indices'),
             ('labels of wrong shape', Y_SHORT, ValueError, f'`{y_name}` must have shape'),
             ('labels missing', None, ValueError, f'`{y_name}` (the labels) is required')]
    return [Bad(f'{family}: {fname} {what}', lambda y=y: f(S, T, y), exc, says, *now.get(what, (None, '')))
            for what, y, exc, says in cases]

def number_rows(family: str, fname: str, f: Callable, bad: dict) -> list[Bad]:
    "For each argument of `bad`, each bad value: `f(**{arg: value})` raises, naming the argument."
    rows = []
    for arg, values in bad.items():
        for v in values:
            exc = TypeError if isinstance(v, str) else ValueError
            rows.append(Bad(f'{family}: {fname} {arg}={v!r}', lambda arg=arg, v=v: f(**{arg: v}), exc, f'`{arg}`'))
    return rows

def variant_row(family: str, fname: str, f: Callable) -> Bad:
    return Bad(f'{family}: {fname} bad variant', lambda: f(variant='mdistiller'), ValueError,
               "`variant` must be one of ('paper', 'code')")

POSITIVE = [0, -1., NAN, INF, '4']   # bad values of a temperature or any argument that must be a finite number > 0
WEIGHT = [-0.5, NAN, '1']            # bad values of a weight (a finite number >= 0)

# ---------------------------------------------------------------------------------------------------------------
# core: Distill's constructor, Distill inside a Learner, cached teachers, the method registry
CORE = [
    Bad('core: Distill without terms', lambda: Distill(nn.Linear(8, 4)), ValueError, 'at least one DistillTerm'),
    Bad('core: Distill term not a DistillTerm', lambda: Distill(nn.Linear(8, 4), 'kd'), TypeError,
        'term 0 must be a DistillTerm'),
    Bad('core: Distill duplicate term names', lambda: Distill(nn.Linear(8, 4), KD(), KD()), ValueError,
        'term names must be unique'),
    Bad('core: Distill unknown weight keyword', lambda: Distill(nn.Linear(8, 4), KD(), dkd_weight=1.), TypeError,
        "unknown keyword(s) ['dkd_weight']"),
    Bad('core: Distill negative term weight', lambda: Distill(nn.Linear(8, 4), KD(), kd_weight=-1.), ValueError,
        '`kd_weight`'),
    Bad('core: Distill string term weight', lambda: Distill(nn.Linear(8, 4), KD(), kd_weight='0.9'), TypeError,
        '`kd_weight` must be a number'),
    Bad('core: Distill NaN ce_weight', lambda: Distill(nn.Linear(8, 4), KD(), ce_weight=NAN), ValueError,
        '`ce_weight`'),
    Bad('core: Distill negative ce_weight', lambda: Distill(nn.Linear(8, 4), KD(), ce_weight=-0.1), ValueError,
        '`ce_weight`'),
    Bad('core: Distill teacher is a path', lambda: Distill('teacher.pt', KD()), TypeError,
        'teacher must be an nn.Module'),
    Bad('core: Distill no teacher for a teacher term', lambda: Distill(None, KD()), ValueError,
        "term(s) ['kd'] need a teacher"),
    Bad('core: Distill empty teacher ensemble', lambda: Distill([], KD()), ValueError, 'teacher'),
    Bad('core: Distill cache option misspelt', lambda: Distill(nn.Linear(8, 4), KD(), cache='atuo'), ValueError,
        "`cache` must be 'auto', True, False or the path of a '.pt' file, got 'atuo'"),
    Bad('core: Distill channels_last not a bool', lambda: Distill(nn.Linear(8, 4), KD(), channels_last='yes'),
        TypeError, "`channels_last` must be True, False or None (automatic), got 'yes'"),
    Bad('core: Distill cache option a number', lambda: Distill(nn.Linear(8, 4), KD(), cache=1), ValueError,
        "`cache` must be 'auto', True, False or the path of a '.pt' file, got 1"),
    Bad('core: Distill cache file without .pt', lambda: Distill(nn.Linear(8, 4), KD(), cache=Path('outputs.bin')),
        ValueError, "the path of a '.pt' file, got Path('outputs.bin')"),
    Bad('core: Distill terms stating different CE weights', lambda: Distill(nn.Linear(8, 4), TermA(), TermB()),
        ValueError,
        "the terms state different CE weights {'a': 0.1, 'b': 1.0}"),
    Bad('core: Distill term callbacks not Callbacks', lambda: Distill(nn.Linear(8, 4), BadCallbacks()), TypeError,
        "a term's callbacks() must return fastai Callbacks, got str"),
    Bad('core: Distill ensemble with a non-module', lambda: Distill([nn.Linear(8, 4), 'teacher.pt'], KD()), TypeError,
        'teacher'),
    # inside a Learner: the errors appear at the first batch (or in before_fit)
    Bad('core: fit teacher class count != student', lambda: distill_fit(nn.Linear(8, 5), KD()), ValueError,
        'class count differs: the student outputs 4 classes, the teacher 5'),
    Bad('core: fit teacher shape != student',
        lambda: distill_fit(nn.Sequential(nn.Linear(8, 4), nn.Unflatten(1, (1, 4))), KD()),
        ValueError, 'teacher output shape (16, 1, 4) differs from student output shape (16, 4)'),
    Bad('core: fit NaN teacher outputs', lambda: distill_fit(with_bias(NAN), KD()), ValueError, 'NaN or inf'),
    Bad('core: fit inf teacher outputs', lambda: distill_fit(with_bias(INF), KD()), ValueError, 'NaN or inf'),
    Bad('core: fit integer teacher outputs', lambda: distill_fit(nn.Sequential(nn.Linear(8, 4), ToLong()), KD()),
        TypeError, '`t` must be floating point'),
    Bad('core: fit teacher returns a tuple', lambda: distill_fit(TupleTeacher(), KD()), TypeError, 'teacher'),
    Bad('core: fit ensemble teachers of different class counts',
        lambda: distill_fit([nn.Linear(8, 4), nn.Linear(8, 5)], KD()),
        ValueError, 'class count differs'),
    Bad('core: fit TeacherCache, data without sample indices', lambda: distill_fit(synth_cache(), KD()), ValueError,
        'needs sample indices'),
    Bad('core: fit CachedTeacher, data without sample indices', lambda: distill_fit(ZeroCache(), KD()), ValueError,
        'a CachedTeacher needs sample indices'),
    Bad('core: fit TeacherCache not covering the data',
        lambda: distill_fit(synth_cache(n=10), KD(), dls=synth_dls(n=64, bs=16, with_idx=True)),
        ValueError, 'does not cover the dataset'),
    Bad('core: fit TeacherCache built for other data', cache_for_other_data, ValueError, 'built for other data'),
    Bad('performance: tune_malloc mmap_threshold above glibc maximum', lambda: tune_malloc(64 * 2**20), ValueError,
        '`mmap_threshold`'),
    Bad('performance: tune_malloc float mmap_threshold', lambda: tune_malloc(1.5), TypeError, '`mmap_threshold`'),
    Bad('performance: tune_malloc negative trim_threshold', lambda: tune_malloc(trim_threshold=-1), ValueError,
        '`trim_threshold`'),
    Bad('performance: tune_malloc trim_threshold above a C int', lambda: tune_malloc(trim_threshold=2**31), ValueError,
        '`trim_threshold`'),
    Bad('core: fit TeacherCache with NaN outputs',
        lambda: distill_fit(synth_cache(logits=torch.full((64, 4), NAN)), KD(),
                            dls=synth_dls(n=64, bs=16, with_idx=True)),
        ValueError, 'NaN or inf'),
    Bad('core: fit TeacherCache on augmented data',
        lambda: distill_fit(TeacherCache.build(digits_model(), get_dls('digits', with_idx=True, device='cpu')),
                            KD(), student=digits_model(),
                            dls=get_dls('digits', with_idx=True, augment=True, device='cpu')),
        ValueError, 'randomly augmented'),
    # the registry
    Bad('core: register_method name with a space', lambda: register_tmp('my method'), ValueError, 'method name'),
    Bad('core: register_method empty name', lambda: register_tmp(''), ValueError, 'method name'),
    Bad('core: register_method name not a string', lambda: register_tmp(42), ValueError, 'method name'),
    Bad('core: register_method terms not callable', lambda: register_tmp('x', 'kd'), TypeError,
        '`terms` must be a DistillTerm class or a callable'),
    Bad('core: register_method unknown family', lambda: register_tmp('x', family='logits'), ValueError,
        '`family` must be one of'),
    Bad("core: register_method reserved name 'all'", lambda: register_tmp('all'), ValueError, 'all'),
]

# ---------------------------------------------------------------------------------------------------------------
# divergences: every divergence gets the same rows, then the skew / beta / variant parameters
def divergence_rows(name: str, fn: Callable) -> list[Bad]:
    f = lambda s, t, y=None, **kw: fn(s, t, **kw)
    rows = logit_rows('divergences', name, f)
    rows += number_rows('divergences', name, lambda **kw: fn(S, T, **kw), {'T': [0, -1., NAN, INF, '1']})
    rows += [Bad(f'divergences: {name} float mask', lambda: fn(S, T, mask=torch.ones(4)), TypeError,
                 '`mask` must be a bool tensor'),
             Bad(f'divergences: {name} mask of wrong shape', lambda: fn(S, T, mask=torch.ones(4, 5, dtype=torch.bool)),
                 ValueError,
                 '`mask` must have shape (4,)'),
             Bad(f'divergences: {name} mask not a tensor', lambda: fn(S, T, mask=[True] * 4), TypeError,
                 '`mask` must be a bool tensor'),
             Bad(f'divergences: {name} bad reduction', lambda: fn(S, T, reduction='mean'), ValueError,
                 "`reduction` must be one of ('batchmean', 'sum', 'none')")]
    return rows

DIV = [r for name, fn in DIVERGENCES.items() for r in divergence_rows(name, fn)]
for name in ('skew_kl', 'skew_rkl'):
    fn = DIVERGENCES[name]
    DIV += [Bad(f'divergences: {name} alpha=1', lambda fn=fn: fn(S, T, alpha=1.), ValueError,
                '`alpha` must be a number in [0, 1)'),
            Bad(f'divergences: {name} alpha<0', lambda fn=fn: fn(S, T, alpha=-0.1), ValueError,
                '`alpha` must be a number in [0, 1)'),
            Bad(f'divergences: {name} alpha string', lambda fn=fn: fn(S, T, alpha='0.1'), TypeError,
                '`alpha` must be a number')]
for name in ('forward_kl', 'skew_kl', 'skew_rkl'):
    DIV.append(variant_row('divergences', name, lambda fn=DIVERGENCES[name], **kw: fn(S, T, **kw)))
DIV += [Bad('divergences: generalized_jsd beta>1', lambda: DIVERGENCES['generalized_jsd'](S, T, beta=1.5), ValueError,
            '`beta` must be a number in [0, 1]'),
        Bad('divergences: generalized_jsd beta NaN', lambda: DIVERGENCES['generalized_jsd'](S, T, beta=NAN),
            ValueError, '`beta`'),
        Bad('divergences: get_divergence unknown name', lambda: get_divergence('kl'), ValueError,
            "unknown divergence 'kl'")]

# ---------------------------------------------------------------------------------------------------------------
# features: layer names, connectors, feature shapes (pure functions, then inside a Learner)
NET = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 4, 3), act=nn.ReLU(),
                                head=nn.Sequential(nn.Flatten(), nn.Linear(4, 2))))

FEAT = [
    Bad('features: get_layers unknown name', lambda: get_layers(NET, 'cnov'), ValueError,
        "no layer 'cnov' in the model"),
    Bad('features: get_layers unknown name suggests', lambda: get_layers(NET, 'cnov'), ValueError,
        "closest names: ['conv']"),
    Bad('features: get_layers model not a module', lambda: get_layers('net', 'conv', 'student'), TypeError,
        'the student must be an nn.Module'),
    Bad('features: as_names empty list', lambda: as_names([]), ValueError, 'at least one layer name'),
    Bad('features: as_names non-string name', lambda: as_names(['conv', 0]), TypeError, 'layer names must be strings'),
    Bad('features: as_names a number', lambda: as_names(3), TypeError, 'layer names must be a string or a list'),
    Bad('features: Taps unknown name', lambda: Taps(NET, 'nope', what='teacher'), ValueError,
        "no layer 'nope' in the teacher"),
    Bad('features: feature_shapes unknown name', lambda: feature_shapes(NET, 'akt', torch.randn(1, 1, 3, 3)),
        ValueError, "no layer 'akt'"),
    Bad('features: ConvConnector c_in=0', lambda: ConvConnector(0, 16), ValueError, '`c_in` must be an int >= 1'),
    Bad('features: ConvConnector c_out float', lambda: ConvConnector(4, 2.5), TypeError, '`c_out` must be an int'),
    Bad('features: LinearConnector d_out float', lambda: LinearConnector(16, 6.5), TypeError, '`d_out` must be an int'),
    Bad('features: LinearConnector d_in negative', lambda: LinearConnector(-1, 4), ValueError,
        '`d_in` must be an int >= 1'),
    Bad('features: make_connector ranks differ', lambda: make_connector((2, 4, 8, 8), (2, 16)), ValueError,
        'differ in rank'),
    Bad('features: make_connector sequence lengths differ', lambda: make_connector((2, 5, 16), (2, 7, 64)), ValueError,
        'differ outside the last dimension'),
    Bad('features: make_connector rank 1', lambda: make_connector((2,), (2,)), ValueError,
        'no connector for features of rank 1'),
    Bad('features: connectors_for unpaired layers',
        lambda: connectors_for(tiny_net(), tiny_net(), ['hidden', 'act'], ['hidden'], torch.randn(2, 8)),
        ValueError, '2 student layers but 1 teacher layers'),
    Bad('features: match_spatial not 4-D', lambda: match_spatial(torch.randn(2, 3), torch.randn(2, 3, 4, 4)),
        ValueError,
        'needs (N, C, H, W) maps'),
    Bad('features: feature_mse_loss shapes differ', lambda: feature_mse_loss(torch.randn(2, 3), torch.randn(2, 4)),
        ValueError,
        'feature pair 0: shapes differ'),
    Bad('features: feature_mse_loss unpaired', lambda: feature_mse_loss([torch.randn(2, 3)], []), ValueError,
        'need as many student as teacher features'),
    Bad('features: FeatureMSE negative weight', lambda: FeatureMSE('act', 'act', weight=-1.), ValueError,
        '`weight` must be a finite number >= 0'),
    Bad('features: FeatureMSE unpaired layers', lambda: FeatureMSE(['hidden', 'act'], 'act'), ValueError,
        '2 student layers'),
    Bad('features: FeatureMSE one connector for two pairs',
        lambda: FeatureMSE(['hidden', 'act'], ['hidden', 'act'], nn.Linear(16, 32)),
        ValueError, 'one connector given for 2 layer pairs'),
    Bad('features: FeatureMSE connector count', lambda: FeatureMSE('act', 'act', [None, None]), ValueError,
        '2 connectors for 1 layer pairs'),
    Bad('features: FeatureMSE connector not a module', lambda: FeatureMSE('act', 'act', [torch.relu]), TypeError,
        'connector 0 must be an nn.Module or None'),
    Bad('features: FeatureMSE called outside Distill', lambda: FeatureMSE('act', 'act')(None), RuntimeError,
        'no hooks installed'),
    Bad('features: fit unknown student layer',
        lambda: distill_fit(tiny_net(32), FeatureMSE('akt', 'act'), student=tiny_net()), ValueError,
        "no layer 'akt' in the student"),
    Bad('features: fit unknown teacher layer',
        lambda: distill_fit(tiny_net(32), FeatureMSE('act', 'layer2.conv'), student=tiny_net()),
        ValueError, "no layer 'layer2.conv' in the teacher"),
    Bad('features: fit feature shapes differ, no connector',
        lambda: distill_fit(tiny_net(32), FeatureMSE('act', 'act'), student=tiny_net()),
        ValueError, "student layer 'act' gives (16, 16), teacher layer 'act' gives (16, 32); "
                    "pass a connector for this pair"),
    Bad('features: fit connector of the wrong size',
        lambda: distill_fit(tiny_net(32), FeatureMSE('act', 'act', nn.Linear(16, 24)), student=tiny_net()),
        ValueError, 'the connector must output the teacher feature\'s shape'),
    Bad('features: fit feature term with a cached teacher',
        lambda: distill_fit(ZeroCache(), FeatureMSE('act', 'act'), student=tiny_net(),
                            dls=synth_dls(n=64, bs=16, with_idx=True)),
        TypeError, "term 'feat_mse' reads teacher features, so the teacher must be an nn.Module"),
    Bad('features: layer_outputs depth 0', lambda: layer_outputs(NET, torch.randn(1, 1, 3, 3), depth=0), ValueError,
        '`depth` must be an int >= 1'),
    Bad('features: embedding_layer none before the output', lambda: embedding_layer({'conv': (2, 4, 3, 3),
                                                                                    'head': (2, 2)}),
        ValueError, 'no embedding layer'),
    Bad('features: propose_pairs unknown which', lambda: propose_pairs(NET, NET, torch.randn(1, 1, 3, 3), 'middle'),
        ValueError, '`which` must be one of'),
    Bad('features: propose_pairs no shared resolution',
        lambda: propose_pairs(tiny_net(), tiny_net(), torch.randn(2, 8)), ValueError,
        'no student and teacher stages share a spatial resolution (student: no maps'),
    Bad('features: FeatureMSE student layers only', lambda: FeatureMSE('act'), ValueError,
        'name both the student and the teacher layers, or neither'),
    Bad('features: FeatureMSE unknown connector rule', lambda: FeatureMSE(connectors='every'), ValueError,
        "`connectors` must be None, 'auto', 'all'"),
    Bad('features: FeatureMSE connector module without layer names', lambda: FeatureMSE(connectors=nn.Linear(2, 4)),
        ValueError, 'connector modules need named layers'),
    Bad('features: FeatureMSE connector option without a rule', lambda: FeatureMSE('act', 'act', bn=False), TypeError,
        "unknown keyword(s) ['bn']"),
    Bad('features: FeatureMSE unknown which', lambda: FeatureMSE(which='first'), ValueError, '`which` must be one of'),
    Bad('features: learner with layers by shape and a cached teacher',
        lambda: distill_fit(ZeroCache(), FeatureMSE(), student=tiny_net(), dls=synth_dls(n=64, bs=16, with_idx=True)),
        TypeError, "term 'feat_mse' reads teacher features, so the teacher must be an nn.Module"),
    Bad('features: learner with layers by shape, no maps',
        lambda: distill_fit(tiny_net(32), FeatureMSE(), student=tiny_net()), ValueError,
        'no student and teacher stages share a spatial resolution'),
    Bad('features: Distill negative feature weight',
        lambda: Distill(tiny_net(), FeatureMSE('act', 'act'), feat_mse_weight=-1.), ValueError,
        '`feat_mse_weight`'),
]

# ---------------------------------------------------------------------------------------------------------------
# teachers: get_teacher, train_learner, TeacherCache (build, lookup, load, constructor). cache=False: nothing is
# written.
TEACH = [
    Bad('teachers: get_teacher unknown arch', lambda: get_teacher('vit-t', 'digits', cache=False, device='cpu'),
        ValueError, "unknown arch 'vit-t'"),
    Bad('teachers: get_teacher unknown dataset', lambda: get_teacher('mlp-s', 'cifar10', cache=False, device='cpu'),
        ValueError,
        "unknown dataset 'cifar10'"),
    Bad('teachers: get_teacher label_smoothing=1',
        lambda: get_teacher('mlp-s', 'digits', label_smoothing=1., cache=False, device='cpu'),
        ValueError, '`label_smoothing`'),
    Bad('teachers: get_teacher noise=1.5',
        lambda: get_teacher('mlp-s', 'digits', noise=1.5, cache=False, device='cpu'), ValueError, '`noise`'),
    Bad('teachers: get_teacher epochs=0', lambda: get_teacher('mlp-s', 'digits', epochs=0, cache=False, device='cpu'),
        ValueError, '`epochs`'),
    Bad('teachers: train_learner label_smoothing=1',
        lambda: train_learner(nn.Linear(8, 4), synth_dls(n=64), label_smoothing=1.), ValueError,
        '`label_smoothing`'),
    Bad('teachers: train_learner label_smoothing<0',
        lambda: train_learner(nn.Linear(8, 4), synth_dls(n=64), label_smoothing=-0.1), ValueError,
        '`label_smoothing`'),
    Bad('teachers: TeacherCache.build k=0',
        lambda: TeacherCache.build(nn.Linear(8, 4), synth_dls(n=64, with_idx=True), k=0), ValueError,
        '`k` must be an int in [1, 4]'),
    Bad('teachers: TeacherCache.build k > classes',
        lambda: TeacherCache.build(nn.Linear(8, 4), synth_dls(n=64, with_idx=True), k=5), ValueError,
        '`k` must be an int in [1, 4]'),
    Bad('teachers: TeacherCache.build k float',
        lambda: TeacherCache.build(nn.Linear(8, 4), synth_dls(n=64, with_idx=True), k=2.5), TypeError,
        '`k` must be an int'),
    Bad('teachers: TeacherCache.build on augmented data',
        lambda: TeacherCache.build(digits_model(), get_dls('digits', augment=True, device='cpu')),
        ValueError, 'without random augmentation'),
    Bad('teachers: TeacherCache.lookup unknown index', lambda: synth_cache().lookup(torch.tensor([5000])), ValueError,
        'not in this TeacherCache'),
    Bad('teachers: TeacherCache.lookup index in a gap',
        lambda: TeacherCache(torch.tensor([0, 2, 4]), 4, logits=torch.randn(3, 4)).lookup(torch.tensor([1])),
        ValueError, 'sample indices [1] are not in this TeacherCache'),
    Bad('teachers: TeacherCache.load not a torch file', lambda: load_file(lambda p: p.write_bytes(b'not a cache')),
        ValueError, 'unreadable'),
    Bad('teachers: TeacherCache.load tampered file', lambda: load_file(tampered), ValueError, 'fails its checksum'),
    Bad('teachers: TeacherCache.load missing file', lambda: load_file(lambda p: None), ValueError,
        'unreadable (FileNotFoundError)'),
    Bad('teachers: TeacherCache.load a dict that is not a cache', lambda: load_file(lambda p: torch.save({'a': 1}, p)),
        ValueError,
        'TeacherCache file'),
    Bad('teachers: TeacherCache.load a cached teacher', lambda: load_file(teacher_checkpoint), ValueError,
        'TeacherCache file'),
    Bad('teachers: TeacherCache.load for another teacher',
        lambda: load_file(lambda p: synth_cache().save(p), teacher=nn.Linear(8, 4)),
        ValueError, 'was built from another teacher'),
    Bad('teachers: TeacherCache logits rows != index',
        lambda: TeacherCache(torch.arange(5), 4, logits=torch.randn(4, 4)), ValueError,
        '`logits`'),
    Bad('teachers: TeacherCache logits classes != n_classes',
        lambda: TeacherCache(torch.arange(5), 4, logits=torch.randn(5, 3)), ValueError,
        '`n_classes`'),
    Bad('teachers: TeacherCache without outputs', lambda: TeacherCache(torch.arange(5), 4), ValueError, '`logits`'),
]

# ---------------------------------------------------------------------------------------------------------------
# data
def idx_file(content: bytes, suffix: str = '') -> Path:
    "A file holding `content` (an IDX file, or not)."
    p = Path(tempfile.mkdtemp()) / f'x-idx1-ubyte{suffix}'
    p.write_bytes(content)
    return p

def fake_fashion() -> Path:
    "A folder with Fashion-MNIST's four file names holding small valid IDX files of other content."
    d = Path(tempfile.mkdtemp())
    for name in FASHION_FILES: (d / f'{name}.gz').write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 2, 3, 4])))
    return d

DATA = [
    Bad('data: get_dls unknown dataset', lambda: get_dls('cifar10', device='cpu'), ValueError,
        "unknown dataset 'cifar10'"),
    Bad('data: load_arrays unknown dataset', lambda: load_arrays('cifar10'), ValueError, "unknown dataset 'cifar10'"),
    Bad('data: Fashion-MNIST missing', lambda: read_fashion(tempfile.mkdtemp()), FileNotFoundError,
        'train-images-idx3-ubyte.gz is missing; install Debian'),
    Bad('data: Fashion-MNIST file of other content', lambda: read_fashion(fake_fashion()), ValueError,
        'fails its checksum'),
    Bad('data: IDX truncated', lambda: read_idx(idx_file(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))), ValueError,
        'truncated or padded: its header says shape (9,)'),
    Bad('data: IDX header truncated', lambda: read_idx(idx_file(bytes([0, 0, 8, 3, 0, 0]))), ValueError,
        'shorter than its header'),
    Bad('data: IDX wrong magic number', lambda: read_idx(idx_file(bytes([8, 3, 0, 0, 0, 0, 0, 1, 5]))), ValueError,
        'magic number 08030000'),
    Bad('data: IDX of floats', lambda: read_idx(idx_file(bytes([0, 0, 0x0D, 1, 0, 0, 0, 0]))), ValueError,
        'not an IDX file of unsigned bytes'),
    Bad('data: IDX empty', lambda: read_idx(idx_file(b'')), ValueError, 'magic number (empty)'),
    Bad('data: IDX gzip stream cut', lambda: read_idx(idx_file(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 1, 7]))[:-5],
                                                               '.gz')), ValueError, 'not a complete gzip file'),
    Bad('data: get_dls n_train=0', lambda: get_dls('digits', n_train=0, device='cpu'), ValueError,
        '`n_train` must be an int in [1, 1438]'),
    Bad('data: get_dls n_train too large', lambda: get_dls('digits', n_train=5000, device='cpu'), ValueError,
        '`n_train` must be an int in [1, 1438]'),
    Bad('data: get_dls n_train float', lambda: get_dls('digits', n_train=100.5, device='cpu'), TypeError, '`n_train`'),
    Bad('data: get_dls noise=1', lambda: get_dls('digits', noise=1., device='cpu'), ValueError,
        '`noise` must be in [0, 1)'),
    Bad('data: get_dls noise<0', lambda: get_dls('digits', noise=-0.1, device='cpu'), ValueError,
        '`noise` must be in [0, 1)'),
    Bad('data: get_dls noise string', lambda: get_dls('digits', noise='0.1', device='cpu'), TypeError, '`noise`'),
    Bad('data: get_dls valid_pct=0', lambda: get_dls('digits', valid_pct=0, device='cpu'), ValueError,
        '`valid_pct` must be in (0, 1)'),
    Bad('data: get_dls valid_pct=1', lambda: get_dls('digits', valid_pct=1., device='cpu'), ValueError,
        '`valid_pct` must be in (0, 1)'),
    Bad('data: get_dls bs=0', lambda: get_dls('digits', bs=0, device='cpu'), ValueError, '`bs`'),
    Bad('data: split_idx n_train negative', lambda: split_idx(Y, n_train=-1), ValueError, '`n_train`'),
    Bad('data: noisy_labels noise=1', lambda: noisy_labels(Y, [0, 1], 1., 5), ValueError, '`noise`'),
]

# ---------------------------------------------------------------------------------------------------------------
# bench: the config, the method names, the CLI. The run_grid rows use the smallest setting in case they stop failing.
SMALL = dict(dataset='digits', teacher='mlp-s', student='mlp-s', teacher_epochs=1, methods=['none'])
BENCH = [
    Bad('bench: get_methods unknown name', lambda: get_methods(['kd', 'nope']), ValueError,
        "unknown method(s) ['nope']"),
    Bad('bench: bench unknown method', lambda: bench.bench(methods=['nope'], quiet=True), ValueError,
        "unknown method(s) ['nope']"),
    Bad('bench: run_grid epochs=0', lambda: run_grid([], BenchConfig(**{**SMALL, 'epochs': 0}), quiet=True),
        ValueError, '`epochs`'),
    Bad('bench: run_grid no seeds', lambda: run_grid([], BenchConfig(**{**SMALL, 'seeds': []}), quiet=True),
        ValueError, '`seeds`'),
    Bad('bench: compare out without name', lambda: compare([], out='unused-dir'), ValueError, 'give `name`'),
    Bad('bench: BenchConfig epochs=0', lambda: BenchConfig(epochs=0), ValueError, '`epochs`'),
    Bad('bench: BenchConfig no seeds', lambda: BenchConfig(seeds=[]), ValueError, '`seeds`'),
    Bad('bench: BenchConfig unknown dataset', lambda: BenchConfig(dataset='cifar10'), ValueError, '`dataset`'),
    Bad('bench: BenchConfig noise=1.5', lambda: BenchConfig(noise=1.5), ValueError, '`noise`'),
    Bad('bench: BenchConfig negative lr', lambda: BenchConfig(lr=-1e-2), ValueError, '`lr`'),
    Bad('bench: BenchConfig bs=0', lambda: BenchConfig(bs=0), ValueError, '`bs`'),
    Bad('bench: BenchConfig unknown method', lambda: BenchConfig(methods=['nope']), ValueError,
        "unknown method(s) ['nope']"),
    Bad('bench: cli --epochs 0', lambda: cli('--epochs', '0'), CLIError, '--epochs must be >= 1'),
    Bad('bench: cli --bs 0', lambda: cli('--bs', '0'), CLIError, '--bs must be >= 1'),
    Bad('bench: cli --seeds 0', lambda: cli('--seeds', '0'), CLIError, '--seeds must be >= 1'),
    Bad('bench: cli unknown method', lambda: cli('--methods', 'kd,nope'), CLIError, "unknown method(s) ['nope']"),
    Bad('bench: cli unknown dataset', lambda: cli('--dataset', 'cifar10'), CLIError,
        "--dataset: invalid choice: 'cifar10'"),
]

# ---------------------------------------------------------------------------------------------------------------
# methods: every registered method's loss, its DistillTerm/callbacks and its bench factory

KD_ROWS = (logit_rows('kd', 'kd_loss', lambda s, t, y, **kw: kd_loss(s, t, **kw))
           + number_rows('kd', 'kd_loss', lambda **kw: kd_loss(S, T, **kw), {'T': POSITIVE})
           + number_rows('kd', 'KD', KD, {'T': [0, -1., '4']})
           + [Bad('kd: kd_loss s is a list', lambda: kd_loss([[1., 2.]], T), TypeError, '`s` must be a tensor'),
              Bad('kd: Distill(teacher, KD()) kd_weight<0', lambda: Distill(nn.Linear(8, 4), KD(), kd_weight=-1.),
                  ValueError, '`kd_weight`')])

LOGIT_MSE_ROWS = (logit_rows('logit_mse', 'logit_mse_loss', lambda s, t, y, **kw: logit_mse_loss(s, t))
                  + [Bad('logit_mse: logit_mse_loss t is None', lambda: logit_mse_loss(S, None), TypeError,
                         '`t` must be a tensor'),
                     Bad('logit_mse: fit teacher class count != student',
                         lambda: distill_fit(nn.Linear(8, 5), LogitMSE()), ValueError,
                         'class count differs')])

def dkd(s, t, y, **kw): return dkd_loss(s, t, y, **kw)
DKD_ROWS = (logit_rows('dkd', 'dkd_loss', dkd) + label_rows('dkd', 'dkd_loss', dkd)
            + label_rows('dkd', 'dkd_parts', lambda s, t, y: dkd_parts(s, t, y))
            + number_rows('dkd', 'dkd_loss', lambda **kw: dkd(S, T, Y, **kw),
                          {'T': POSITIVE, 'alpha': WEIGHT, 'beta': WEIGHT})
            + [variant_row('dkd', 'dkd_loss', lambda **kw: dkd(S, T, Y, **kw)),
               Bad('dkd: dkd_loss per-sample beta of wrong shape', lambda: dkd(S, T, Y, beta=torch.ones(3)), ValueError,
                   '`beta` must be a number or a tensor of shape (4,)'),
               Bad('dkd: dkd_loss negative per-sample alpha', lambda: dkd(S, T, Y, alpha=-torch.ones(4)), ValueError,
                   '`alpha` must hold finite weights >= 0'),
               Bad('dkd: dkd_loss one class', lambda: dkd(S[:, :1], T[:, :1], Y * 0), ValueError, 'at least 2 classes')]
            + number_rows('dkd', 'DKD', DKD,
                          {'T': [0, '4'], 'alpha': [-1.], 'beta': [-8.], 'warmup_pct': [0, 1.5], 'warmup_epochs': [0]})
            + [Bad('dkd: DKD both warm-ups', lambda: DKD(warmup_pct=0.1, warmup_epochs=2), ValueError,
                   'at most one of `warmup_pct` and `warmup_epochs`'),
               variant_row('dkd', 'DKD', DKD),
               Bad('dkd: dkd_loss negative per-sample beta', lambda: dkd(S, T, Y, beta=-torch.ones(4)), ValueError,
                   '`beta` must hold finite weights >= 0'),
               Bad('dkd: DKD T<0', lambda: DKD(T=-1.), ValueError, '`T`'),
               Bad('dkd: DKD warmup_epochs=0 without warmup_pct', lambda: DKD(warmup_pct=None, warmup_epochs=0),
                   ValueError,
                   '`warmup_epochs` must be a finite number > 0'),
               Bad('dkd: Distill(DKD) ce_weight<0', lambda: Distill(nn.Linear(8, 4), DKD(), ce_weight=-1.), ValueError,
                   '`ce_weight`')])

LSKD_ROWS = (logit_rows('lskd', 'lskd_loss', lambda s, t, y, **kw: lskd_loss(s, t, **kw))
             + number_rows('lskd', 'lskd_loss', lambda **kw: lskd_loss(S, T, **kw), {'T': POSITIVE})
             + [variant_row('lskd', 'lskd_loss', lambda **kw: lskd_loss(S, T, **kw)),
                Bad('lskd: zscore eps=0', lambda: zscore(S, eps=0), ValueError, '`eps`'),
                Bad('lskd: zscore one class', lambda: zscore(S[:, :1]), ValueError, '`z` needs at least 2 classes'),
                Bad('lskd: zscore integer logits', lambda: zscore(S_INT), TypeError, '`z` must be floating point'),
                Bad('lskd: LSKD T=0', lambda: LSKD(T=0), ValueError, '`T`'),
                variant_row('lskd', 'LSKD', LSKD),
                Bad('lskd: Standardize of a string', lambda: Standardize('kd'), TypeError,
                    '`term` must be a DistillTerm'),
                Bad('lskd: Standardize eps<0', lambda: Standardize(KD(), eps=-1.), ValueError, '`eps`'),
                variant_row('lskd', 'Standardize', lambda **kw: Standardize(KD(), **kw)),
                Bad('lskd: Standardize(DKD) float labels',
                    lambda: Standardize(DKD(warmup_pct=None))(KDBatch(s=S, t=T, y=Y_FLOAT)), TypeError,
                    'integer class indices'),
                Bad('lskd: Distill(LSKD) lskd_weight<0', lambda: Distill(nn.Linear(8, 4), LSKD(), lskd_weight=-1.),
                    ValueError,
                    '`lskd_weight`'),
                Bad('lskd: Distill(LSKD) ce_weight NaN', lambda: Distill(nn.Linear(8, 4), LSKD(), ce_weight=NAN),
                    ValueError, '`ce_weight`'),
                Bad('lskd: Standardize(DKD) with KD, no ce_weight',
                    lambda: Distill(nn.Linear(8, 4), Standardize(DKD()), KD()), ValueError,
                    "different CE weights {'dkd_ls': 1.0, 'kd': 0.1}")])

def nkd(s, t, y, **kw): return nkd_loss(s, t, y, **kw)
NKD_ROWS = (logit_rows('nkd', 'nkd_loss', nkd) + label_rows('nkd', 'nkd_loss', nkd)
            + label_rows('nkd', 'nkd_parts', lambda s, t, y: nkd_parts(s, t, y))
            + number_rows('nkd', 'nkd_loss', lambda **kw: nkd(S, T, Y, **kw), {'T': POSITIVE, 'gamma': WEIGHT})
            + [Bad('nkd: nkd_loss 3-D logits', lambda: nkd(S[None], T[None], Y[None]), ValueError,
                   '`s` must have shape (N, C)'),
               Bad('nkd: nkd_loss one class', lambda: nkd(S[:, :1], T[:, :1], Y * 0), ValueError, 'at least 2 classes')]
            + number_rows('nkd', 'NKD', NKD, {'T': [-1., '1'], 'gamma': [-1.]})
            + [Bad('nkd: Distill NKD with KD, CE weights differ', lambda: Distill(nn.Linear(8, 4), KD(), NKD()),
                   ValueError,
                   'different CE weights')])

def uskd(s, weak, y, **kw): return uskd_loss(s, y, weak, **kw)   # the "teacher" slot of the row makers is the weak head
USKD_ROWS = (logit_rows('uskd', 'uskd_loss', uskd, t_name='weak') + label_rows('uskd', 'uskd_loss', uskd)
             + label_rows('uskd', 'uskd_parts', lambda s, weak, y: uskd_parts(s, y, weak))
             + number_rows('uskd', 'uskd_loss', lambda **kw: uskd(S, T, Y, **kw),
                           {'alpha': WEIGHT, 'beta': WEIGHT, 'mu': WEIGHT})
             + [variant_row('uskd', 'uskd_loss', lambda **kw: uskd(S, T, Y, **kw)),
                variant_row('uskd', 'uskd_rank_score', lambda **kw: uskd_rank_score(S, T, Y, **kw)),
                Bad('uskd: uskd_rank_score labels >= C', lambda: uskd_rank_score(S, T, Y_HIGH), ValueError, '`y`'),
                Bad('uskd: USKD layer not a string', lambda: USKD(['act'], 16, 4), TypeError,
                    '`layer` must be a layer name'),
                Bad('uskd: USKD channels=0', lambda: USKD('act', 0, 4), ValueError, '`channels` must be an int >= 1'),
                Bad('uskd: USKD n_classes float', lambda: USKD('act', 16, 4.), TypeError, '`n_classes` must be an int'),
                Bad('uskd: USKD mu<0', lambda: USKD('act', 16, 4, mu=-1.), ValueError, '`mu`'),
                variant_row('uskd', 'USKD', lambda **kw: USKD('act', 16, 4, **kw)),
                Bad('uskd: uskd_rank_score labels missing', lambda: uskd_rank_score(S, T, None), ValueError,
                    '`y` (the labels) is required'),
                Bad('uskd: USKD weak_logits 3-D feature',
                    lambda: USKD('act', 16, 4).weak_logits(torch.randn(4, 16, 3)), ValueError,
                    'needs (N, C, H, W) or (N, D)'),
                Bad('uskd: USKD.from_student layer not a string',
                    lambda: USKD.from_student(tiny_net(), synth_dls(n=64, bs=16), layer=['act']),
                    TypeError, '`layer` must be a layer name'),
                Bad('uskd: USKD.from_student unknown layer',
                    lambda: USKD.from_student(tiny_net(), synth_dls(n=64, bs=16), layer='akt'),
                    ValueError, "no layer 'akt' in the student"),
                Bad('uskd: USKD.from_student layer of rank 3',
                    lambda: USKD.from_student(nn.Sequential(OrderedDict(hidden=nn.Linear(8, 16),
                                                                        seq=nn.Unflatten(1, (4, 4)), flat=nn.Flatten(),
                                                                        head=nn.Linear(16, 4))),
                                              synth_dls(n=64, bs=16), layer='seq'),
                    ValueError, 'the weak head needs (N, C, H, W) or (N, D)'),
                Bad('uskd: USKD.from_student student output not (N, C)',
                    lambda: USKD.from_student(nn.Sequential(OrderedDict(act=nn.Linear(8, 16),
                                                                        head=nn.Unflatten(1, (4, 4)))),
                                              synth_dls(n=64, bs=16), layer='act'),
                    ValueError, 'expected logits (N, n_classes)'),
                Bad('uskd: USKD.from_student mu<0',
                    lambda: USKD.from_student(tiny_net(), synth_dls(n=64, bs=16), layer='act', mu=-1.),
                    ValueError, '`mu`'),
                Bad('uskd: USKD.from_student unknown keyword',
                    lambda: USKD.from_student(tiny_net(), synth_dls(n=64, bs=16), layer='act',
                                              gamma=1.), TypeError, "'gamma'"),
                variant_row('uskd', 'USKD.from_student',
                            lambda **kw: USKD.from_student(tiny_net(), synth_dls(n=64, bs=16), layer='act', **kw)),
                Bad('uskd: fit unknown layer', lambda: distill_fit(None, USKD('akt', 16, 4), student=tiny_net()),
                    ValueError,
                    "no layer 'akt' in the student"),
                Bad('uskd: fit wrong channels', lambda: distill_fit(None, USKD('act', 8, 4), student=tiny_net()),
                    ValueError, 'pass channels=16'),
                Bad('uskd: fit wrong n_classes', lambda: distill_fit(None, USKD('act', 16, 3), student=tiny_net()),
                    ValueError, 'pass n_classes=4'),
                Bad('uskd: called outside Distill', lambda: USKD('act', 16, 4)(KDBatch(s=S, t=None, y=Y)),
                    RuntimeError, 'uskd: no hooks installed')])

TTM_ROWS = []
for name, fn, cls in (('ttm', ttm_loss, TTM), ('wttm', wttm_loss, WTTM)):
    TTM_ROWS += (logit_rows(name, fn.__name__, lambda s, t, y, fn=fn, **kw: fn(s, t, **kw))
                 + number_rows(name, fn.__name__, lambda fn=fn, **kw: fn(S, T, **kw), {'gamma': POSITIVE})
                 + number_rows(name, cls.__name__, cls, {'gamma': [0, -1.]})
                 + [Bad(f'{name}: Distill {name}_weight<0', lambda cls=cls,
                        n=name: Distill(nn.Linear(8, 4), cls(), **{f'{n}_weight': -1.}),
                        ValueError, f'`{name}_weight`')])

def dts(s, t, y): return dts_gap(s, t, y)

def dts_step(epoch, gap, total_epochs: int = 2):
    "One update of a fresh `DTSKD()`'s scheduler outside a fit, for a run of `total_epochs` epochs."
    dt, = DTSKD().callbacks(); dt.total_epochs = total_epochs
    return dt.step(epoch, gap)

DTS_ROWS = (logit_rows('dts', 'dts_gap', dts) + label_rows('dts', 'dts_gap', dts)
            + number_rows('dts', 'dts_target', lambda **kw: dts_target(**{'progress': 0.5, 'gap': 0., **kw}),
                          {'T0': [0, '4'], 'Tmin': [-1.], 'Tmax': [INF], 'curve_shape': [0], 'gap': [NAN, '1']})
            + [Bad('dts: dts_target Tmin > Tmax', lambda: dts_target(0.5, 0., Tmin=5., Tmax=4.), ValueError,
                   '`Tmin` must be <= `Tmax`'),
               Bad('dts: dts_target cap<1', lambda: dts_target(0.5, 0., cap=0.9), ValueError, '`cap` must be >= 1'),
               Bad('dts: dts_target progress>1', lambda: dts_target(1.5, 0.), ValueError,
                   '`progress` must be in [0, 1]'),
               Bad('dts: dts_scale gap NaN', lambda: dts_scale(NAN), ValueError, '`gap` must be finite')]
            + number_rows('dts', 'DTSKD', DTSKD,
                          {'T0': [0, -1.], 'Tmin': [0], 'Tmax': [INF], 'momentum': [-0.1], 'cap': [0.5],
                                                  'curve_shape': [0]})
            + [Bad('dts: DTSKD momentum>1', lambda: DTSKD(momentum=1.5), ValueError, '`momentum` must be in [0, 1]'),
               Bad('dts: DTSKD Tmin > Tmax', lambda: DTSKD(Tmin=3., Tmax=2.), ValueError, '`Tmin` must be <= `Tmax`'),
               Bad('dts: DTSKD bad progress', lambda: DTSKD(progress='iteration'), ValueError,
                   '`progress` must be one of'),
               Bad('dts: DynamicTemperature term without temperature', lambda: DynamicTemperature(term=KD()), TypeError,
                   '`term` must be a DistillTerm with a `temperature` buffer'),
               Bad('dts: DynamicTemperature.step outside a fit', lambda: DynamicTemperature(DTSKD()).step(1, 0.),
                   ValueError,
                   '`total_epochs`'),
               Bad('dts: DynamicTemperature.step epoch<0', lambda: dts_step(-1, 0.), ValueError,
                   '`epoch` must be in [0, total_epochs=2]'),
               Bad('dts: DynamicTemperature.step epoch past the run', lambda: dts_step(3, 0.), ValueError,
                   '`epoch` must be in [0, total_epochs=2]'),
               Bad('dts: DynamicTemperature.step gap NaN', lambda: dts_step(1, NAN), ValueError,
                   '`gap` must be finite'),
               Bad('dts: DynamicTemperature.step gap string', lambda: dts_step(1, '0'), TypeError,
                   '`gap` must be a number'),
               Bad('dts: DynamicTemperature temperature=0',
                   lambda: setattr(DynamicTemperature(DTSKD()), 'temperature', 0.), ValueError,
                   '`temperature`'),
               Bad('dts: fit DynamicTemperature added to the Learner',
                   lambda: fit_tiny(Distill(nn.Linear(8, 4), KD()),
                                    DynamicTemperature(DTSKD())), ValueError, 'is not run by a `Distill`')])

def pld(s, t, y, **kw): return pld_loss(s, t, y, **kw)
PLD_ROWS = (logit_rows('pld', 'pld_loss', pld)
            + label_rows('pld', 'pld_loss', pld)
            + number_rows('pld', 'pld_loss', lambda **kw: pld(S, T, Y, **kw), {'T': POSITIVE})
            + [Bad('pld: PLD T=0', lambda: PLD(T=0), ValueError, '`T`'),
               Bad('pld: PLD without labels', lambda: PLD()(KDBatch(s=S, t=T, y=None)), ValueError,
                   'PLD needs the targets'),
               Bad('pld: Distill(PLD) ce_weight<0', lambda: Distill(nn.Linear(8, 4), PLD(), ce_weight=-1.), ValueError,
                   '`ce_weight`'),
               Bad('pld: Distill(PLD) pld_weight NaN', lambda: Distill(nn.Linear(8, 4), PLD(), pld_weight=NAN),
                   ValueError, '`pld_weight`'),
               Bad('pld: Distill KD + PLD, different CE weights', lambda: Distill(nn.Linear(8, 4), KD(), PLD()),
                   ValueError,
                   "the terms state different CE weights {'kd': 0.1, 'pld': 0.0}")]
            + number_rows('pld', 'PLD', PLD, {'T': [-1., NAN, INF, '1']}))

SINKD_ROWS = (logit_rows('sinkd', 'sinkhorn_loss', lambda s, t, y, **kw: sinkhorn_loss(s, t, **kw))
              + number_rows('sinkd', 'sinkhorn_loss', lambda **kw: sinkhorn_loss(S, T, **kw),
                            {'T': POSITIVE, 'eps': [0, -0.1]})
              + [Bad('sinkd: sinkhorn_loss n_iters=0', lambda: sinkhorn_loss(S, T, n_iters=0), ValueError,
                     '`n_iters` must be an int >= 1'),
                 Bad('sinkd: sinkhorn_loss n_iters float', lambda: sinkhorn_loss(S, T, n_iters=2.5), TypeError,
                     '`n_iters` must be an int'),
                 Bad('sinkd: sinkhorn_loss n_iters bool', lambda: sinkhorn_loss(S, T, n_iters=True), TypeError,
                     '`n_iters` must be an int'),
                 Bad('sinkd: sinkhorn_loss 3-D logits', lambda: sinkhorn_loss(S[None], T[None]), ValueError,
                     '`s` must have shape (N, C)'),
                 variant_row('sinkd', 'sinkhorn_loss', lambda **kw: sinkhorn_loss(S, T, **kw)),
                 Bad('sinkd: sinkhorn_plan non-square cost', lambda: sinkhorn_plan(torch.rand(4, 3)), ValueError,
                     '`cost` must be a square')]
              + number_rows('sinkd', 'SinKD', SinKD, {'T': [-1.], 'eps': [0], 'n_iters': [0]})
              + [variant_row('sinkd', 'SinKD', SinKD),
                 Bad('sinkd: Distill(KD, SinKD) sinkd_weight<0',
                     lambda: Distill(nn.Linear(8, 4), KD(), SinKD(), sinkd_weight=-0.8),
                     ValueError, '`sinkd_weight`'),
                 Bad('sinkd: Distill(KD, SinKD) kd_weight inf',
                     lambda: Distill(nn.Linear(8, 4), KD(), SinKD(), kd_weight=INF), ValueError,
                     '`kd_weight`'),
                 Bad('sinkd: Distill(KD, SinKD) ce_weight NaN',
                     lambda: Distill(nn.Linear(8, 4), KD(), SinKD(), ce_weight=NAN), ValueError,
                     '`ce_weight`'),
                 Bad('sinkd: Distill(KD, SinKD) beta keyword',
                     lambda: Distill(nn.Linear(8, 4), KD(), SinKD(), beta=0.8), TypeError,
                     "unknown keyword(s) ['beta']; term weights are ['kd_weight', 'sinkd_weight']")])

class SkipsHead(nn.Module):
    "Has a `head` that its forward never calls."
    def __init__(self): super().__init__(); self.body, self.head = nn.Linear(8, 4), nn.Linear(4, 4)
    def forward(self, x): return self.body(x)

DHKD_ROWS = []
for fn in (binary_kl_loss, binary_kl_norm_loss):
    DHKD_ROWS += (logit_rows('dhkd', fn.__name__, lambda s, t, y, fn=fn, **kw: fn(s, t, **kw))
                  + number_rows('dhkd', fn.__name__, lambda fn=fn, **kw: fn(S, T, **kw), {'T': POSITIVE})
                  + [variant_row('dhkd', fn.__name__, lambda fn=fn, **kw: fn(S, T, **kw))])
DHKD_ROWS += [
    Bad('dhkd: DualHeadKD T=0', lambda: DualHeadKD(T=0), ValueError, '`T`'),
    Bad('dhkd: DualHeadKD unknown loss', lambda: DualHeadKD(loss='kl'), ValueError, '`loss` must be one of'),
    Bad('dhkd: DualHeadKD unknown head', lambda: DualHeadKD(head='both'), ValueError, '`head`'),
    variant_row('dhkd', 'DualHeadKD', DualHeadKD),
    Bad('dhkd: DualHeadKD(aux) without a learner', lambda: DualHeadKD()(KDBatch(s=S, t=T, y=None)), RuntimeError,
        'got no learner'),
    Bad('dhkd: DualHeadStudent of a function', lambda: DualHeadStudent(lambda x: x), TypeError,
        '`student` must be an nn.Module'),
    Bad('dhkd: DualHeadStudent unknown aux', lambda: DualHeadStudent(tiny_net(), 'mlp'), ValueError,
        '`aux` must be one of'),
    Bad('dhkd: DualHeadStudent hidden=0', lambda: DualHeadStudent(tiny_net(), hidden=0), ValueError, '`hidden`'),
    Bad('dhkd: DualHeadStudent p=1', lambda: DualHeadStudent(tiny_net(), p=1.), ValueError, '`p`'),
    Bad('dhkd: DualHeadStudent unknown head', lambda: DualHeadStudent(tiny_net(), head='fc'), ValueError,
        "no module 'fc' in the student"),
    Bad('dhkd: DualHeadStudent head not Linear',
        lambda: DualHeadStudent(nn.Sequential(nn.Linear(8, 4), nn.ReLU()), 'linear'), TypeError,
        "head '1' is a ReLU, not an nn.Linear"),
    Bad('dhkd: DualHead unknown aux', lambda: DualHead(aux='mlp'), ValueError, '`aux` must be one of'),
    Bad('dhkd: GradAlign bad variant', lambda: GradAlign('authors'), ValueError, '`variant`'),
    Bad('dhkd: align_gradients unpaired', lambda: align_gradients([torch.ones(2)], [torch.ones(2), torch.ones(3)]),
        ValueError,
        'one entry per parameter'),
    Bad('dhkd: DualHeadKD aux module', lambda: DualHeadKD(aux=nn.Linear(3, 3)), ValueError, '`aux` must be one of'),
    Bad('dhkd: DualHeadKD unknown aux', lambda: DualHeadKD(aux='mlp'), ValueError, '`aux` must be one of'),
    Bad('dhkd: DualHeadKD ga not a bool', lambda: DualHeadKD(ga='yes'), TypeError, '`ga` must be True or False'),
    Bad('dhkd: Distill DualHeadKD dhkd_weight<0', lambda: Distill(nn.Linear(8, 4), DualHeadKD(), dhkd_weight=-1.),
        ValueError,
        '`dhkd_weight`'),
    Bad('dhkd: find_dual_head without an auxiliary head', lambda: find_dual_head(tiny_net()), ValueError,
        'has no auxiliary head'),
    variant_row('dhkd', 'align_gradients', lambda **kw: align_gradients([torch.ones(2)], [torch.ones(2)], **kw)),
    Bad('dhkd: DualHeadStudent head that does not run',
        lambda: DualHeadStudent(SkipsHead(), 'linear')(torch.randn(2, 8)), RuntimeError,
        "'head' did not run"),
    Bad('dhkd: fit GradAlign with GradientAccumulation',
        lambda: fit_tiny(Distill(nn.Linear(8, 4), DualHeadKD()), GradientAccumulation(),
                         student=tiny_net()), ValueError,
        'cannot be combined'),
    Bad('dhkd: fit DualHeadKD student without a child module', lambda: distill_fit(nn.Linear(8, 4), DualHeadKD()),
        ValueError,
        'the student has no child modules'),
    Bad('dhkd: fit GradAlign beside two Distills',
        lambda: fit_tiny(Distill(nn.Linear(8, 4), DualHeadKD(ga=False)),
                         Distill(nn.Linear(8, 4), DualHeadKD(head='main', ga=False)),
                         GradAlign(), student=tiny_net()), ValueError, 'the learner has 2'),
    Bad('dhkd: fit GradAlign without Distill', lambda: fit_tiny(DualHead(), GradAlign(), student=tiny_net()),
        ValueError, 'the learner has 0'),
]

def ofa(s, t, y, **kw): return ofa_loss(s, t, y, **kw)
OFA_ROWS = (logit_rows('ofa', 'ofa_loss', ofa) + label_rows('ofa', 'ofa_loss', ofa)
            + label_rows('ofa', 'ofa_weights', lambda s, t, y: ofa_weights(t, y))
            + number_rows('ofa', 'ofa_loss', lambda **kw: ofa(S, T, Y, **kw), {'T': POSITIVE, 'eps': POSITIVE})
            + number_rows('ofa', 'ofa_weights', lambda **kw: ofa_weights(T, Y, **kw), {'T': [0], 'eps': [-1.]})
            + [variant_row('ofa', 'ofa_loss', lambda **kw: ofa(S, T, Y, **kw)),
               Bad('ofa: ofa_weights integer teacher', lambda: ofa_weights(S_INT, Y), TypeError,
                   '`t` must be floating point')]
            + number_rows('ofa', 'OFA', OFA, {'eps': [0], 'T': [-1.]})
            + [variant_row('ofa', 'OFA', OFA),
               Bad('ofa: Distill(OFA) ofa_weight inf', lambda: Distill(nn.Linear(8, 4), OFA(), ofa_weight=INF),
                   ValueError, '`ofa_weight`')])

def clip_ce(s, t, y, **kw): return logitclip_ce(s, y, **kw)   # teacher-free: the `t` slot is unused
CLIP_ROWS = (label_rows('logitclip', 'logitclip_ce', clip_ce)
             + number_rows('logitclip', 'logitclip_ce', lambda **kw: clip_ce(S, None, Y, **kw),
                           {'tau': POSITIVE, 'p': [0.5, NAN, '2']})
             + [variant_row('logitclip', 'logitclip_ce', lambda **kw: clip_ce(S, None, Y, **kw)),
                Bad('logitclip: logitclip_ce integer logits', lambda: logitclip_ce(S_INT, Y), TypeError, '`z`'),
                Bad('logitclip: clip_logits integer logits', lambda: clip_logits(S_INT), TypeError,
                    '`z` must be a floating point tensor'),
                Bad('logitclip: clip_logits p=0', lambda: clip_logits(S, p=0), ValueError, '`p` must be >= 1'),
                Bad('logitclip: LogitClip of a string', lambda: LogitClip('kd'), TypeError,
                    'LogitClip wraps a DistillTerm or a loss function'),
                Bad('logitclip: LogitClip tau=0', lambda: LogitClip(KD(), tau=0), ValueError, '`tau`'),
                Bad('logitclip: LogitClip p<1', lambda: LogitClip(KD(), p=0.5), ValueError, '`p`'),
                variant_row('logitclip', 'LogitClip', lambda **kw: LogitClip(KD(), **kw)),
                Bad('logitclip: LogitClip(loss function) tau<0', lambda: LogitClip(CrossEntropyLossFlat(), tau=-1.),
                    ValueError, '`tau`'),
                Bad('logitclip: LogitClipLoss loss_func not callable', lambda: LogitClipLoss(3), TypeError,
                    '`loss_func` must be callable'),
                Bad('logitclip: LogitClipCE tau=0', lambda: LogitClipCE(tau=0), ValueError, '`tau`'),
                Bad('logitclip: LogitClipCE without labels', lambda: LogitClipCE()(KDBatch(s=S, t=None, y=None)),
                    ValueError, '`y`'),
                Bad('logitclip: LogitClipCE p<1', lambda: LogitClipCE(p=-2), ValueError, '`p` must be >= 1'),
                Bad('logitclip: Distill(LogitClipCE(), KD()) different CE weights',
                    lambda: Distill(nn.Linear(8, 4), LogitClipCE(), KD()),
                    ValueError, "the terms state different CE weights {'clip_ce': 0.0, 'kd': 0.1}")]
             + number_rows('logitclip', 'LogitClipCE', LogitClipCE, {'weight': WEIGHT + [INF]}))

def ls(s, t, y, **kw): return ls_loss(s, y, **kw)   # teacher-free: the `t` slot is unused
LS_ROWS = (label_rows('ls_kd', 'ls_loss', ls)
           + [Bad('ls_kd: ls_loss alpha>1', lambda: ls_loss(S, Y, alpha=1.5), ValueError,
                  '`alpha` must be a number in [0, 1]'),
              Bad('ls_kd: ls_loss alpha<0', lambda: ls_loss(S, Y, alpha=-0.1), ValueError, '`alpha`'),
              Bad('ls_kd: ls_loss alpha string', lambda: ls_loss(S, Y, alpha='0.1'), TypeError,
                  '`alpha` must be a number'),
              Bad('ls_kd: ls_loss integer logits', lambda: ls_loss(S_INT, Y), TypeError, '`z` must be floating point')]
           + number_rows('ls_kd', 'PureKD', PureKD, {'T': [0, -1., '1']})
           + [Bad('ls_kd: template_projection class out of range',
                  lambda: template_projection(torch.randn(6, 3), torch.randn(5, 3), torch.randn(5), (0, 1, 7)),
                  ValueError, '`classes` must be distinct class indices in [0, 5)'),
              Bad('ls_kd: template_projection weight of wrong width',
                  lambda: template_projection(torch.randn(6, 3), torch.randn(5, 4), torch.randn(5), (0, 1, 2)),
                  ValueError, '`weight` must have shape (C, 3)'),
              Bad('ls_kd: template_projection bias of wrong length',
                  lambda: template_projection(torch.randn(6, 3), torch.randn(5, 3), torch.randn(3), (0, 1, 2)),
                  ValueError, '`bias` must have shape (5,)'),
              Bad('ls_kd: template_projection class twice',
                  lambda: template_projection(torch.randn(6, 3), torch.randn(5, 3), torch.randn(5), (0, 0, 2)),
                  ValueError, '`classes` must be distinct'),
              Bad('ls_kd: template_projection integer features',
                  lambda: template_projection(torch.ones(6, 3, dtype=torch.long), torch.randn(5, 3), torch.randn(5),
                                              (0, 1, 2)), TypeError, '`h` must be a floating point'),
              Bad('ls_kd: template_projection dependent templates',
                  lambda: template_projection(torch.randn(6, 3), torch.tensor([[1., 0, 0], [2., 0, 0], [0, 1., 0]]),
                                              torch.tensor([1., 2., 0.]), (0, 1, 2)), ValueError, 'linearly dependent'),
              Bad('ls_kd: diffusion_index float labels', lambda: diffusion_index(torch.randn(4, 3), Y.float(), 0, 1),
                  TypeError, '`y` must be an integer tensor'),
              Bad('ls_kd: diffusion_index same centroid',
                  lambda: diffusion_index(torch.ones(4, 3), torch.tensor([0, 0, 1, 1]), 0, 1),
                  ValueError, 'same centroid'),
              Bad('ls_kd: diffusion_index same class twice', lambda: diffusion_index(torch.randn(4, 3), Y, 1, 1),
                  ValueError, '`a` and `b` must be different classes'),
              Bad('ls_kd: diffusion_index absent class', lambda: diffusion_index(torch.randn(4, 3), Y, 0, 3),
                  ValueError, 'class 3 has no samples'),
              Bad('ls_kd: penultimate_features unknown head', lambda: penultimate_features(tiny_net(), [], head='fc'),
                  ValueError, "no layer 'fc' in the model"),
              Bad('ls_kd: class_triplet two classes', lambda: class_triplet(S, torch.tensor([0, 1, 0, 1])), ValueError,
                  'need samples of at least 3 classes')])

AT_FS = torch.randn(2, 3, 4, 4, generator=g)   # features (N, C, H, W) of a student layer
AT_FT = torch.randn(2, 5, 4, 4, generator=g)   # a teacher layer with more channels: fine for AT

def at_conv_net(c: int) -> nn.Sequential:
    "A CNN for 1x8x8 images with stage outputs `act1` (8x8, c channels) and `act2` (4x4, 2c), embedding `flat`."
    return nn.Sequential(OrderedDict(conv1=nn.Conv2d(1, c, 3, padding=1), act1=nn.ReLU(),
                                     conv2=nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), act2=nn.ReLU(),
                                     pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), head=nn.Linear(2 * c, 4)))

def at_image_dls(with_idx: bool = False):
    "48 random 1x8x8 images in 4 classes, 32 for training, batches of 16."
    gi = torch.Generator().manual_seed(0)
    xs, ys = torch.randn(48, 1, 8, 8, generator=gi), torch.randint(0, 4, (48,), generator=gi)
    return arrays_dls(xs, ys, range(32), range(32, 48), bs=16, device='cpu', with_idx=with_idx)

def at_fit(term, student=None, teacher=None, dls=None):
    "One epoch of a conv student (4, 8 channels) distilled from a conv teacher (8, 16 channels) with `term`."
    distill_fit(teacher or at_conv_net(8), term, student=student or at_conv_net(4), dls=dls or at_image_dls())

AT_ROWS = ([Bad('at: at_map not a tensor', lambda: at_map(AT_FS.tolist()), TypeError, '`f` must be a tensor'),
            Bad('at: at_map 3-D features', lambda: at_map(AT_FS[0]), ValueError,
                '`f` must be feature maps of shape (N, C, H, W), got (3, 4, 4)'),
            Bad('at: at_map integer features', lambda: at_map(AT_FS.long()), TypeError, '`f` must be floating point')]
           + number_rows('at', 'at_map', lambda **kw: at_map(AT_FS, **kw), {'p': POSITIVE + [0.5]})
           + [variant_row('at', 'at_map', lambda **kw: at_map(AT_FS, **kw)),
              Bad('at: at_loss maps differ in size', lambda: at_loss(AT_FS, torch.randn(2, 5, 2, 2)), ValueError,
                  'feature pair 0: attention maps differ in size: `fs[0]` is (2, 3, 4, 4), `ft[0]` is (2, 5, 2, 2)'),
              Bad('at: at_loss batch sizes differ', lambda: at_loss(AT_FS, AT_FT[:1]), ValueError,
                  'feature pair 0: batch sizes differ: `fs[0]` has 2 samples, `ft[0]` 1'),
              Bad('at: at_loss unpaired lists', lambda: at_loss([AT_FS, AT_FS], [AT_FT]), ValueError,
                  'need as many student as teacher features (>0), got 2 and 1'),
              Bad('at: at_loss empty lists', lambda: at_loss([], []), ValueError,
                  'need as many student as teacher features (>0), got 0 and 0'),
              Bad('at: at_loss fs a number', lambda: at_loss(3., AT_FT), TypeError,
                  '`fs` must be a tensor or a list of tensors'),
              Bad('at: at_loss second student feature not a map',
                  lambda: at_loss([AT_FS, AT_FS[:, :, 0]], [AT_FT, AT_FT]),
                  ValueError, '`fs[1]` must be feature maps of shape (N, C, H, W)'),
              Bad('at: at_loss integer teacher features', lambda: at_loss(AT_FS, AT_FT.long()), TypeError,
                  '`ft[0]` must be floating point'),
              Bad('at: at_loss teacher not a tensor', lambda: at_loss([AT_FS], [None]), TypeError,
                  '`ft[0]` must be a tensor')]
           + number_rows('at', 'at_loss', lambda **kw: at_loss(AT_FS, AT_FT, **kw), {'p': POSITIVE + [0.5]})
           + [variant_row('at', 'at_loss', lambda **kw: at_loss(AT_FS, AT_FT, **kw))]
           + number_rows('at', 'AT', AT, {'p': [0, -1., NAN, '2', 0.5]})
           + [variant_row('at', 'AT', AT),
              Bad('at: AT negative weight', lambda: AT(weight=-1.), ValueError,
                  '`weight` must be a finite number >= 0'),
              Bad('at: AT student layers only', lambda: AT('act1'), ValueError,
                  'name both the student and the teacher layers, or neither'),
              Bad('at: AT unknown which', lambda: AT(which='deepest'), ValueError, '`which` must be one of'),
              Bad('at: Distill(AT) at_weight<0', lambda: Distill(nn.Linear(8, 4), AT(), at_weight=-1.), ValueError,
                  '`at_weight`'),
              Bad('at: fit maps of different sizes without pool',
                  lambda: at_fit(AT('act1', 'act2')), ValueError,
                  "at: attention maps differ in size: student layer 'act1' gives (16, 4, 8, 8), teacher layer "
                  "'act2' gives (16, 16, 4, 4); pass pool=True"),
              Bad('at: fit a layer that is not a map', lambda: at_fit(AT('flat', 'flat')), ValueError,
                  "at: attention maps need (N, C, H, W) features: student layer 'flat' gives (16, 8)"),
              Bad('at: fit unknown teacher layer', lambda: at_fit(AT('act2', 'layer2')), ValueError,
                  "no layer 'layer2' in the teacher"),
              Bad('at: AT() on MLPs (no stages)', lambda: distill_fit(tiny_net(32), AT(), student=tiny_net()),
                  ValueError, 'no student and teacher stages share a spatial resolution'),
              Bad('at: fit with a cached teacher',
                  lambda: at_fit(AT('act2', 'act2'), teacher=ZeroCache(), dls=at_image_dls(with_idx=True)), TypeError,
                  "term 'at' reads teacher features, so the teacher must be an nn.Module")])

class Transpose(nn.Module):
    "Transpose a (b, D) output: a layer whose first dimension is not the batch."
    def forward(self, x): return x.T

def transposing_net(width: int = 12) -> nn.Sequential:
    "`tiny_net` with two transposes after `act`: its layer `swap` outputs (width, b)."
    return nn.Sequential(OrderedDict(hidden=nn.Linear(8, width), act=nn.ReLU(), swap=Transpose(), back=Transpose(),
                                     head=nn.Linear(width, 4)))

F43, LONG43 = torch.randn(4, 3), torch.ones(4, 3, dtype=torch.long)
SP_ROWS = (
    [Bad('sp: sp_loss batch sizes differ', lambda: sp_loss(F43, torch.randn(5, 3)), ValueError,
         'batch sizes differ: `fs` has 4 samples (4, 3), `ft` has 5'),
     Bad('sp: sp_loss batch sizes differ in a list', lambda: sp_loss([F43, F43], [F43, torch.randn(5, 2, 2)]),
         ValueError, '`fs[1]` has 4 samples (4, 3), `ft[1]` has 5 (5, 2, 2)'),
     Bad('sp: sp_loss unpaired lists', lambda: sp_loss([F43], []), ValueError,
         'need as many student as teacher features (>0), got 1 and 0'),
     Bad('sp: sp_loss empty lists', lambda: sp_loss([], []), ValueError, 'need as many student as teacher features'),
     Bad('sp: sp_loss 1-D fs', lambda: sp_loss(torch.randn(4), F43), ValueError, '`fs` must have shape (b, ...)'),
     Bad('sp: sp_loss 1-D ft', lambda: sp_loss(F43, torch.randn(4)), ValueError, '`ft` must have shape (b, ...)'),
     Bad('sp: sp_loss 0-D fs', lambda: sp_loss(torch.tensor(1.), F43), ValueError, '`fs` must have shape (b, ...)'),
     Bad('sp: sp_loss integer fs', lambda: sp_loss(LONG43, F43), TypeError, '`fs` must be floating point'),
     Bad('sp: sp_loss integer ft', lambda: sp_loss(F43, LONG43), TypeError, '`ft` must be floating point'),
     Bad('sp: sp_loss integer ft in a list', lambda: sp_loss([F43], [LONG43]), TypeError,
         '`ft[0]` must be floating point'),
     Bad('sp: sp_loss fs a number', lambda: sp_loss(3., F43), TypeError, '`fs` must be a tensor or a list of tensors'),
     Bad('sp: sp_loss ft None', lambda: sp_loss(F43, None), TypeError, '`ft` must be a tensor or a list of tensors'),
     Bad('sp: sp_loss list item not a tensor', lambda: sp_loss([F43, 'x'], [F43, F43]), TypeError,
         '`fs[1]` must be a tensor, got str'),
     Bad('sp: sp_loss empty batch', lambda: sp_loss(torch.randn(0, 3), torch.randn(0, 3)), ValueError,
         '`fs` is an empty batch'),
     Bad('sp: sp_similarity 1-D', lambda: sp_similarity(torch.randn(4)), ValueError, '`f` must have shape (b, ...)'),
     Bad('sp: sp_similarity integer', lambda: sp_similarity(LONG43), TypeError, '`f` must be floating point'),
     Bad('sp: sp_similarity not a tensor', lambda: sp_similarity([[1., 2.]]), TypeError, '`f` must be a tensor'),
     Bad('sp: sp_similarity empty batch', lambda: sp_similarity(torch.randn(0, 3)), ValueError,
         '`f` is an empty batch')]
    + number_rows('sp', 'SP', SP, {'weight': WEIGHT})
    + [Bad('sp: SP bad which', lambda: SP(which='middle'), ValueError,
           "`which` must be one of ('stages', 'last', 'embedding')"),
       Bad('sp: SP student layer only', lambda: SP('act'), ValueError,
           'name both the student and the teacher layers, or neither'),
       Bad('sp: SP unpaired layers', lambda: SP(['hidden', 'act'], 'act'), ValueError, '2 student layers'),
       Bad('sp: Distill sp_weight<0', lambda: Distill(nn.Linear(8, 4), SP(), sp_weight=-1.), ValueError,
           '`sp_weight`'),
       Bad('sp: Distill sp_weight NaN', lambda: Distill(nn.Linear(8, 4), SP(), sp_weight=NAN), ValueError,
           '`sp_weight`'),
       Bad('sp: fit batch sizes differ',
           lambda: distill_fit(tiny_net(32), SP('swap', 'act'), student=transposing_net()), ValueError,
           "sp: batch sizes differ: student layer 'swap' gives (12, 16), teacher layer 'act' gives (16, 32)"),
       Bad('sp: fit unknown student layer', lambda: distill_fit(tiny_net(32), SP('akt', 'act'), student=tiny_net()),
           ValueError, "no layer 'akt' in the student"),
       Bad('sp: fit unknown teacher layer', lambda: distill_fit(tiny_net(32), SP('act', 'layer4'), student=tiny_net()),
           ValueError, "no layer 'layer4' in the teacher"),
       Bad('sp: fit layers by shape on MLPs', lambda: distill_fit(tiny_net(32), SP(), student=tiny_net()), ValueError,
           'no student and teacher stages share a spatial resolution'),
       Bad('sp: fit with a cached teacher',
           lambda: distill_fit(ZeroCache(), SP('act', 'act'), student=tiny_net(), dls=synth_dls(n=64, bs=16,
                                                                                               with_idx=True)),
           TypeError, "term 'sp' reads teacher features, so the teacher must be an nn.Module")])

F_S, F_T = torch.randn(4, 6, generator=g), torch.randn(4, 9, generator=g)   # student and teacher embeddings
F_TALL = torch.randn(5, 9, generator=g)                                      # a teacher batch of 5 samples

class FoldPairs(nn.Module):
    "A teacher whose `pairs` layer folds every two samples into one row (a layer with N/2 rows), logits as usual."
    def __init__(self): super().__init__(); self.body = tiny_net(32); self.pairs = nn.Identity()
    def forward(self, x):
        self.pairs(x.reshape(len(x) // 2, -1))
        return self.body(x)

def feature_rows(family: str, fname: str, f: Callable, name: str, other: tuple = ()) -> list[Bad]:
    "Features that are not a tensor, not floating point, or not one row per sample, in argument `name`."
    def call(v): return lambda: f(*other, v) if other else f(v)
    return [Bad(f'{family}: {fname} {name} a list', call([[1., 2.], [3., 4.]]), TypeError,
                f'`{name}` must be a tensor'),
            Bad(f'{family}: {fname} integer {name}', call(torch.ones(4, 6, dtype=torch.long)), TypeError,
                f'`{name}` must be a floating point tensor'),
            Bad(f'{family}: {fname} 1-D {name}', call(torch.randn(6)), ValueError,
                f'`{name}` must have shape (N, D) or (N, ...)')]

PKT_ROWS = (feature_rows('pkt', 'pkt_loss', lambda fs: pkt_loss(fs, F_T), 'fs')
            + feature_rows('pkt', 'pkt_loss', lambda ft: pkt_loss(F_S, ft), 'ft')
            + number_rows('pkt', 'pkt_loss', lambda **kw: pkt_loss(F_S, F_T, **kw), {'eps': POSITIVE})
            + [variant_row('pkt', 'pkt_loss', lambda **kw: pkt_loss(F_S, F_T, **kw)),
               Bad('pkt: pkt_loss batch sizes differ', lambda: pkt_loss(F_S, F_TALL), ValueError,
                   'batch sizes differ: `fs` has 4 samples, `ft` has 5'),
               Bad('pkt: pkt_loss batch sizes differ (code)', lambda: pkt_loss(F_S, F_TALL, variant='code'),
                   ValueError, 'batch sizes differ: `fs` has 4 samples, `ft` has 5')]
            + feature_rows('pkt', 'pkt_probs', pkt_probs, 'f')
            + number_rows('pkt', 'pkt_probs', lambda **kw: pkt_probs(F_T, **kw), {'eps': [0, NAN, '1e-7']})
            + [variant_row('pkt', 'pkt_probs', lambda **kw: pkt_probs(F_T, **kw))]
            + feature_rows('pkt', 'cosine_kernel', cosine_kernel, 'f')
            + number_rows('pkt', 'cosine_kernel', lambda **kw: cosine_kernel(F_T, **kw), {'eps': [-1., INF]})
            + [variant_row('pkt', 'cosine_kernel', lambda **kw: cosine_kernel(F_T, **kw))]
            + number_rows('pkt', 'PKT', PKT, {'eps': [0, -1e-7, NAN, '1e-7'], 'weight': WEIGHT})
            + [variant_row('pkt', 'PKT', PKT),
               Bad('pkt: PKT student layer without the teacher\'s', lambda: PKT('act'), ValueError,
                   'name both the student and the teacher layers, or neither'),
               Bad('pkt: PKT unknown keyword', lambda: PKT(epsilon=1e-7), TypeError, "unknown keyword(s) ['epsilon']"),
               Bad('pkt: PKT which unknown', lambda: PKT(which='penultimate'), ValueError, '`which` must be one of'),
               Bad('pkt: PKT connectors unknown rule', lambda: PKT(connectors='some'), ValueError,
                   "`connectors` must be None, 'auto', 'all'"),
               Bad('pkt: PKT called outside Distill', lambda: PKT('act', 'act')(KDBatch(s=S, t=T, y=Y)), RuntimeError,
                   'pkt: no hooks installed'),
               Bad('pkt: PKT.feature_loss batch sizes differ',
                   lambda: PKT('act', 'pairs').feature_loss([torch.randn(16, 16)], [torch.randn(8, 32)], None),
                   ValueError, "pkt: batch sizes differ: student layer 'act' gives (16, 16), teacher layer 'pairs' "
                               "gives (8, 32)"),
               Bad('pkt: Distill pkt_weight<0', lambda: Distill(nn.Linear(8, 4), PKT(), pkt_weight=-1.), ValueError,
                   '`pkt_weight`'),
               Bad('pkt: Distill pkt_weight string', lambda: Distill(nn.Linear(8, 4), PKT(), pkt_weight='30000'),
                   TypeError, '`pkt_weight` must be a number'),
               Bad('pkt: fit unknown student layer',
                   lambda: distill_fit(tiny_net(32), PKT('akt', 'act'), student=tiny_net()), ValueError,
                   "no layer 'akt' in the student"),
               Bad('pkt: fit unknown teacher layer',
                   lambda: distill_fit(tiny_net(32), PKT('act', 'layer4'), student=tiny_net()), ValueError,
                   "no layer 'layer4' in the teacher"),
               Bad('pkt: fit teacher layer with another batch size',
                   lambda: distill_fit(FoldPairs(), PKT('act', 'pairs'), student=tiny_net()), ValueError,
                   "pkt: batch sizes differ: student layer 'act' gives (16, 16), teacher layer 'pairs' gives (8, 16)"),
               Bad('pkt: fit by shape, teacher without an embedding layer',
                   lambda: distill_fit(nn.Linear(8, 4), PKT(), student=tiny_net()), ValueError,
                   'no embedding layer'),
               Bad('pkt: fit with a cached teacher',
                   lambda: distill_fit(ZeroCache(), PKT('act', 'act'), student=tiny_net(),
                                       dls=synth_dls(n=64, bs=16, with_idx=True)),
                   TypeError, "term 'pkt' reads teacher features, so the teacher must be an nn.Module")])

# ---------------------------------------------------------------------------------------------------------------
# fitnets: the hint loss, the regressor, the one-stage term inside a Learner, the two stages. FEATS: 4 samples of
# 8x3x3 feature maps; tiny_net's `act` layer gives (16, width) vectors.
FEATS = torch.randn(4, 8, 3, 3, generator=g)

def two_stage(**kw):
    "`fitnets_two_stage` on the synthetic data with MLPs; a bad argument stops it before anything trains."
    return fitnets_two_stage(synth_dls(n=64, bs=16), tiny_net(), tiny_net(32), quiet=True, **kw)

FITNETS_ROWS = (
    [Bad('fitnets: fitnets_loss fs not a tensor', lambda: fitnets_loss([1., 2.], FEATS), TypeError,
         '`fs` must be a tensor of features'),
     Bad('fitnets: fitnets_loss ft not a tensor', lambda: fitnets_loss(FEATS, FEATS.numpy()), TypeError,
         '`ft` must be a tensor of features'),
     Bad('fitnets: fitnets_loss integer fs', lambda: fitnets_loss(FEATS.long(), FEATS), TypeError,
         '`fs` must be a floating point tensor'),
     Bad('fitnets: fitnets_loss integer ft', lambda: fitnets_loss(FEATS, FEATS.long()), TypeError,
         '`ft` must be a floating point tensor'),
     Bad('fitnets: fitnets_loss 1-D fs', lambda: fitnets_loss(FEATS[0, 0, 0], FEATS[0, 0, 0]), ValueError,
         '`fs` must have shape (N, ...)'),
     Bad('fitnets: fitnets_loss batch sizes differ', lambda: fitnets_loss(FEATS, FEATS[:3]), ValueError,
         'batch sizes differ: `fs` has 4 samples, `ft` has 3'),
     Bad('fitnets: fitnets_loss shapes differ', lambda: fitnets_loss(FEATS, torch.randn(4, 16, 3, 3)), ValueError,
         '`fs` and `ft` shapes differ: (4, 8, 3, 3) vs (4, 16, 3, 3)'),
     Bad('fitnets: fitnets_loss empty batch', lambda: fitnets_loss(torch.randn(0, 8), torch.randn(0, 8)), ValueError,
         'are empty'),
     Bad('fitnets: fitnets_loss unknown reduction', lambda: fitnets_loss(FEATS, FEATS, reduction='batchmean'),
         ValueError, "`reduction` must be one of ('sum', 'mean')"),
     Bad('fitnets: fitnets_loss reduction None', lambda: fitnets_loss(FEATS, FEATS, reduction=None), ValueError,
         '`reduction`'),
     Bad('fitnets: HintRegressor ranks differ', lambda: HintRegressor((2, 8, 4, 4), (2, 32)), ValueError,
         'differ in rank'),
     Bad('fitnets: HintRegressor zero channels', lambda: HintRegressor((2, 0, 4, 4), (2, 32, 4, 4)), ValueError,
         '`s_shape` must be an int >= 1'),
     Bad('fitnets: HintRegressor float size', lambda: HintRegressor((2, 8, 4, 4), (2, 32, 4.5, 4)), TypeError,
         '`t_shape` must be an int'),
     Bad('fitnets: HintRegressor token lengths differ', lambda: HintRegressor((2, 5, 16), (2, 7, 64)), ValueError,
         'differ outside the last dimension'),
     Bad('fitnets: HintRegressor rank 1', lambda: HintRegressor((2,), (2,)), ValueError,
         'no regressor for features of rank 1'),
     Bad('fitnets: probe_features unknown layer',
         lambda: probe_features(NET, 'akt', torch.randn(1, 1, 3, 3), 'teacher'), ValueError,
         "no layer 'akt' in the teacher"),
     Bad('fitnets: FitNets unknown reduction', lambda: FitNets(reduction='batchmean'), ValueError,
         "`reduction` must be one of ('sum', 'mean')"),
     Bad('fitnets: FitNets unknown regressor option', lambda: FitNets(relu=False), TypeError,
         "unknown keyword(s) ['relu']; the regressor options are `bn` and `act`"),
     Bad('fitnets: FitNets regressor option without regressors',
         lambda: FitNets('act', 'act', connectors=None, bn=False), TypeError, "unknown keyword(s) ['bn']"),
     Bad('fitnets: FitNets unknown which', lambda: FitNets(which='middle'), ValueError, '`which` must be one of'),
     Bad('fitnets: FitNets student layers only', lambda: FitNets('act'), ValueError,
         'name both the student and the teacher layers, or neither'),
     Bad('fitnets: FitNets unknown connector rule', lambda: FitNets(connectors='every'), ValueError,
         "`connectors` must be None, 'auto', 'all'"),
     Bad('fitnets: FitNets unpaired layers', lambda: FitNets(['hidden', 'act'], 'act'), ValueError, '2 student layers'),
     Bad('fitnets: Distill fitnets_weight<0', lambda: Distill(nn.Linear(8, 4), FitNets(), fitnets_weight=-1.),
         ValueError, '`fitnets_weight`'),
     Bad('fitnets: fit unknown student layer',
         lambda: distill_fit(tiny_net(32), FitNets('hiden', 'act'), student=tiny_net()), ValueError,
         "no layer 'hiden' in the student"),
     Bad('fitnets: fit unknown teacher layer',
         lambda: distill_fit(tiny_net(32), FitNets('act', 'akt'), student=tiny_net()), ValueError,
         "no layer 'akt' in the teacher"),
     Bad('fitnets: fit feature shapes differ, no regressor',
         lambda: distill_fit(tiny_net(32), FitNets('act', 'act', connectors=None), student=tiny_net()), ValueError,
         "fitnets: feature shapes differ: student layer 'act' gives (16, 16), teacher layer 'act' gives (16, 32); "
         "pass a connector for this pair"),
     Bad('fitnets: fit regressor of the wrong size',
         lambda: distill_fit(tiny_net(32), FitNets('act', 'act', nn.Linear(16, 24)), student=tiny_net()), ValueError,
         "the connector must output the teacher feature's shape"),
     Bad('fitnets: fit layers by shape on MLPs',
         lambda: distill_fit(tiny_net(32), FitNets(), student=tiny_net()), ValueError,
         'no student and teacher stages share a spatial resolution (student: no maps'),
     Bad('fitnets: fit with a cached teacher',
         lambda: distill_fit(ZeroCache(), FitNets('act', 'act'), student=tiny_net(),
                             dls=synth_dls(n=64, bs=16, with_idx=True)),
         TypeError, "term 'fitnets' reads teacher features, so the teacher must be an nn.Module")]
    + number_rows('fitnets', 'FitNets', FitNets, {'weight': WEIGHT})
    + number_rows('fitnets', 'FitNetsKD', FitNetsKD, {'T': [0, -1., NAN, '3'], 'lam': WEIGHT, 'lam_end': [-1.]})
    + [Bad('fitnets: Distill fitnets_kd_weight<0', lambda: Distill(nn.Linear(8, 4), FitNetsKD(), fitnets_kd_weight=-1.),
           ValueError, '`fitnets_kd_weight`'),
       Bad('fitnets: fitnets_two_stage hint_epochs=0', lambda: two_stage(hint_epochs=0), ValueError,
           '`hint_epochs` must be an int >= 1'),
       Bad('fitnets: fitnets_two_stage epochs float', lambda: two_stage(epochs=1.5), TypeError,
           '`epochs` must be an int'),
       Bad('fitnets: fitnets_two_stage lr=0', lambda: two_stage(lr=0), ValueError, '`lr` must be a finite number > 0'),
       Bad('fitnets: HintStage without Distill', lambda: fit_tiny(HintStage(), student=tiny_net()), ValueError,
           'HintStage needs a `Distill` callback'),
       Bad('fitnets: HintStage without a feature term', lambda: fit_tiny(Distill(nn.Linear(8, 4), KD()), HintStage()),
           ValueError, 'HintStage needs a feature term'),
       Bad('fitnets: guided_parameters unknown layer', lambda: guided_parameters(tiny_net(), 'akt', torch.randn(2, 8)),
           ValueError, "no layer 'akt' in the student")])

_rkd_g = torch.Generator().manual_seed(1)
E_S, E_T = torch.randn(8, 4, generator=_rkd_g), torch.randn(8, 6, generator=_rkd_g)

class Regroup(nn.Module):
    "(N, D) -> (2N, D/2): a layer that regroups the batch (its output no longer has one row per sample)."
    def forward(self, x): return x.reshape(-1, x.shape[1] // 2)

class Ungroup(nn.Module):
    def forward(self, x): return x.reshape(-1, x.shape[1] * 2)

def regrouping_net() -> nn.Sequential:
    "An MLP on the 8 synthetic features whose layer `split` gives (2N, 16) for a batch of N."
    return nn.Sequential(OrderedDict(hidden=nn.Linear(8, 32), act=nn.ReLU(), split=Regroup(), join=Ungroup(),
                                     head=nn.Linear(32, 4)))

def embedding_rows(fname: str, f: Callable) -> list[Bad]:
    "`f(s, t)` with a bad student or teacher embedding: not a tensor, integer, 1-D, no samples, other batch sizes."
    return [
        Bad(f'rkd: {fname} s not a tensor', lambda: f(E_S.tolist(), E_T), TypeError, '`s` must be a tensor'),
        Bad(f'rkd: {fname} integer s', lambda: f(E_S.long(), E_T), TypeError, '`s` must be a floating point tensor'),
        Bad(f'rkd: {fname} integer t', lambda: f(E_S, E_T.long()), TypeError, '`t` must be a floating point tensor'),
        Bad(f'rkd: {fname} 1-D s', lambda: f(E_S[:, 0], E_T), ValueError, '`s` must have shape (N, D)'),
        Bad(f'rkd: {fname} 1-D t', lambda: f(E_S, E_T[0]), ValueError, '`t` must have shape (N, D)'),
        Bad(f'rkd: {fname} empty batch', lambda: f(E_S[:0], E_T[:0]), ValueError, '`s` holds no samples'),
        Bad(f'rkd: {fname} batch sizes differ', lambda: f(E_S, E_T[:6]), ValueError,
            'batch sizes differ: `s` has 8 samples, `t` has 6'),
    ]

RKD_ROWS = (
    embedding_rows('rkd_loss', rkd_loss) + embedding_rows('rkd_parts', rkd_parts)
    + number_rows('rkd', 'rkd_loss', lambda **kw: rkd_loss(E_S, E_T, **kw),
                  {'distance_weight': WEIGHT + [INF], 'angle_weight': WEIGHT + [INF]})
    + [variant_row('rkd', 'rkd_loss', lambda **kw: rkd_loss(E_S, E_T, **kw)),
       variant_row('rkd', 'rkd_parts', lambda **kw: rkd_parts(E_S, E_T, **kw))]
    + [Bad(f'rkd: {f.__name__} {what}', lambda f=f, e=e: f(e), exc, says)
       for f in (distance_potential, angle_potential)
       for what, e, exc, says in [('not a tensor', [[0., 1.]], TypeError, '`e` must be a tensor'),
                                  ('integer e', E_S.long(), TypeError, '`e` must be a floating point tensor'),
                                  ('1-D e', E_S[:, 0], ValueError, '`e` must have shape (N, D)'),
                                  ('no samples', E_S[:0], ValueError, '`e` holds no samples')]]
    + number_rows('rkd', 'RKD', RKD, {'distance_weight': WEIGHT + [INF], 'angle_weight': WEIGHT + [INF],
                                      'weight': WEIGHT})
    + [variant_row('rkd', 'RKD', RKD),
       Bad('rkd: RKD normalize not a bool', lambda: RKD(normalize='yes'), TypeError,
           '`normalize` must be True or False'),
       Bad('rkd: RKD misspelt keyword', lambda: RKD(distance_wieght=1.), TypeError,
           "unknown keyword(s) ['distance_wieght']"),
       Bad('rkd: RKD student layers only', lambda: RKD('act'), ValueError,
           'name both the student and the teacher layers, or neither'),
       Bad('rkd: RKD unknown which', lambda: RKD(which='first'), ValueError, '`which` must be one of'),
       Bad('rkd: Distill rkd_weight<0', lambda: Distill(nn.Linear(8, 4), RKD(), rkd_weight=-1.), ValueError,
           '`rkd_weight`'),
       Bad('rkd: fit unknown student layer', lambda: distill_fit(tiny_net(32), RKD('akt', 'act'), student=tiny_net()),
           ValueError, "no layer 'akt' in the student"),
       Bad('rkd: fit unknown teacher layer', lambda: distill_fit(tiny_net(32), RKD('act', 'flat'), student=tiny_net()),
           ValueError, "no layer 'flat' in the teacher"),
       Bad('rkd: fit teacher layer of another batch size',
           lambda: distill_fit(regrouping_net(), RKD('act', 'split'), student=tiny_net()), ValueError,
           "rkd: batch sizes differ: student layer 'act' gives (16, 16), teacher layer 'split' gives (32, 16)"),
       Bad('rkd: fit with a cached teacher',
           lambda: distill_fit(ZeroCache(), RKD(), student=tiny_net(), dls=synth_dls(n=64, bs=16, with_idx=True)),
           TypeError, "term 'rkd' reads teacher features, so the teacher must be an nn.Module")])

# --- crd: nbs/features/05_crd.ipynb ------------------------------------------------------------
# ---------------------------------------------------------------------------------------------------------------
# crd: the NCE loss on scores (N anchors, a positive and K negatives each), the bank helpers, the term. SCORES:
# 4 anchors, 1 positive + 6 negatives; the term on tiny_net MLPs over the 8-feature synthetic data (its `act` layer
# is the embedding), which must carry sample indices.
SCORES = torch.rand(4, 7, generator=g) * 2 - 1

def score_rows(fname: str, f, name: str) -> list[Bad]:
    "Scores that are not a tensor, not floating point, not (N, 1 + K) with K >= 1, or an empty batch, in `name`."
    return [Bad(f'crd: {fname} {name} a list', lambda: f(SCORES.tolist()), TypeError, f'`{name}` must be a tensor'),
            Bad(f'crd: {fname} integer {name}', lambda: f(torch.ones(4, 7, dtype=torch.long)), TypeError,
                f'`{name}` must be a floating point tensor'),
            Bad(f'crd: {fname} 1-D {name}', lambda: f(SCORES[0]), ValueError, f'`{name}` must have shape (N, 1 + K)'),
            Bad(f'crd: {fname} 3-D {name}', lambda: f(SCORES[None]), ValueError,
                f'`{name}` must have shape (N, 1 + K)'),
            Bad(f'crd: {fname} {name} without negatives', lambda: f(SCORES[:, :1]), ValueError,
                f'`{name}` must have shape (N, 1 + K): per anchor, the positive'),
            Bad(f'crd: {fname} {name} empty batch', lambda: f(SCORES[:0]), ValueError, f'`{name}` is an empty batch')]

COUNT = [0, -3, '100']           # bad values of a count (an int >= 1); a float is a TypeError too, see FLOAT_COUNTS

Z_BAD = [0, -1., NAN, INF, '2']  # bad values of a normalisation constant (a finite number > 0)

def crd_fit(term, teacher=None, dls=None, student=None):
    "`distill_fit` of `term` on tiny MLPs over synthetic data with sample indices (by default)."
    distill_fit(tiny_net(32) if teacher is None else teacher, term, student=student or tiny_net(),
                dls=dls or synth_dls(n=64, bs=16, with_idx=True))

def one_class_dls():
    "Synthetic data whose training labels are all 0 (no negative of another class exists)."
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    return arrays_dls(x, torch.zeros(40, dtype=torch.long), range(32), range(32, 40), bs=16, with_idx=True,
                      device='cpu')

def built_crd():
    "A CRD term built on the synthetic data (51 training samples: indices 0..50)."
    term = CRD()
    crd_fit(term)
    return term

CRD_ROWS = (
    score_rows('nce_loss', lambda x: nce_loss(x, 100), 'scores')
    + number_rows('crd', 'nce_loss', lambda **kw: nce_loss(SCORES, **{'n_data': 100, **kw}),
                  {'n_data': COUNT, 'T': POSITIVE, 'z': Z_BAD})
    + [variant_row('crd', 'nce_loss', lambda **kw: nce_loss(SCORES, 100, **kw)),
       Bad('crd: nce_loss n_data a bool', lambda: nce_loss(SCORES, True), TypeError, '`n_data` must be an int')]
    + score_rows('nce_z', lambda x: nce_z(x, 100), 'scores')
    + number_rows('crd', 'nce_z', lambda **kw: nce_z(SCORES, **{'n_data': 100, **kw}),
                  {'n_data': COUNT, 'T': POSITIVE})
    + score_rows('crd_loss', lambda x: crd_loss(x, SCORES, 100), 's')
    + score_rows('crd_loss', lambda x: crd_loss(SCORES, x, 100), 't')
    + number_rows('crd', 'crd_loss', lambda **kw: crd_loss(SCORES, SCORES, **{'n_data': 100, **kw}),
                  {'n_data': COUNT, 'T': POSITIVE})
    + [variant_row('crd', 'crd_loss', lambda **kw: crd_loss(SCORES, SCORES, 100, **kw)),
       Bad('crd: crd_loss shapes differ', lambda: crd_loss(SCORES, SCORES[:, :5], 100), ValueError,
           '`s` and `t` shapes differ: (4, 7) vs (4, 5)'),
       Bad('crd: crd_loss batch sizes differ', lambda: crd_loss(SCORES, SCORES[:3], 100), ValueError,
           '`s` and `t` shapes differ: (4, 7) vs (3, 7)'),
       Bad('crd: crd_loss z a number', lambda: crd_loss(SCORES, SCORES, 100, z=5.), TypeError,
           '`z` must be None or a pair (Z_s, Z_t)'),
       Bad('crd: crd_loss z of three', lambda: crd_loss(SCORES, SCORES, 100, z=(1., 2., 3.)), TypeError,
           '`z` must be None or a pair (Z_s, Z_t)'),
       Bad('crd: crd_loss z pair with 0', lambda: crd_loss(SCORES, SCORES, 100, z=(5., 0.)), ValueError,
           '`z` must be a finite number > 0'),
       Bad('crd: crd_loss z pair with NaN', lambda: crd_loss(SCORES, SCORES, 100, z=(NAN, 5.)), ValueError,
           '`z` must be a finite number > 0'),
       Bad('crd: crd_loss z pair with a string', lambda: crd_loss(SCORES, SCORES, 100, z=('5', 5.)), TypeError,
           '`z` must be a number')]
    + number_rows('crd', 'contrast_rows', lambda **kw: contrast_rows(torch.arange(4), **{'n_data': 10, 'k': 3, **kw}),
                  {'n_data': COUNT, 'k': COUNT})
    + [Bad('crd: contrast_rows every row of the anchor\'s class',
           lambda: contrast_rows(torch.arange(2), 4, 2, torch.zeros(4, dtype=torch.long)), ValueError,
           "negatives from other classes: every training sample has the anchor's class")]
    + number_rows('crd', 'momentum_update',
                  lambda **kw: momentum_update(torch.randn(10, 4), torch.arange(3), torch.randn(3, 4), **kw),
                  {'momentum': [1., -0.1, 1.5, NAN, INF, '0.5']})
    + [Bad('crd: momentum_update momentum a bool',
           lambda: momentum_update(torch.randn(10, 4), torch.arange(3), torch.randn(3, 4), True), TypeError,
           '`momentum` must be a number'),
       Bad('crd: training_samples items that are not indices',
           lambda: training_samples(type('D', (), {'train_ds': type('S', (), {'items': ['a.png', 'b.png']})()})()),
           TypeError, "the training set's items must be the sample indices its batches carry")]
    + number_rows('crd', 'CRD', CRD, {'feat_dim': COUNT, 'nce_k': COUNT, 'T': POSITIVE,
                                      'momentum': [1., -0.5, NAN, '0.5'], 'weight': WEIGHT})
    + [variant_row('crd', 'CRD', CRD),
       Bad('crd: CRD negatives unknown', lambda: CRD(negatives='hard'), ValueError,
           "`negatives` must be one of ('uniform', 'other-classes'), got 'hard'"),
       Bad('crd: CRD two layer pairs', lambda: CRD(['hidden', 'act'], ['hidden', 'act']), ValueError,
           "crd: CRD contrasts one pair of embeddings, got 2 layer pairs [('hidden', 'hidden'), ('act', 'act')]"),
       Bad('crd: CRD student layer without the teacher\'s', lambda: CRD('act'), ValueError,
           'name both the student and the teacher layers, or neither'),
       Bad('crd: CRD unknown keyword', lambda: CRD(nce_t=0.07), TypeError, "unknown keyword(s) ['nce_t']"),
       Bad('crd: CRD which unknown', lambda: CRD(which='penultimate'), ValueError, '`which` must be one of'),
       Bad('crd: Distill crd_weight<0', lambda: Distill(nn.Linear(8, 4), CRD(), crd_weight=-1.), ValueError,
           '`crd_weight`'),
       Bad('crd: Distill crd_weight string', lambda: Distill(nn.Linear(8, 4), CRD(), crd_weight='0.8'), TypeError,
           '`crd_weight` must be a number'),
       Bad('crd: fit data without sample indices', lambda: crd_fit(CRD(), dls=synth_dls(n=64, bs=16)), ValueError,
           'crd: the memory banks are addressed by sample index, and the data carries none: build it with '
           'kdnb.data.get_dls(..., with_idx=True)'),
       Bad('crd: fit unknown student layer', lambda: crd_fit(CRD('akt', 'act')), ValueError,
           "no layer 'akt' in the student"),
       Bad('crd: fit unknown teacher layer', lambda: crd_fit(CRD('act', 'layer4')), ValueError,
           "no layer 'layer4' in the teacher"),
       Bad('crd: fit by shape, teacher without an embedding layer', lambda: crd_fit(CRD(), teacher=nn.Linear(8, 4)),
           ValueError, 'no embedding layer'),
       Bad('crd: fit with a cached teacher', lambda: crd_fit(CRD('act', 'act'), teacher=ZeroCache()), TypeError,
           "term 'crd' reads teacher features, so the teacher must be an nn.Module"),
       Bad('crd: fit one training sample',
           lambda: crd_fit(CRD(), dls=arrays_dls(torch.randn(3, 8), torch.tensor([0, 1, 2]), [0], [1, 2], bs=1,
                                                 with_idx=True, device='cpu')),
           ValueError, 'crd: needs at least 2 training samples (a positive and a negative), got 1'),
       Bad('crd: fit code variant, one class in the training data', lambda: crd_fit(CRD(variant='code'),
                                                                                   dls=one_class_dls()),
           ValueError, "negatives from other classes: every training sample has the anchor's class"),
       Bad('crd: bank_rows of a sample outside the training set', lambda: built_crd().bank_rows(torch.tensor([3, 60])),
           ValueError, 'crd: sample indices [60] are not among the 51 training samples')])

FLOAT_COUNTS = [
    Bad('crd: nce_loss n_data=2.5', lambda: nce_loss(SCORES, 2.5), TypeError, '`n_data` must be an int'),
    Bad('crd: nce_z n_data=100.0', lambda: nce_z(SCORES, 100.), TypeError, '`n_data` must be an int'),
    Bad('crd: crd_loss n_data=2.5', lambda: crd_loss(SCORES, SCORES, 2.5), TypeError, '`n_data` must be an int'),
    Bad('crd: contrast_rows k=1.5', lambda: contrast_rows(torch.arange(4), 10, 1.5), TypeError, '`k` must be an int'),
    Bad('crd: CRD feat_dim=128.0', lambda: CRD(feat_dim=128.), TypeError, '`feat_dim` must be an int'),
    Bad('crd: CRD nce_k=1e4', lambda: CRD(nce_k=1e4), TypeError, '`nce_k` must be an int')]

CRD_ROWS = CRD_ROWS + FLOAT_COUNTS


# --- reviewkd: nbs/features/06_reviewkd.ipynb ------------------------------------------------------------
# ---------------------------------------------------------------------------------------------------------------
# reviewkd: the hierarchical context loss, the fusion, the review path, the term inside a Learner. RK_S, RK_T: one
# pair of (N, C, H, W) maps of equal shape (what the review path outputs and the teacher gives).
RK_S, RK_T = torch.randn(4, 3, 5, 5, generator=g), torch.randn(4, 3, 5, 5, generator=g)

RK_X, RK_R = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 2, 2, generator=g)   # abf_fuse: x, residual

RK_W, RK_B = torch.randn(2, 6, 1, 1, generator=g), torch.randn(2, generator=g)            # attention conv (M = 3)

RK_SHAPES_S = [(2, 4, 8, 8), (2, 8, 4, 4)]

RK_SHAPES_T = [(2, 8, 8, 8), (2, 16, 4, 4)]

def token_net(width: int = 16) -> nn.Sequential:
    "An MLP on the 8 synthetic features whose layer `tokens` outputs (N, 4, width // 4): neither a map nor a vector."
    return nn.Sequential(OrderedDict(hidden=nn.Linear(8, width), act=nn.ReLU(), tokens=nn.Unflatten(1, (4, width // 4)),
                                     flat=nn.Flatten(), head=nn.Linear(width, 4)))

def built_reviewkd(**kwargs) -> ReviewKD:
    "A `ReviewKD` on the conv nets of the AT rows (student 4/8 channels, teacher 8/16), built by creating a Learner."
    term = ReviewKD(**kwargs)
    Learner(at_image_dls(), at_conv_net(4), loss_func=CrossEntropyLossFlat(), cbs=Distill(at_conv_net(8), term))
    return term

REVIEWKD_ROWS = (
    [Bad('reviewkd: hcl_loss fs a number', lambda: hcl_loss(3., RK_T), TypeError,
         '`fs` must be a tensor or a list of tensors'),
     Bad('reviewkd: hcl_loss ft None', lambda: hcl_loss(RK_S, None), TypeError,
         '`ft` must be a tensor or a list of tensors'),
     Bad('reviewkd: hcl_loss list item not a tensor', lambda: hcl_loss([RK_S, [1., 2.]], [RK_T, RK_T]), TypeError,
         '`fs[1]` must be a tensor, got list'),
     Bad('reviewkd: hcl_loss integer fs', lambda: hcl_loss(RK_S.long(), RK_T), TypeError,
         '`fs[0]` must be floating point features, got torch.int64'),
     Bad('reviewkd: hcl_loss integer ft', lambda: hcl_loss(RK_S, RK_T.long()), TypeError,
         '`ft[0]` must be floating point features'),
     Bad('reviewkd: hcl_loss 3-D fs', lambda: hcl_loss(RK_S[0], RK_T[0]), ValueError,
         '`fs[0]` must be feature maps (N, C, H, W) or vectors (N, D), got (3, 5, 5)'),
     Bad('reviewkd: hcl_loss 1-D ft', lambda: hcl_loss(torch.randn(4, 3), torch.randn(4)), ValueError,
         '`ft[0]` must be feature maps (N, C, H, W) or vectors (N, D), got (4,)'),
     Bad('reviewkd: hcl_loss 5-D fs', lambda: hcl_loss(RK_S[None], RK_T[None]), ValueError,
         '`fs[0]` must be feature maps (N, C, H, W) or vectors (N, D), got (1, 4, 3, 5, 5)'),
     Bad('reviewkd: hcl_loss channels differ', lambda: hcl_loss(RK_S, torch.randn(4, 6, 5, 5)), ValueError,
         'feature pair 0: shapes differ: `fs[0]` is (4, 3, 5, 5), `ft[0]` is (4, 6, 5, 5)'),
     Bad('reviewkd: hcl_loss batch sizes differ', lambda: hcl_loss(RK_S, RK_T[:3]), ValueError,
         'feature pair 0: shapes differ: `fs[0]` is (4, 3, 5, 5), `ft[0]` is (3, 3, 5, 5)'),
     Bad('reviewkd: hcl_loss sizes differ', lambda: hcl_loss(RK_S, torch.randn(4, 3, 4, 4)), ValueError,
         "map the student's features onto the teacher's first (`ReviewPath`)"),
     Bad('reviewkd: hcl_loss second pair differs', lambda: hcl_loss([RK_S, RK_S], [RK_T, RK_T[:, :2]]), ValueError,
         'feature pair 1: shapes differ: `fs[1]` is (4, 3, 5, 5), `ft[1]` is (4, 2, 5, 5)'),
     Bad('reviewkd: hcl_loss unpaired lists', lambda: hcl_loss([RK_S, RK_S], [RK_T]), ValueError,
         'need as many student as teacher features (>0), got 2 and 1'),
     Bad('reviewkd: hcl_loss empty lists', lambda: hcl_loss([], []), ValueError,
         'need as many student as teacher features (>0), got 0 and 0'),
     Bad('reviewkd: hcl_loss empty batch', lambda: hcl_loss(RK_S[:0], RK_T[:0]), ValueError,
         'feature pair 0: `fs[0]` is empty, shape (0, 3, 5, 5)'),
     Bad('reviewkd: hcl_loss levels a number', lambda: hcl_loss(RK_S, RK_T, levels=4), TypeError,
         '`levels` must be a sequence of ints >= 1 (pooled sizes), got int'),
     Bad('reviewkd: hcl_loss levels a string', lambda: hcl_loss(RK_S, RK_T, levels='421'), TypeError,
         '`levels` must be a sequence of ints >= 1'),
     Bad('reviewkd: hcl_loss level 0', lambda: hcl_loss(RK_S, RK_T, levels=(4, 0)), ValueError,
         '`levels` must be an int >= 1, got 0'),
     Bad('reviewkd: hcl_loss negative level', lambda: hcl_loss(RK_S, RK_T, levels=(-2,)), ValueError,
         '`levels` must be an int >= 1, got -2'),
     Bad('reviewkd: hcl_loss level 2.5', lambda: hcl_loss(RK_S, RK_T, levels=(2.5,)), TypeError,
         '`levels` must be an int, got float'),
     Bad('reviewkd: hcl_loss level True', lambda: hcl_loss(RK_S, RK_T, levels=(True,)), TypeError,
         '`levels` must be an int, got bool'),
     Bad('reviewkd: hcl_weights level 0', lambda: hcl_weights((7, 7), (4, 0)), ValueError, '`levels` must be an int'),
     Bad('reviewkd: hcl_weights levels None', lambda: hcl_weights((7, 7), None), TypeError,
         '`levels` must be a sequence of ints'),
     # abf_fuse
     Bad('reviewkd: abf_fuse x not a tensor', lambda: abf_fuse(RK_X.tolist(), RK_R, RK_W, RK_B), TypeError,
         '`x` must be a tensor, got list'),
     Bad('reviewkd: abf_fuse residual None', lambda: abf_fuse(RK_X, None, RK_W, RK_B), TypeError,
         '`residual` must be a tensor, got NoneType'),
     Bad('reviewkd: abf_fuse weight not a tensor', lambda: abf_fuse(RK_X, RK_R, 1., RK_B), TypeError,
         '`weight` must be a tensor, got float'),
     Bad('reviewkd: abf_fuse 3-D x', lambda: abf_fuse(RK_X[0], RK_R, RK_W, RK_B), ValueError,
         '`x` must be feature maps (N, C, H, W), got (3, 4, 4)'),
     Bad('reviewkd: abf_fuse 2-D residual', lambda: abf_fuse(RK_X, RK_R[:, :, 0, 0], RK_W, RK_B), ValueError,
         '`residual` must be feature maps (N, C, H, W), got (2, 3)'),
     Bad('reviewkd: abf_fuse channels differ', lambda: abf_fuse(RK_X, torch.randn(2, 5, 2, 2), RK_W, RK_B), ValueError,
         '`x` (2, 3, 4, 4) and `residual` (2, 5, 2, 2) must have the same batch size and the same (mid) channels'),
     Bad('reviewkd: abf_fuse batch sizes differ', lambda: abf_fuse(RK_X, RK_R[:1], RK_W, RK_B), ValueError,
         'must have the same batch size and the same (mid) channels'),
     Bad('reviewkd: abf_fuse weight of another width', lambda: abf_fuse(RK_X, RK_R, torch.randn(2, 3, 1, 1), RK_B),
         ValueError, '`weight` must have shape (2, 6, 1, 1) for 3 mid channels, got (2, 3, 1, 1)'),
     Bad('reviewkd: abf_fuse weight 3x3', lambda: abf_fuse(RK_X, RK_R, torch.randn(2, 6, 3, 3), RK_B), ValueError,
         '`weight` must have shape (2, 6, 1, 1)'),
     # ABF, ReviewPath
     Bad('reviewkd: ABF c_in=0', lambda: ABF(0, 8, 8), ValueError, '`c_in` must be an int >= 1, got 0'),
     Bad('reviewkd: ABF c_mid string', lambda: ABF(4, '8', 8), TypeError, '`c_mid` must be an int, got str'),
     Bad('reviewkd: ABF c_out float', lambda: ABF(4, 8, 8.), TypeError, '`c_out` must be an int, got float'),
     Bad('reviewkd: ABF forward without residual', lambda: ABF(3, 4, 5)(RK_X), ValueError,
         "this ABF fuses: pass the deeper level's fused map as `residual`"),
     Bad('reviewkd: ReviewPath unpaired shapes', lambda: ReviewPath(RK_SHAPES_S, RK_SHAPES_T[:1]), ValueError,
         'got 2 student and 1 teacher shapes'),
     Bad('reviewkd: ReviewPath no shapes', lambda: ReviewPath([], []), ValueError,
         'need one teacher shape per student shape, at least one'),
     Bad('reviewkd: ReviewPath vector shape', lambda: ReviewPath([(2, 4)], [(2, 8, 1, 1)]), ValueError,
         '`s_shapes[0]` must be a map shape (N, C, H, W), got (2, 4)'),
     Bad('reviewkd: ReviewPath teacher token shape', lambda: ReviewPath(RK_SHAPES_S, [(2, 8, 8, 8), (2, 4, 16)]),
         ValueError, '`t_shapes[1]` must be a map shape (N, C, H, W), got (2, 4, 16)'),
     Bad('reviewkd: ReviewPath forward with too few features',
         lambda: ReviewPath(RK_SHAPES_S, RK_SHAPES_T)([torch.randn(2, 4, 8, 8)]), ValueError,
         'the review path has 2 levels, got 1 student features')]
    + number_rows('reviewkd', 'ReviewPath', lambda **kw: ReviewPath(RK_SHAPES_S, RK_SHAPES_T, **kw),
                  {'mid_channels': [0, -4], 'max_mid_channels': [0]})
    + [Bad('reviewkd: ReviewPath mid_channels float', lambda: ReviewPath(RK_SHAPES_S, RK_SHAPES_T, mid_channels=8.),
           TypeError, '`mid_channels` must be an int, got float')]
    # the term
    + number_rows('reviewkd', 'ReviewKD', ReviewKD, {'weight': WEIGHT, 'warmup': [-0.1, NAN, INF, '0.1'],
                                                     'mid_channels': [0, '8'], 'max_mid_channels': [0, -1]})
    + [Bad('reviewkd: ReviewKD warmup above 1', lambda: ReviewKD(warmup=1.5), ValueError,
           '`warmup` must be a fraction of training in [0, 1], got 1.5'),
       Bad('reviewkd: ReviewKD levels with 0', lambda: ReviewKD(levels=(4, 0)), ValueError, '`levels` must be an int'),
       Bad('reviewkd: ReviewKD levels a number', lambda: ReviewKD(levels=2), TypeError,
           '`levels` must be a sequence of ints'),
       Bad('reviewkd: ReviewKD which unknown', lambda: ReviewKD(which='deepest'), ValueError,
           "`which` must be one of ('stages', 'last', 'embedding')"),
       Bad('reviewkd: ReviewKD student layers only', lambda: ReviewKD('act1'), ValueError,
           'name both the student and the teacher layers, or neither'),
       Bad('reviewkd: ReviewKD unpaired layers', lambda: ReviewKD(['act1', 'act2'], 'act2'), ValueError,
           '2 student layers'),
       Bad('reviewkd: ReviewKD unknown keyword', lambda: ReviewKD(reduction='mean'), TypeError,
           "unexpected keyword argument 'reduction'"),
       Bad('reviewkd: ReviewKD.feature_loss before the path is built',
           lambda: ReviewKD('act2', 'act2').feature_loss([torch.randn(2, 8, 4, 4)], [torch.randn(2, 16, 4, 4)], None),
           RuntimeError, 'reviewkd: the review path is not built'),
       Bad('reviewkd: ReviewKD called outside Distill', lambda: ReviewKD('act', 'act')(KDBatch(s=S, t=T, y=Y)),
           RuntimeError, 'reviewkd: no hooks installed'),
       Bad('reviewkd: ReviewKD.feature_loss widths changed after build',
           lambda: built_reviewkd().feature_loss([torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)],
                                                 [torch.randn(2, 8, 8, 8), torch.randn(2, 12, 4, 4)], None),
           ValueError, 'reviewkd: level 1 of the review path was built for 8 student and 16 teacher channels, got '
                       '(2, 8, 4, 4) and (2, 12, 4, 4)'),
       Bad('reviewkd: ReviewKD.feature_loss pooled level widths changed',
           lambda: built_reviewkd(student_layers='act2', teacher_layers='act2').feature_loss(
               [torch.randn(2, 8, 4, 4)], [torch.randn(2, 12, 4, 4)], None),
           ValueError, 'reviewkd: level 0 of the review path was built for 8 student and 16 teacher channels'),
       Bad('reviewkd: ReviewKD.feature_loss a token layer',
           lambda: ReviewKD('act2', 'tokens').feature_loss([torch.randn(2, 8, 4, 4)], [torch.randn(2, 4, 4)], None),
           ValueError, "reviewkd: the review path needs maps (N, C, H, W) or vectors (N, D): student layer 'act2' "
                       "gives (2, 8, 4, 4), teacher layer 'tokens' gives (2, 4, 4)"),
       Bad('reviewkd: Distill reviewkd_weight<0', lambda: Distill(nn.Linear(8, 4), ReviewKD(), reviewkd_weight=-1.),
           ValueError, '`reviewkd_weight`'),
       Bad('reviewkd: Distill reviewkd_weight string',
           lambda: Distill(nn.Linear(8, 4), ReviewKD(), reviewkd_weight='5'), TypeError,
           '`reviewkd_weight` must be a number'),
       # inside a Learner: the error comes when the Learner is created (the review path is sized then)
       Bad('reviewkd: fit unknown student layer', lambda: at_fit(ReviewKD('akt2', 'act2')), ValueError,
           "no layer 'akt2' in the student"),
       Bad('reviewkd: fit unknown teacher layer', lambda: at_fit(ReviewKD('act2', 'layer2')), ValueError,
           "no layer 'layer2' in the teacher"),
       Bad('reviewkd: fit a token layer', lambda: distill_fit(token_net(32), ReviewKD('act', 'tokens'),
                                                                student=tiny_net()),
           ValueError, "reviewkd: the review path needs maps (N, C, H, W) or vectors (N, D): student layer 'act' "
                       "gives (13, 16), teacher layer 'tokens' gives (13, 4, 8)"),   # the probe batch: 13 samples
       Bad('reviewkd: fit batch sizes differ',
           lambda: distill_fit(tiny_net(32), ReviewKD('swap', 'act'), student=transposing_net()), ValueError,
           "reviewkd: batch sizes differ: student layer 'swap' gives (12, 13), teacher layer 'act' gives (13, 32)"),
       Bad('reviewkd: fit layers by shape on MLPs', lambda: distill_fit(tiny_net(32), ReviewKD(), student=tiny_net()),
           ValueError, 'no student and teacher stages share a spatial resolution'),
       Bad('reviewkd: fit by shape with a cached teacher',
           lambda: at_fit(ReviewKD(), teacher=ZeroCache(), dls=at_image_dls(with_idx=True)), TypeError,
           "term 'reviewkd' reads teacher features, so the teacher must be an nn.Module"),
       Bad('reviewkd: fit named layers with a cached teacher',
           lambda: distill_fit(ZeroCache(), ReviewKD('act', 'act'), student=tiny_net(),
                               dls=synth_dls(n=64, bs=16, with_idx=True)),
           TypeError, "term 'reviewkd' reads teacher features, so the teacher must be an nn.Module")])


# --- nd: nbs/features/07_nd.ipynb ------------------------------------------------------------
_nd_g = torch.Generator().manual_seed(2)

ND_S, ND_T = torch.randn(4, 6, generator=_nd_g), torch.randn(4, 6, generator=_nd_g)   # student, teacher embeddings

ND_C, ND_Y = torch.randn(3, 6, generator=_nd_g), torch.tensor([0, 1, 2, 0])           # 3 class centres, labels

def nd(**kw):
    "`nd_loss` on good inputs, with any of them replaced by `kw`."
    return nd_loss(**{**dict(s_emb=ND_S, t_emb=ND_T, y=ND_Y, centers=ND_C), **kw})

def torch_dls():
    "fastai DataLoaders around plain torch DataLoaders: no `train_ds.items` to compute class centres from."
    from fastai.data.core import DataLoaders
    from torch.utils.data import DataLoader, TensorDataset
    ds = TensorDataset(torch.randn(32, 8), torch.randint(0, 4, (32,)))
    return DataLoaders(DataLoader(ds, batch_size=16), DataLoader(ds, batch_size=16))

def nd_fit(term, teacher=None, student=None, dls=None, *more):
    "One epoch of a tiny MLP student (`act`: 16 features) distilled from an MLP teacher (`act`: 32) with `term`."
    distill_fit(teacher if teacher is not None else tiny_net(32), *more, term, student=student or tiny_net(), dls=dls)

ND_ROWS = (
    [Bad(f'kdpp: nd_loss {arg} {what}', lambda arg=arg, v=v: nd(**{arg: v}), exc, says)
     for arg in ('s_emb', 't_emb')
     for what, v, exc, says in [('a list', [[1., 2.], [3., 4.]], TypeError, f'`{arg}` must be a tensor'),
                                ('integer', torch.ones(4, 6, dtype=torch.long), TypeError,
                                 f'`{arg}` must be a floating point tensor'),
                                ('1-D', torch.randn(6), ValueError, f'`{arg}` must have shape (N, D) or (N, ...)'),
                                ('no samples', torch.randn(0, 6), ValueError, f'`{arg}` holds no samples')]]
    + [Bad('kdpp: nd_loss centers a list', lambda: nd(centers=ND_C.tolist()), TypeError, '`centers` must be a tensor'),
       Bad('kdpp: nd_loss integer centers', lambda: nd(centers=ND_C.long()), TypeError,
           '`centers` must be a floating point tensor'),
       Bad('kdpp: nd_loss 1-D centers', lambda: nd(centers=ND_C[0]), ValueError, '`centers` must have shape (C, D)'),
       Bad('kdpp: nd_loss no centers', lambda: nd(centers=ND_C[:0]), ValueError, '`centers` must have shape (C, D)'),
       Bad('kdpp: nd_loss batch sizes differ', lambda: nd(t_emb=torch.randn(5, 6)), ValueError,
           'batch sizes differ: `s_emb` has 4 samples, `t_emb` has 5'),
       Bad('kdpp: nd_loss widths differ (no projector)', lambda: nd(s_emb=torch.randn(4, 3)), ValueError,
           'widths differ: `s_emb` has 3 features, `t_emb` 6, `centers` 6'),
       Bad('kdpp: nd_loss centres of another width', lambda: nd(centers=torch.randn(3, 5)), ValueError,
           'widths differ: `s_emb` has 6 features, `t_emb` 6, `centers` 5'),
       Bad('kdpp: nd_loss y a list', lambda: nd(y=[0, 1, 2, 0]), TypeError, '`y` must be a tensor of class indices'),
       Bad('kdpp: nd_loss float y', lambda: nd(y=ND_Y.float()), TypeError, '`y` must hold integer class indices'),
       Bad('kdpp: nd_loss y of another length', lambda: nd(y=ND_Y[:3]), ValueError, '`y` must have shape (4,)'),
       Bad('kdpp: nd_loss y beyond the centres', lambda: nd(y=torch.tensor([0, 1, 2, 3])), ValueError,
           '`y` must hold class indices in [0, 3)'),
       Bad('kdpp: nd_loss negative y', lambda: nd(y=torch.tensor([0, -1, 2, 0])), ValueError,
           '`y` must hold class indices in [0, 3)'),
       Bad('kdpp: class_centers emb a list', lambda: class_centers(ND_T.tolist(), ND_Y), TypeError,
           '`emb` must be a tensor'),
       Bad('kdpp: class_centers y of another length', lambda: class_centers(ND_T, ND_Y[:2]), ValueError,
           '`y` must have shape (4,)'),
       Bad('kdpp: class_centers y beyond n_classes', lambda: class_centers(ND_T, ND_Y, n_classes=2), ValueError,
           '`y` must hold class indices in [0, 2)'),
       Bad('kdpp: class_centers n_classes=0', lambda: class_centers(ND_T, ND_Y, n_classes=0), ValueError,
           '`n_classes` must be an int >= 1'),
       Bad('kdpp: class_centers n_classes float', lambda: class_centers(ND_T, ND_Y, n_classes=3.), TypeError,
           '`n_classes` must be an int'),
       Bad('kdpp: class_centers decimals=-1', lambda: class_centers(ND_T, ND_Y, decimals=-1), ValueError,
           '`decimals` must be an int >= 0'),
       Bad('kdpp: class_centers decimals float', lambda: class_centers(ND_T, ND_Y, decimals=4.), TypeError,
           '`decimals` must be an int'),
       Bad('kdpp: teacher_class_centers teacher not a module',
           lambda: teacher_class_centers(lambda x: x, 'act', synth_dls(n=64, bs=16)), TypeError,
           'the teacher must be an nn.Module'),
       Bad('kdpp: teacher_class_centers unknown layer',
           lambda: teacher_class_centers(tiny_net(32), 'akt', synth_dls(n=64, bs=16)), ValueError,
           "no layer 'akt' in the teacher"),
       Bad('kdpp: teacher_class_centers decimals=-1',
           lambda: teacher_class_centers(tiny_net(32), 'act', synth_dls(n=64, bs=16), decimals=-1), ValueError,
           '`decimals` must be an int >= 0'),
       Bad('kdpp: teacher_class_centers labels beyond the teacher\'s classes',
           lambda: teacher_class_centers(tiny_net(32, n_out=3), 'act', synth_dls(n=64, bs=16)), ValueError,
           '`y` must hold class indices in [0, 3)'),
       Bad('kdpp: teacher_class_centers data without training items',
           lambda: teacher_class_centers(tiny_net(32), 'act', torch_dls()), TypeError,
           "the teacher's class centres are computed from the training items of fastai DataLoaders"),
       Bad('kdpp: plain_train_dl not DataLoaders', lambda: plain_train_dl([1, 2, 3]), TypeError,
           'list has none: compute them yourself'),
       Bad('kdpp: EmbTrans d_in=0', lambda: EmbTrans(0, 8), ValueError, '`d_in` must be an int >= 1'),
       Bad('kdpp: EmbTrans d_out float', lambda: EmbTrans(4, 8.), TypeError, '`d_out` must be an int'),
       Bad('kdpp: EmbTrans p=1', lambda: EmbTrans(4, 8, p=1.), ValueError, '`p` must be a number in [0, 1)'),
       Bad('kdpp: EmbTrans p=NaN', lambda: EmbTrans(4, 8, p=NAN), ValueError, '`p` must be a number in [0, 1)'),
       Bad('kdpp: EmbTrans p string', lambda: EmbTrans(4, 8, p='0.5'), TypeError, '`p` must be a number')]
    + number_rows('kdpp', 'ND', ND, {'weight': WEIGHT})
    + [variant_row('kdpp', 'ND', ND),
       Bad('kdpp: ND dropout=1', lambda: ND(dropout=1.), ValueError, '`dropout` must be a number in [0, 1)'),
       Bad('kdpp: ND dropout<0', lambda: ND(dropout=-0.1), ValueError, '`dropout` must be a number in [0, 1)'),
       Bad('kdpp: ND dropout string', lambda: ND(dropout='0.5'), TypeError, '`dropout` must be a number'),
       Bad('kdpp: ND cache not a bool', lambda: ND(cache='yes'), TypeError, '`cache` must be True or False'),
       Bad('kdpp: ND centers a list', lambda: ND(centers=[[0., 1.]]), TypeError, '`centers` must be a tensor'),
       Bad('kdpp: ND integer centers', lambda: ND(centers=torch.ones(3, 4, dtype=torch.long)), TypeError,
           '`centers` must be a floating point tensor'),
       Bad('kdpp: ND 1-D centers', lambda: ND(centers=torch.randn(4)), ValueError, '`centers` must have shape (C, D)'),
       Bad('kdpp: ND NaN centers', lambda: ND(centers=torch.tensor([[0., NAN]])), ValueError,
           '`centers` must be finite'),
       Bad('kdpp: ND two layer pairs', lambda: ND(['hidden', 'act'], ['hidden', 'act']), ValueError,
           'ND reads one pair of layers (the embeddings), got 2'),
       Bad('kdpp: ND student layer without the teacher\'s', lambda: ND('act'), ValueError,
           'name both the student and the teacher layers, or neither'),
       Bad('kdpp: ND connectors unknown rule', lambda: ND(connectors='some'), ValueError,
           "`connectors` must be None, 'auto', 'all'"),
       Bad('kdpp: ND unknown keyword', lambda: ND(which='stages'), TypeError, "unexpected keyword argument 'which'"),
       Bad('kdpp: ND called outside Distill', lambda: ND('act', 'act')(KDBatch(s=S, t=T, y=Y)), RuntimeError,
           'nd: no hooks installed'),
       Bad('kdpp: ND.feature_loss without labels',
           lambda: ND('act', 'act', centers=ND_C).feature_loss([ND_S], [ND_T], KDBatch(s=S, t=T, y=None)), ValueError,
           'nd: the ND loss needs the labels'),
       Bad('kdpp: Distill nd_weight<0', lambda: Distill(nn.Linear(8, 4), WarmupKD(), ND(), nd_weight=-1.), ValueError,
           '`nd_weight`'),
       Bad('kdpp: Distill kd_weight string', lambda: Distill(nn.Linear(8, 4), WarmupKD(), ND(), kd_weight='1'),
           TypeError, '`kd_weight` must be a number'),
       Bad('kdpp: fit unknown student layer', lambda: nd_fit(ND('akt', 'act')), ValueError,
           "no layer 'akt' in the student"),
       Bad('kdpp: fit unknown teacher layer', lambda: nd_fit(ND('act', 'flat')), ValueError,
           "no layer 'flat' in the teacher"),
       Bad('kdpp: fit widths differ, no projector', lambda: nd_fit(ND('act', 'act', connectors=None)), ValueError,
           "nd: feature shapes differ: student layer 'act' gives (16, 16), teacher layer 'act' gives (16, 32); let ND "
           "add a projector"),
       Bad('kdpp: fit projector of the wrong width', lambda: nd_fit(ND('act', 'act', connectors=nn.Linear(16, 24))),
           ValueError, "student layer 'act' gives (16, 24) after its projector, teacher layer 'act' gives (16, 32); "
                       "the projector must output the teacher's width"),
       Bad('kdpp: fit centres of another width', lambda: nd_fit(ND('act', 'act', centers=torch.randn(4, 8))),
           ValueError, 'widths differ: `s_emb` has 32 features, `t_emb` 32, `centers` 8'),
       Bad('kdpp: fit centres of fewer classes than the labels',
           lambda: nd_fit(ND('act', 'act', centers=torch.randn(2, 32))), ValueError,
           "`y` must hold class indices in [0, 2)"),
       Bad('kdpp: fit teacher of fewer classes than the labels', lambda: nd_fit(ND(), tiny_net(32, n_out=3)),
           ValueError, '`y` must hold class indices in [0, 3)'),
       Bad('kdpp: fit by shape, teacher without an embedding layer', lambda: nd_fit(ND(), nn.Linear(8, 4)), ValueError,
           'no embedding layer'),
       Bad('kdpp: fit data without training items', lambda: nd_fit(ND('act', 'act', connectors=None), dls=torch_dls()),
           TypeError,
           "the teacher's class centres are computed from the training items of fastai DataLoaders"),
       Bad('kdpp: fit with a cached teacher',
           lambda: nd_fit(ND('act', 'act'), ZeroCache(), dls=synth_dls(n=64, bs=16, with_idx=True)), TypeError,
           "term 'nd' reads teacher features, so the teacher must be an nn.Module")]
    + number_rows('kdpp', 'WarmupKD', WarmupKD, {'T': POSITIVE, 'warmup_pct': [0, -0.1, NAN, 1.5, '0.1']})
    + number_rows('kdpp', 'WarmupKD', lambda **kw: WarmupKD(warmup_pct=None, **kw),
                  {'warmup_epochs': [0, -1., INF, '20']})
    + [Bad('kdpp: WarmupKD both warm-ups', lambda: WarmupKD(warmup_pct=0.1, warmup_epochs=20), ValueError,
           'give at most one of `warmup_pct` and `warmup_epochs`'),
       Bad('dkdpp: Distill nd_weight<0', lambda: Distill(nn.Linear(8, 4), DKD(beta=6.), ND(weight=1.), nd_weight=-1.),
           ValueError, '`nd_weight`'),
       Bad('dkdpp: Distill dkd_weight NaN', lambda: Distill(nn.Linear(8, 4), DKD(beta=6.), ND(weight=1.),
                                                             dkd_weight=NAN), ValueError, '`dkd_weight`'),
       Bad('dkdpp: ND weight<0 next to DKD', lambda: Distill(nn.Linear(8, 4), DKD(beta=6.), ND(weight=-1.)), ValueError,
           '`weight` must be a finite number >= 0'),
       Bad('dkdpp: fit with a cached teacher',
           lambda: nd_fit(ND('act', 'act', weight=1.), ZeroCache(), None, synth_dls(n=64, bs=16, with_idx=True),
                          DKD(beta=6.)), TypeError, "term 'nd' reads teacher features, so the teacher must be an "
                                                    "nn.Module"),
       Bad('dkdpp: fit widths differ, no projector',
           lambda: nd_fit(ND('act', 'act', connectors=None, weight=1.), None, None, None, DKD(beta=6.)), ValueError,
           "nd: feature shapes differ: student layer 'act' gives (16, 16), teacher layer 'act' gives (16, 32)")])


# --- ofa_branches: nbs/features/08_ofa_branches.ipynb ------------------------------------------------------------
def token_net_ofa_branches() -> nn.Sequential:
    "A student on the 8 synthetic features whose layer `tokens` gives (N, 4, 4) token features."
    return nn.Sequential(OrderedDict(lift=nn.Linear(8, 16), tokens=nn.Unflatten(1, (4, 4)), flat=nn.Flatten(),
                                     head=nn.Linear(16, 4)))

def conv_net() -> nn.Sequential:
    "A student on the 8 synthetic features seen as 2x2x2 maps: `conv` gives (N, 4, 2, 2) maps, `flat` the embedding."
    return nn.Sequential(OrderedDict(img=nn.Unflatten(1, (2, 2, 2)), conv=nn.Conv2d(2, 4, 1),
                                     pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), head=nn.Linear(4, 4)))

def ofab(**kw): return ofa_branches_loss([S, S.flip(0)], T, Y, **kw)

OFA_BRANCHES_ROWS = (
    number_rows('ofa_branches', 'ofa_branches_loss', ofab, {'eps': POSITIVE, 'T': POSITIVE})
    + [variant_row('ofa_branches', 'ofa_branches_loss', ofab),
       Bad('ofa_branches: ofa_branches_loss eps list with a zero', lambda: ofab(eps=[1., 0.]), ValueError, '`eps[1]`'),
       Bad('ofa_branches: ofa_branches_loss eps list with a string', lambda: ofab(eps=[1., '1']), TypeError,
           '`eps[1]` must be a number'),
       Bad('ofa_branches: ofa_branches_loss eps list too short', lambda: ofab(eps=[1.]), ValueError,
           '`eps` gives 1 exponents for 2 branches'),
       Bad('ofa_branches: ofa_branches_loss no branch', lambda: ofa_branches_loss([], T, Y), ValueError,
           '`zs` is empty'),
       Bad('ofa_branches: ofa_branches_loss zs a dict', lambda: ofa_branches_loss({'stem': S}, T, Y), TypeError,
           '`zs` must be a tensor or a list of tensors'),
       Bad('ofa_branches: ofa_branches_loss a branch not a tensor', lambda: ofa_branches_loss([S, S.tolist()], T, Y),
           TypeError, '`zs[1]` must be a tensor of logits, got list'),
       Bad('ofa_branches: ofa_branches_loss a branch with other classes', lambda: ofa_branches_loss([S, T_WIDE], T, Y),
           ValueError, "`zs[1]` has shape (4, 6) but the teacher's logits `t` (4, 5)"),
       Bad('ofa_branches: ofa_branches_loss integer branch logits', lambda: ofa_branches_loss([S, S_INT], T, Y),
           TypeError, 'must be floating point logits'),
       Bad('ofa_branches: ofa_branches_loss label out of range', lambda: ofa_branches_loss([S], T, Y_HIGH), ValueError,
           '`y` must hold class indices in [0, 5)')]
    + number_rows('ofa_branches', 'OFABranches', OFABranches, {'eps': POSITIVE, 'T': POSITIVE})
    + number_rows('ofa_branches', 'OFABranches', OFABranches, {'width': [0, -4]})
    + [variant_row('ofa_branches', 'OFABranches', OFABranches),
       Bad('ofa_branches: OFABranches width a float', lambda: OFABranches(width=64.), TypeError,
           '`width` must be an int'),
       Bad('ofa_branches: OFABranches width a string', lambda: OFABranches(width='64'), TypeError,
           '`width` must be an int'),
       Bad('ofa_branches: OFABranches eps list with inf', lambda: OFABranches(eps=[1., INF]), ValueError, '`eps[1]`'),
       Bad('ofa_branches: OFABranches eps list for other stages', lambda: OFABranches(['a', 'b'], eps=[1.]),
           ValueError, '`eps` gives 1 exponents for 2 branches'),
       Bad('ofa_branches: OFABranches stages a number', lambda: OFABranches(stages=3), TypeError,
           'layer names must be a string or a list of strings'),
       Bad('ofa_branches: OFABranches stages empty', lambda: OFABranches(stages=[]), ValueError,
           'need at least one layer name'),
       Bad('ofa_branches: OFABranches misspelt keyword', lambda: OFABranches(epsilon=1.), TypeError, 'epsilon'),
       Bad('ofa_branches: OFABranches called outside Distill', lambda: OFABranches('hidden')(KDBatch(s=S, t=T, y=Y)),
           RuntimeError, 'ofa_branches: no hooks installed'),
       Bad('ofa_branches: Distill ofa_branches_weight<0',
           lambda: Distill(nn.Linear(8, 4), OFA(), OFABranches(), ofa_branches_weight=-1.), ValueError,
           '`ofa_branches_weight`'),
       Bad('ofa_branches: Distill ofa_branches_weight string',
           lambda: Distill(nn.Linear(8, 4), OFA(), OFABranches(), ofa_branches_weight='1'), TypeError,
           '`ofa_branches_weight` must be a number'),
       Bad('ofa_branches: fit unknown stage', lambda: distill_fit(nn.Linear(8, 4), OFABranches('hiden'),
                                                                   student=tiny_net()),
           ValueError, "no layer 'hiden' in the student"),
       Bad('ofa_branches: fit student without a stage',
           lambda: distill_fit(nn.Linear(8, 4), OFABranches(), student=nn.Linear(8, 4)), ValueError,
           'no stage to branch from'),
       Bad('ofa_branches: fit a stage of token features',
           lambda: distill_fit(nn.Linear(8, 4), OFABranches('tokens'), student=token_net_ofa_branches()), ValueError,
           "stage 'tokens' gives features of shape (13, 4, 4): exit branches are built for (N, C, H, W) maps"),
       Bad('ofa_branches: fit eps list for another number of stages',
           lambda: distill_fit(nn.Linear(8, 4), OFABranches(eps=[1., 1.5]), student=tiny_net()), ValueError,
           '`eps` gives 2 exponents for 1 branches'),
       Bad('ofa_branches: fit code variant with a cached teacher',
           lambda: distill_fit(ZeroCache(), OFABranches(variant='code'), student=conv_net(),
                               dls=synth_dls(n=64, bs=16, with_idx=True)),
           TypeError, "variant='code' sizes CNN branches max(D_s, D_t) from the teacher's embedding width"),
       Bad('ofa_branches: fit code variant, teacher without an embedding layer',
           lambda: distill_fit(nn.Linear(8, 4), OFABranches(variant='code'), student=conv_net()), ValueError,
           'no embedding layer'),
       Bad('ofa_branches: SepConv c_in=0', lambda: SepConv(0, 4), ValueError, '`c_in`'),
       Bad('ofa_branches: SepConv c_out a float', lambda: SepConv(4, 2.5), TypeError, '`c_out` must be an int'),
       Bad('ofa_branches: make_branch maps without a width', lambda: make_branch((4, 8, 3, 3), 10), ValueError,
           "give the branch's `width`"),
       Bad('ofa_branches: make_branch width=0', lambda: make_branch((4, 8, 3, 3), 10, width=0), ValueError,
           '`width`'),
       Bad('ofa_branches: make_branch n_classes=0', lambda: make_branch((4, 8), 0), ValueError, '`n_classes`'),
       Bad('ofa_branches: make_branch token features', lambda: make_branch((4, 49, 32), 10, name='blocks'),
           ValueError, "stage 'blocks' gives features of shape (4, 49, 32)"),
       Bad('ofa_branches: branch_points model without a stage',
           lambda: branch_points(nn.Linear(8, 4), torch.randn(2, 8)), ValueError, 'no stage to branch from')]
    + feature_rows('ofa_branches', 'cka', lambda x: cka(x, F_T), 'x')
    + feature_rows('ofa_branches', 'cka', lambda y: cka(F_S, y), 'y')
    + feature_rows('ofa_branches', 'centered_gram', centered_gram, 'x')
    + [Bad('ofa_branches: cka batch sizes differ', lambda: cka(F_S, F_TALL), ValueError,
           'batch sizes differ: `x` has 4 samples, `y` has 5'),
       Bad('ofa_branches: cka_matrix no layer', lambda: cka_matrix([], [F_T]), ValueError,
           '`xs` and `ys` need at least one layer each'),
       Bad('ofa_branches: cka_matrix a layer of other samples', lambda: cka_matrix([F_S], [F_T, F_TALL]), ValueError,
           'batch sizes differ: `xs[0]` has 4 samples, `ys[1]` has 5'),
       Bad('ofa_branches: cka_matrix a layer not a tensor', lambda: cka_matrix([F_S, F_S.tolist()], [F_T]), TypeError,
           '`xs[1]` must be a tensor'),
       Bad('ofa_branches: cka_matrix integer features', lambda: cka_matrix([F_S], [F_T.long()]), TypeError,
           '`ys[0]` must be a floating point tensor')])


# --- layer_selection: nbs/features/09_layer_selection.ipynb ---------------------------------------------------------
# ---------------------------------------------------------------------------------------------------------------
# layer_forward (kdnb.methods.layer_selection): maps of layer indices, the matching loss on feature maps LS_FS/LS_FT
# (2 samples, 3 channels, 4x4), the term inside a Learner with the AT rows' conv nets (block outputs act1 8x8, act2
# 4x4, pool 1x1), the angle analysis on a student map and teacher maps of the same 2 images.
LS_FS = torch.randn(2, 3, 4, 4, generator=g)

LS_FT = torch.randn(2, 3, 4, 4, generator=g)

LS_TEACHER_MAPS = [torch.randn(2, 5, 2, 2, generator=g), torch.randn(2, 4, 4, 4, generator=g)]

LAYER_SELECTION_COUNT = [0, -2, 2.5, '3']   # bad values of a count (an int >= 1)

def count_rows(fname: str, f, names=('n_student', 'n_teacher')) -> list[Bad]:
    "Each count argument of `f` set to each bad count: a TypeError for a non-int, a ValueError below 1."
    return [Bad(f'layer_forward: {fname} {name}={v!r}', lambda name=name, v=v: f(**{name: v}),
                TypeError if isinstance(v, (str, float)) else ValueError, f'`{name}`')
            for name in names for v in LAYER_SELECTION_COUNT]

LAYER_SELECTION_ROWS = (
    count_rows('layer_map', lambda **kw: layer_map(**{**dict(n_student=3, n_teacher=12), **kw}))
    + [Bad('layer_forward: layer_map unknown strategy', lambda: layer_map(3, 12, 'backward'), ValueError,
           "`strategy` must be one of ('forward', 'reverse', 'random', 'all-to-one'), got 'backward'"),
       Bad('layer_forward: layer_map strategy None', lambda: layer_map(3, 12, None), ValueError,
           '`strategy` must be one of'),
       Bad('layer_forward: layer_map negative seed', lambda: layer_map(3, 12, 'random', seed=-1), ValueError,
           '`seed` must be an int >= 0'),
       Bad('layer_forward: layer_map seed a string', lambda: layer_map(3, 12, 'random', seed='0'), TypeError,
           '`seed` must be an int'),
       Bad('layer_forward: block_outputs depth 0', lambda: block_outputs(at_conv_net(4), torch.randn(1, 1, 8, 8), 0),
           ValueError, '`depth` must be an int >= 1'),
       # the matching loss
       Bad('layer_forward: layer_match_loss fs a list of numbers', lambda: layer_match_loss([[1., 2.]], [LS_FT]),
           TypeError, '`fs` must be a tensor'),
       Bad('layer_forward: layer_match_loss ft a number', lambda: layer_match_loss(LS_FS, 3.), TypeError,
           '`ft` must be a tensor or a list of tensors'),
       Bad('layer_forward: layer_match_loss integer fs', lambda: layer_match_loss(LS_FS.long(), LS_FT), TypeError,
           '`fs` must be a floating point tensor'),
       Bad('layer_forward: layer_match_loss integer ft', lambda: layer_match_loss(LS_FS, LS_FT.long()), TypeError,
           '`ft` must be a floating point tensor'),
       Bad('layer_forward: layer_match_loss 1-D features', lambda: layer_match_loss(LS_FS[0, 0, 0], LS_FT[0, 0, 0]),
           ValueError, '`fs` must have shape (N, D), (N, L, D) or (N, C, H, W), got (4,)'),
       Bad('layer_forward: layer_match_loss 5-D features', lambda: layer_match_loss(LS_FS[None], LS_FT[None]),
           ValueError, '`fs` must have shape (N, D), (N, L, D) or (N, C, H, W), got (1, 2, 3, 4, 4)'),
       Bad('layer_forward: layer_match_loss shapes differ', lambda: layer_match_loss(LS_FS, LS_FT[:, :2]), ValueError,
           '`fs` and `ft` shapes differ: (2, 3, 4, 4) vs (2, 2, 4, 4)'),
       Bad('layer_forward: layer_match_loss shapes differ in pair 1',
           lambda: layer_match_loss([LS_FS, LS_FS], [LS_FT, LS_FT[:, :, :2]]), ValueError,
           '`fs` and `ft` shapes differ (pair 1): (2, 3, 4, 4) vs (2, 3, 2, 4)'),
       Bad('layer_forward: layer_match_loss empty batch', lambda: layer_match_loss(LS_FS[:0], LS_FT[:0]), ValueError,
           '`fs` and `ft` are empty'),
       Bad('layer_forward: layer_match_loss unpaired', lambda: layer_match_loss([LS_FS, LS_FS], [LS_FT]), ValueError,
           'need as many student as teacher features (>0), got 2 and 1'),
       variant_row('layer_forward', 'layer_match_loss', lambda **kw: layer_match_loss(LS_FS, LS_FT, **kw)),
       # the term: constructor
       Bad('layer_forward: LayerMatch unknown strategy', lambda: LayerMatch('middle'), ValueError,
           '`strategy` must be one of'),
       Bad('layer_forward: LayerMatch negative seed', lambda: LayerMatch('random', seed=-3), ValueError,
           '`seed` must be an int >= 0'),
       Bad('layer_forward: LayerMatch seed a float', lambda: LayerMatch('random', seed=1.5), TypeError,
           '`seed` must be an int'),
       Bad('layer_forward: LayerMatch connectors None', lambda: LayerMatch(connectors=None), ValueError,
           "`connectors` must be one of ('auto', 'all')"),
       Bad('layer_forward: LayerMatch connectors unknown rule', lambda: LayerMatch(connectors='some'), ValueError,
           "`connectors` must be one of ('auto', 'all')"),
       Bad('layer_forward: LayerMatch connectors a module', lambda: LayerMatch(connectors=torch.nn.Identity()),
           ValueError, "`connectors` must be one of ('auto', 'all')"),
       Bad('layer_forward: LayerMatch empty student layers', lambda: LayerMatch(student_layers=[]), ValueError,
           'need at least one layer name'),
       Bad('layer_forward: LayerMatch teacher layer a number', lambda: LayerMatch(teacher_layers=['act1', 2]),
           TypeError, 'layer names must be strings'),
       Bad('layer_forward: LayerMatch unknown connector option', lambda: LayerMatch(relu=True), TypeError,
           "unknown keyword(s) ['relu']; the connector options are `bn`, `act` (maps), `bias` (vectors)"),
       variant_row('layer_forward', 'LayerMatch', lambda **kw: LayerMatch(**kw))]
    + number_rows('layer_forward', 'LayerMatch', lambda **kw: LayerMatch(**kw), {'weight': WEIGHT})
    + count_rows('LayerMatch', lambda **kw: LayerMatch(**kw), names=('depth',))
    # the term in a Learner
    + [Bad('layer_forward: fit unknown student layer',
           lambda: at_fit(LayerMatch(student_layers=['act1', 'act3'])), ValueError, "no layer 'act3' in the student"),
       Bad('layer_forward: fit unknown teacher layer',
           lambda: at_fit(LayerMatch(teacher_layers=['cnv1', 'act2'])), ValueError, "no layer 'cnv1' in the teacher"),
       Bad('layer_forward: fit with a cached teacher',
           lambda: distill_fit(ZeroCache(), LayerMatch(), student=tiny_net(),
                               dls=synth_dls(n=64, bs=16, with_idx=True)),
           TypeError, "term 'layer_match' reads teacher features, so the teacher must be an nn.Module"),
       Bad('layer_forward: fit student without feature maps',
           lambda: distill_fit(tiny_net(32), LayerMatch(), student=tiny_net()), ValueError,
           "layer_match: no (N, C, H, W) feature maps among the student's layers (depth 2); name the layers to "
           "match: `student_layers=[...]`"),
       Bad('layer_forward: fit vectors matched to maps without a connector that fits',
           lambda: at_fit(LayerMatch(student_layers=['flat'], teacher_layers=['act1'])), ValueError,
           'student feature shape (16, 8) and teacher feature shape (16, 8, 8, 8) differ in rank'),
       Bad('layer_forward: LayerMatch called outside Distill', lambda: LayerMatch()(KDBatch(s=S, t=T, y=Y)),
           RuntimeError, 'layer_match: no hooks installed'),
       Bad('layer_forward: Distill layer_match_weight<0',
           lambda: Distill(torch.nn.Linear(8, 4), LayerMatch(), PredictionKL(), layer_match_weight=-1.), ValueError,
           '`layer_match_weight`'),
       Bad('layer_forward: Distill pred_kl_weight string',
           lambda: Distill(torch.nn.Linear(8, 4), LayerMatch(), PredictionKL(), pred_kl_weight='1'), TypeError,
           '`pred_kl_weight` must be a number')]
    # the prediction term
    + number_rows('layer_forward', 'PredictionKL', lambda **kw: PredictionKL(**kw), {'T': POSITIVE})
    + [Bad('layer_forward: PredictionKL class counts differ',
           lambda: PredictionKL()(KDBatch(s=S, t=torch.randn(4, 6), y=Y)), ValueError, 'class count differs'),
       Bad('layer_forward: PredictionKL integer student logits',
           lambda: PredictionKL()(KDBatch(s=S.long(), t=T, y=Y)), TypeError, '`s` must be floating point'),
       Bad('layer_forward: strategy_method unknown strategy', lambda: strategy_method('shuffle'), ValueError,
           '`strategy` must be one of'),
       # the angle analysis
       Bad('layer_forward: pull_directions s a list', lambda: pull_directions(LS_FS.tolist(), LS_TEACHER_MAPS),
           TypeError, '`s` must be a tensor'),
       Bad('layer_forward: pull_directions integer s', lambda: pull_directions(LS_FS.long(), LS_TEACHER_MAPS),
           TypeError, '`s` must be a floating point tensor'),
       Bad('layer_forward: pull_directions s not a map', lambda: pull_directions(LS_FS.flatten(1), LS_TEACHER_MAPS),
           ValueError, '`s` must be an (N, C, H, W) map, got (2, 48)'),
       Bad('layer_forward: pull_directions no teacher maps', lambda: pull_directions(LS_FS, []), ValueError,
           '`ts` must hold at least one teacher map'),
       Bad('layer_forward: pull_directions teacher map of other images',
           lambda: pull_directions(LS_FS, [torch.randn(3, 5, 2, 2)]), ValueError,
           "`ts[0]` must be an (N, C, H, W) map of the student's 2 images, got (3, 5, 2, 2)"),
       Bad('layer_forward: pull_directions teacher vectors', lambda: pull_directions(LS_FS, [torch.randn(2, 5)]),
           ValueError, "`ts[0]` must be an (N, C, H, W) map"),
       Bad('layer_forward: pull_directions integer teacher map',
           lambda: pull_directions(LS_FS, [LS_FT, torch.ones(2, 3, 4, 4, dtype=torch.long)]), TypeError,
           '`ts[1]` must be a floating point tensor'),
       Bad('layer_forward: pull_directions channels differ without projection',
           lambda: pull_directions(LS_FS, LS_TEACHER_MAPS, project=False), ValueError,
           'project=False needs as many channels in `ts[0]` (5) as in `s` (3)')]
    + number_rows('layer_forward', 'pull_directions', lambda **kw: pull_directions(LS_FS, LS_TEACHER_MAPS, **kw),
                  {'ridge': [0, -1e-3, NAN, INF, '1e-3']})
    + [Bad('layer_forward: pull_angles teacher map of other images',
           lambda: pull_angles(LS_FS, torch.randn(4, 3, 4, 4)), ValueError,
           "`ts[0]` must be an (N, C, H, W) map of the student's 2 images")])


METHOD_ROWS = (LOGIT_MSE_ROWS + KD_ROWS + DKD_ROWS + LSKD_ROWS + NKD_ROWS + USKD_ROWS + TTM_ROWS + DTS_ROWS + PLD_ROWS
               + SINKD_ROWS + DHKD_ROWS + OFA_ROWS + CLIP_ROWS + LS_ROWS
               + FITNETS_ROWS + AT_ROWS + RKD_ROWS + SP_ROWS + PKT_ROWS
               + CRD_ROWS + REVIEWKD_ROWS + ND_ROWS + OFA_BRANCHES_ROWS + LAYER_SELECTION_ROWS)
BAD = CORE + DIV + FEAT + TEACH + DATA + BENCH + METHOD_ROWS

# ---------------------------------------------------------------------------------------------------------------
def as_param(row: Bad):
    marks = [pytest.mark.xfail(strict=True, raises=row.now, reason=row.why)] if row.now is not None else []
    return pytest.param(row, id=row.name, marks=marks)

@pytest.mark.parametrize('row', [as_param(r) for r in BAD])
def test_bad_input(row: Bad):
    "The call raises the promised exception type, and its message names the offending argument."
    with pytest.raises(row.exc) as err: row.call()
    assert row.says in str(err.value), f"the message does not say {row.says!r}: {err.value}"

def test_every_method_has_rows():
    """Every registered method (after importing all of kdnb.methods) has rows; 'none' is the baseline, with no loss or
    argument."""
    families = {r.family for r in BAD}
    unknown = families - set(METHODS) - set(MODULE_FAMILIES)
    assert not unknown, f"rows of unknown families: {unknown}"
    assert METHODS['none'].make(nn.Linear(8, 4), None, None) == []
    missing = set(load_methods()) - families - {'none'}
    assert not missing, (f"registered methods without bad-input rows: {sorted(missing)}: add `Bad('<key>: ...')` "
                         "rows for each argument of the method's loss and term to this file (see the docs' 'Adding a "
                         "method' page)")

def test_table_is_well_formed():
    "Row names are unique, every xfail says why, and the module docstring gives the table's size."
    names = [r.name for r in BAD]
    assert len(set(names)) == len(names), sorted({n for n in names if names.count(n) > 1})
    assert all(r.why for r in BAD if r.now is not None)
    assert re.search(r'tries (\d+) bad inputs',
                     __doc__).group(1) == str(len(BAD)), f"the docstring should say {len(BAD)}"
