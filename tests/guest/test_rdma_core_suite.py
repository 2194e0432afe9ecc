"""rdma-core's own test suite (python3-pyverbs) on rxe0, against a baseline."""
import os

from rdmacore import whole_suite

BASELINE = os.path.join(os.path.dirname(__file__), "rdma-core-baseline.txt")


def load_baseline():
    expected = {}
    with open(BASELINE) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                status, test = line.split(maxsplit=1)
                expected[test] = status
    return expected


def test_rdma_core_suite_matches_baseline(hugepages):
    results, ran, out = whole_suite("rxe0")
    assert ran > 250 and ran == len(results), f"parsed {len(results)} of {ran}:\n{out[-3000:]}"
    expected = load_baseline()

    missing = sorted(set(expected) - set(results))
    regressions = sorted(f"{t}: {s} (baseline: {expected.get(t, 'ok')})"
                         for t, s in results.items()
                         if s != "ok" and s != expected.get(t))
    improvements = sorted(t for t, s in results.items() if s == "ok" and t in expected)

    counts = {s: list(results.values()).count(s) for s in set(results.values())}
    print(f"rdma-core suite: {ran} tests, {counts}")
    for t in improvements:
        print(f"improvement (now ok, listed in the baseline): {t}")
    assert not missing, f"baseline tests the suite no longer has: {missing}"
    assert not regressions, "regressions:\n" + "\n".join(regressions) + "\n" + out[-5000:]
