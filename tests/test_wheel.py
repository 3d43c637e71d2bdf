"""The wheel a user installs (issue 15): complete, with ranges for requirements, importable without the source tree.

`make newest` (part of `make test`) builds the wheel, installs it with the newest versions its ranges allow into a
virtual environment of its own, and runs these tests there with KDNB_WHEEL=1, from the repository so that they can
compare the wheel with the source. In the development environment (kdnb installed editable) they are skipped: there
is no wheel to test."""
import os, pathlib, subprocess, sys
from configparser import ConfigParser
from importlib.metadata import distribution
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(os.environ.get('KDNB_WHEEL') != '1', reason="tests the installed wheel (`make newest`)")

def settings():
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']

def test_kdnb_comes_from_the_wheel_not_the_source_tree():
    import kdnb
    where = pathlib.Path(kdnb.__file__).resolve()
    assert ROOT / 'kdnb' not in where.parents and 'site-packages' in where.parts, where
    assert not str(distribution('kdnb').read_text('direct_url.json') or '').count('"editable": true')

def test_every_module_and_the_licence_are_in_the_wheel():
    files = {f.as_posix() for f in distribution('kdnb').files}
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / 'kdnb').rglob('*.py')}
    assert source, "no kdnb/*.py found beside the tests"
    assert not source - files, f"modules missing from the wheel: {sorted(source - files)}"
    assert not {f for f in files if f.startswith('kdnb/') and f.endswith('.py')} - source, "stale modules in the wheel"
    assert any(f.endswith('/LICENSE') for f in files), f"no LICENSE in the wheel's metadata: {sorted(files)[:5]}..."

def test_metadata_tells_a_user_what_kdnb_is():
    meta, cfg = distribution('kdnb').metadata, settings()
    assert meta['Summary'] == cfg['description']
    assert meta['Requires-Python'] == '>=' + cfg['min_python']
    assert len(meta['Description'] or '') > 1000, "the long description (README) is missing"
    urls = dict(u.split(', ', 1) for u in meta.get_all('Project-URL') or [])
    assert {'Documentation', 'Source', 'Issues'} <= set(urls), urls
    classifiers = meta.get_all('Classifier') or []
    assert any('License' in c for c in classifiers) and any('Python :: 3' in c for c in classifiers), classifiers

def test_requirements_are_the_ranges_of_settings_ini():
    "Users get ranges, never exact pins: each runtime requirement has a lower and an upper bound."
    from packaging.requirements import Requirement
    got = {r for r in distribution('kdnb').requires or [] if 'extra ==' not in r}
    want = set(settings()['requirements'].split())
    assert {str(Requirement(r)) for r in got} == {str(Requirement(r)) for r in want}
    for r in map(Requirement, got):
        ops = {s.operator for s in r.specifier}
        assert ops == {'>=', '<'}, f"{r}: a runtime requirement must be a range '>=oldest,<next', got {ops}"

def test_installed_versions_lie_in_the_ranges():
    from importlib.metadata import version
    from packaging.requirements import Requirement
    reqs = [Requirement(r) for r in distribution('kdnb').requires or [] if 'extra ==' not in r]
    outside = {r.name: version(r.name) for r in reqs if not r.specifier.contains(version(r.name))}
    assert not outside, f"installed outside kdnb's ranges: {outside}"

def test_import_and_train_outside_the_source_tree(tmp_path):
    "In a fresh process started elsewhere, the package, the bench and every registered method import, and KD trains."
    code = """
import kdnb, kdnb.bench
import importlib
from kdnb.core import Distill
from kdnb.methods.kd import KD
from kdnb.data import get_dls
from kdnb.models import get_model
from fastai.vision.all import Learner, CrossEntropyLossFlat, accuracy
METHODS = kdnb.bench.load_methods()
assert callable(kdnb.bench.main) and len(METHODS) > 1, 'no methods registered'
for m in METHODS.values(): importlib.import_module(m.module)
dls = get_dls('digits', bs=64)
teacher, student = get_model('mlp', img_size=8), get_model('mlp', img_size=8, width=16)
learn = Learner(dls, student, loss_func=CrossEntropyLossFlat(), metrics=accuracy, cbs=Distill(teacher, KD()))
with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
print(kdnb.__file__, len(METHODS))
"""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    where, n = out.stdout.split()[-2:]
    assert not where.startswith((ROOT / 'kdnb').as_posix()) and 'site-packages' in where and int(n) > 1, out.stdout
