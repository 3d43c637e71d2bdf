"""`make lint`: ruff (ruff.toml: unused imports, undefined names, lines over 120 characters) on the package, the tests,
the benchmarks and the tools. nbdev writes each module's `__all__` wrapped at 120 characters *after* its
`__all__ = ` prefix, so its first line can reach 130: those generated lines are the only findings left out.
Exits non-zero, listing the findings, if any remain."""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / 'ruff'

def findings() -> list[dict]:
    out = subprocess.run([str(RUFF), 'check', '--output-format', 'json', 'kdnb', 'tests', 'benchmarks', 'tools'],
                         cwd=ROOT, capture_output=True, text=True)
    return json.loads(out.stdout or '[]')

def generated(f: dict) -> bool:
    "A long `__all__` line that nbdev wrote (a module of kdnb/, first line of the statement)."
    if f['code'] != 'E501' or not Path(f['filename']).is_relative_to(ROOT / 'kdnb'): return False
    line = Path(f['filename']).read_text().splitlines()[f['location']['row'] - 1]
    return line.startswith('__all__ = [')

if __name__ == '__main__':
    left = [f for f in findings() if not generated(f)]
    for f in left: print(f"{Path(f['filename']).relative_to(ROOT)}:{f['location']['row']}: {f['code']} {f['message']}")
    print(f"lint: {len(left)} finding(s)" + (" (fix kdnb/ in its notebook, then `make export`)" if left else ''))
    sys.exit(1 if left else 0)
