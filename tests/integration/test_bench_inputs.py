"""The benchmarks' own inputs stay usable: bench_coldstart imports each handler with the environment it keeps for
it, and that environment must still be what the handler's settings accept (a variable renamed or added would
otherwise only show when someone runs ``make bench``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # as the benchmark runs: beside its helpers (figures.py)
    spec = importlib.util.spec_from_file_location("bench_coldstart", ROOT / "benchmarks" / "bench_coldstart.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


@pytest.mark.parametrize("folder", sorted(BENCH.FUNCTIONS))
def test_each_handler_imports_with_the_environment_the_cold_start_benchmark_gives_it(folder):
    try:
        proc = BENCH.sample(folder)  # one timed import, as the benchmark samples it
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"{folder} does not import with bench_coldstart's environment:\n{exc.stderr[-2000:]}")
    assert float(proc.stdout.strip()) > 0
