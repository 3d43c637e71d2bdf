"""Print what `make newest` installed: each of kdnb's requirements with its range and the version in this environment.

Run by the newest-versions environment's Python (`make newest` writes the output to tests/newest_versions.txt)."""
import platform, sys
from importlib.metadata import distribution, version
from packaging.requirements import Requirement

reqs = [Requirement(r) for r in distribution('kdnb').requires or [] if 'extra ==' not in r]
print(f"# kdnb's requirements in the environment of `make newest` (the newest versions its ranges allow on this\n"
      f"# machine's package index), where the installed wheel passed tests/test_wheel.py and the other tests that\n"
      f"# `make newest` names; Python {platform.python_version()}, {platform.machine()}")
for r in sorted(reqs, key=lambda r: r.name.lower()):
    v = version(r.name)
    print(f"{r.name:<14} {v:<12} range {r.specifier}{'' if r.specifier.contains(v) else '   OUTSIDE THE RANGE'}")
sys.exit(any(not r.specifier.contains(version(r.name)) for r in reqs))
