import os, pathlib
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session', autouse=True)
def kdnb_cache():
    "One teacher cache for the whole run, so notebooks share trained teachers (KDNB_CACHE wins if set)."
    os.environ.setdefault('KDNB_CACHE', str(ROOT / '.kdnb-cache'))
    return pathlib.Path(os.environ['KDNB_CACHE'])

@pytest.fixture(scope='session')
def shared_teachers(kdnb_cache):
    """The teachers most notebooks distil (the leaderboard's on Fashion-MNIST, the 8×8 digits one of the "use it"
    cells, and their label-smoothed twins), trained once before the notebooks run, so a notebook's time is its own
    work (the Fashion-MNIST ones take about 3 minutes each on 2 CPU cores)."""
    from kdnb.bench import BenchConfig
    from kdnb.teachers import get_teacher
    bench = BenchConfig()
    return [t for alpha in (0., 0.1) for t in (bench.get_teacher(label_smoothing=alpha),   # α=0.1: ls_compat's
                                               get_teacher('cnn-t', 'digits', epochs=3, label_smoothing=alpha))]

def pytest_collection_modifyitems(items):
    "The docs test builds the site from the notebooks that test_notebooks.py executed, so it runs last."
    items.sort(key=lambda item: item.module.__name__.endswith('test_docs'))
