import os, pathlib
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session', autouse=True)
def kdnb_cache():
    "One teacher cache for the whole run, so notebooks share trained teachers (KDNB_CACHE wins if set)."
    os.environ.setdefault('KDNB_CACHE', str(ROOT / '.kdnb-cache'))
    return pathlib.Path(os.environ['KDNB_CACHE'])
