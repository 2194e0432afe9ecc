"""Run rdma-core's own test suite (Debian's python3-pyverbs ships it under
/usr/share/doc/rdma-core/tests, partly gzipped) and parse per-test results."""
import gzip
import os
import re
import shutil
import subprocess
import tempfile

SUITE = "/usr/share/doc/rdma-core/tests"
_STATUS = re.compile(r"\.\.\. (ok|FAIL|ERROR|skipped|expected failure|unexpected success)")


def unpack_suite(dest):
    """Copy the suite to dest/tests, gunzipping the compressed files."""
    tdir = os.path.join(dest, "tests")
    os.makedirs(tdir)
    for name in os.listdir(SUITE):
        src = os.path.join(SUITE, name)
        if name.endswith(".gz"):
            with gzip.open(src, "rb") as fi, open(os.path.join(tdir, name[:-3]), "wb") as fo:
                shutil.copyfileobj(fi, fo)
        else:
            shutil.copy(src, tdir)
    return tdir


def parse_results(out):
    """Map 'tests.test_mod.Class.test_name' -> ok|FAIL|ERROR|skipped|..."""
    results = {}
    pending = None
    for line in out.splitlines():
        m = re.match(r"^(\w+) \((tests\.[\w.]+)\)", line)
        if m:
            tid = m.group(2)
            if not tid.endswith("." + m.group(1)):
                tid = f"{tid}.{m.group(1)}"
            pending = tid
        s = _STATUS.search(line)
        if s and pending:
            results[pending] = s.group(1)
            pending = None
    return results


_whole_runs = {}


def whole_suite(dev="rxe0", env=None):
    """run_suite() of the whole suite, run at most once per device and
    provider environment in a pytest session: several tests judge the same
    run, and one run takes minutes under TCG."""
    env = env or {}
    key = (dev, tuple(sorted(env.items())),
           tuple(os.environ.get(k) for k in ("RDMAV_DRIVERS", "IBV_DRIVERS")))
    if key not in _whole_runs:
        _whole_runs[key] = run_suite(dev, env=env)
    return _whole_runs[key]


def run_suite(dev="rxe0", tests=(), env=None, timeout=2400):
    """Run the suite (or the named tests) on `dev`.

    Returns (results dict, 'Ran N tests' count, full output)."""
    with tempfile.TemporaryDirectory() as tmp:
        tdir = unpack_suite(tmp)
        cmd = ["/usr/bin/python3", os.path.join(tdir, "run_tests.py"), "--dev", dev, "-v",
               *tests]
        res = subprocess.run(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=timeout, env=dict(os.environ, **(env or {})))
    ran = re.search(r"^Ran (\d+) tests?", res.stdout, re.M)
    return parse_results(res.stdout), int(ran.group(1)) if ran else 0, res.stdout
