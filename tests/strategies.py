"""Hypothesis strategies for batches of logits: hypothesis draws a seed and a few parameters, torch builds the tensors.

Drawing a seed (not every entry) keeps examples cheap, even with 1000 classes, and still lets hypothesis shrink the
shape, the scale, the kind of the rows and the labels' rule towards the simplest failing example.
"""
from __future__ import annotations
import dataclasses, math
from dataclasses import dataclass
import torch
from hypothesis import strategies as st

SCALES = (1e-3, 1., 10., 100., 1e4)    # the spread of a row's logits
HUGE = 1e4                             # the magnitude of the 'huge' entry and of 'extreme' rows
LIMIT = 6e4                            # |logit| cap, so that every row is finite in float16 (max 65504)
ROW_KINDS = ('normal', 'constant', 'ties', 'huge', 'extreme')
MODERATE_KINDS = ('normal', 'constant', 'ties')   # rows whose logits stay within a few `scale`s
LABELS = ('random', 'teacher_top', 'teacher_bottom')   # how `y` relates to the teacher's logits

def make_row(kind: str, C: int, scale: float, g: torch.Generator) -> torch.Tensor:
    """One row of C float64 logits: 'normal' N(0, scale²), 'constant', 'ties' (values in {-scale, 0, scale}),
    'huge' (a normal row with one ±1e4 entry) or 'extreme' (every entry ±1e4)."""
    f64 = dict(generator=g, dtype=torch.float64)
    sign = lambda n: 2. * torch.randint(0, 2, (n,), generator=g) - 1
    if kind == 'normal': return scale * torch.randn(C, **f64)
    if kind == 'constant': return scale * torch.randn(1, **f64).expand(C).clone()
    if kind == 'ties': return scale * torch.randint(-1, 2, (C,), generator=g).double()
    if kind == 'huge':
        row = scale * torch.randn(C, **f64)
        row[torch.randint(0, C, (1,), generator=g)] = HUGE * sign(1).double()
        return row
    if kind == 'extreme': return HUGE * sign(C).double()
    raise ValueError(f"unknown row kind {kind!r}")

@dataclass(frozen=True)
class Logits:
    """A drawn batch: N samples, C classes, the kind of the student's and the teacher's rows, the seed of everything
    else."""
    seed: int
    N: int
    C: int
    scale: float
    s_kind: str      # the kind of every student row but the last of a batch of several, which is 'normal'
    t_kind: str      # the same for the teacher (and the weak head, whose rows come in the reverse order)
    labels: str

    def kinds(self, kind: str) -> tuple:
        "Row kinds of a tensor: `kind` everywhere, except a 'normal' last row when N > 1 (so batches mix rows)."
        return (kind,) * self.N if self.N == 1 else (kind,) * (self.N - 1) + ('normal',)

    def tensors(self, dtype: torch.dtype = torch.float64) -> dict:
        "Student logits `s`, teacher logits `t`, targets `y` and weak-head logits `w` (drawn like `t`), as a dict."
        g = torch.Generator().manual_seed(self.seed)
        rows = lambda kinds: torch.stack([make_row(k, self.C, self.scale, g) for k in kinds]).clamp(-LIMIT, LIMIT)
        s, t, w = rows(self.kinds(self.s_kind)), rows(self.kinds(self.t_kind)), rows(self.kinds(self.t_kind)[::-1])
        if self.labels == 'teacher_top': y = t.argmax(-1)
        elif self.labels == 'teacher_bottom': y = t.argmin(-1)
        else: y = torch.randint(0, self.C, (self.N,), generator=g)
        return dict(s=s.to(dtype), t=t.to(dtype), y=y, w=w.to(dtype))

    def limited(self, max_scale: float) -> 'Logits':
        """This draw brought within `max_scale`: the scale capped, 'huge' and 'extreme' rows (±1e4 entries) made
        'normal'."""
        if not math.isfinite(max_scale): return self
        calm = lambda kind: kind if kind in MODERATE_KINDS else 'normal'
        return dataclasses.replace(self, scale=max(x for x in SCALES if x <= min(self.scale, max_scale)),
                                   s_kind=calm(self.s_kind), t_kind=calm(self.t_kind))

    def without_ties(self) -> 'Logits':
        "This draw with 'ties' rows made 'normal' (for rankings, where an exact tie is broken by rounding noise)."
        untie = lambda kind: 'normal' if kind == 'ties' else kind
        return dataclasses.replace(self, s_kind=untie(self.s_kind), t_kind=untie(self.t_kind))

@st.composite
def logits(draw, N=st.integers(1, 8), C=st.integers(2, 12), kinds=ROW_KINDS) -> Logits:
    "A `Logits` draw: shape, scale, the rows' kind for student and teacher, the labels' rule, a seed."
    return Logits(seed=draw(st.integers(0, 2**32 - 1)), N=draw(N), C=draw(C), scale=draw(st.sampled_from(SCALES)),
                  s_kind=draw(st.sampled_from(kinds)), t_kind=draw(st.sampled_from(kinds)),
                  labels=draw(st.sampled_from(LABELS)))
