import os, pathlib
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session', autouse=True)
def kdnb_cache():
    "One teacher cache for the whole run, so notebooks share trained teachers (KDNB_CACHE wins if set)."
    os.environ.setdefault('KDNB_CACHE', str(ROOT / '.kdnb-cache'))
    return pathlib.Path(os.environ['KDNB_CACHE'])

def pytest_collection_modifyitems(items):
    "The docs test builds the site from the notebooks that test_notebooks.py executed, so it runs last."
    items.sort(key=lambda item: item.module.__name__.endswith('test_docs'))
