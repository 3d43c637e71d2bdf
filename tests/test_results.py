"""Every published number comes from a committed results file made by the current code: the tables in the README,
the docs and the notebooks' Readings are generated from them (tools/make_tables.py), and a file made with an older
teacher recipe, or without its provenance, fails here."""
import json, pathlib, sys
import pytest
import papermill as pm

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
from make_tables import MARKED, marked_files, notebooks, stale_tables   # noqa: E402

# the search that chose the leaderboard's default setting (nbs/foundation/09_bench.ipynb shows it, with its recipe
# version and commit): a record of how the choice was made, not a table of current numbers, so it is exempt from
# the recipe check; the chosen setting is re-measured by the leaderboard, which is not exempt
SEARCH = ROOT / 'nbs' / 'foundation' / 'results' / 'bench_settings.json'
RESULTS = sorted(p for p in (ROOT / 'nbs').rglob('results/**/*.json') if p != SEARCH)
PROVENANCE = ('kdnb', 'commit', 'dirty', 'recipe_version', 'machine', 'date', 'teacher', 'data', 'settings')

def rel(p): return str(p.relative_to(ROOT))

def test_tables_match_their_results_files():
    stale = stale_tables()
    assert not stale, f"results tables that differ from their results files (run `make export`): {stale}"

@pytest.mark.parametrize('path', RESULTS, ids=[rel(p) for p in RESULTS])
def test_results_file_is_current(path):
    "A results file says where its numbers come from, and its teacher is of the current recipe."
    from kdnb.teachers import RECIPE_VERSION
    res = json.loads(path.read_text())
    p = res.get('provenance', {})
    missing = [k for k in PROVENANCE if k not in p]
    assert not missing, f"{rel(path)} lacks provenance fields {missing}: rerun it (`make results`)"
    assert p['recipe_version'] == RECIPE_VERSION, (
        f"{rel(path)} was made with teacher recipe v{p['recipe_version']}, the current one is v{RECIPE_VERSION}: "
        f"rerun it (`make results`) and regenerate its tables (`make export`)")
    assert p['teacher']['recipe']['version'] == RECIPE_VERSION and p['teacher']['checksum']
    assert p['commit'] and not p['dirty'], f"{rel(path)} was not made from a committed tree: commit, then rerun it"
    assert res['runs'], f"{rel(path)} holds no runs"

def test_every_results_file_is_published_and_every_table_has_a_file():
    used = {m for nb in notebooks() for m in marked_files(nb)}
    missing = [u for u in used if not (ROOT / u).exists()]
    assert not missing, f"tables name results files that do not exist: {missing}"
    unused = [rel(p) for p in RESULTS if rel(p) not in used]
    assert not unused, f"results files no table is generated from: {unused}"

def test_every_experiment_notebook_has_a_reading_from_its_results():
    """A method notebook (its experiment writes a results file: an `out` parameter) and the bench notebook show a table
    generated from their results file."""
    lacking = []
    for nb in notebooks():
        method_or_bench = nb.parent.name != 'foundation' or nb.stem == '09_bench'
        if not method_or_bench or 'out' not in pm.inspect_notebook(str(nb)): continue
        if not any(f.startswith(f'nbs/{nb.parent.name}/results/') for f in marked_files(nb)): lacking.append(rel(nb))
    assert not lacking, f"experiment notebooks without a results table in their Reading: {lacking}"

def test_readme_shows_the_leaderboard():
    readme = (ROOT / 'README.md').read_text()
    assert '<!-- results: nbs/foundation/results/bench/results.json -->' in readme
    assert MARKED.search(readme), "README.md has no generated leaderboard table"

def test_the_settings_search_says_where_it_comes_from():
    res = json.loads(SEARCH.read_text())
    p = res['provenance']
    assert all(k in p for k in ('kdnb', 'commit', 'dirty', 'recipe_version', 'machine', 'date')), p.keys()
    assert res['candidates'] and res['runs']
    bench_nb = (ROOT / 'nbs' / 'foundation' / '09_bench.ipynb').read_text()
    assert f"its teacher is the v{p['recipe_version']} one" in bench_nb, \
        "the bench notebook's reading of the search must state the teacher recipe it was measured with"
