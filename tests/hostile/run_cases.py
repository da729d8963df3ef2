#!/usr/bin/python3
"""run_cases.py: runs the cnnlens CLI on every case of a hostile corpus and judges each run.

    /usr/bin/python3 tests/hostile/run_cases.py CNNLENS REPO_DIR CASE_DIR [--sanitized] [--jobs N]

CNNLENS may be a command line ("node --no-experimental-fetch build/wasm/cnnlens.js").

Weight files: `cnnlens info --weights F` and `cnnlens predict --weights F --image <a 32x32 PNG>`.
Images: `cnnlens predict --image F` with the built-in model twice, with malloc filling fresh
and freed memory differently (MALLOC_PERTURB_=0 and 165; under ASan its malloc_fill_byte and
free_fill_byte), and `cnnlens predict --weights <tiny RGB model> --image F`.

Every run must: end within 5 s, exit by status (never by a signal), on failure print exactly
one line `cnnlens: error: ...` on stderr, peak at most 1.5 GB resident (the kernel's rusage,
as /usr/bin/time -f %M reports it). The two built-in runs of an image must print the same.
--sanitized (an ASan + UBSan binary): sanitizer reports abort, the time budget is 4x and the
memory budget is not checked (shadow memory and quarantine are not the program's).
"""
import concurrent.futures
import shlex
import os
import signal
import subprocess
import sys
import threading
import time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
cli, repo, case_dir = args[0], args[1], args[2]
sanitized = "--sanitized" in sys.argv
jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 1
if "--jobs" in sys.argv:
    args.remove(str(jobs))
TIME_S = 5.0 * (4 if sanitized else 1)
MEM_MB = 1536
image_for_weights = os.path.join(repo, "tests/data/oracle/tiny_fc/input.png")
rgb_model = os.path.join(repo, "tests/data/oracle/tiny_fc/w.safetensors")


def run(argv, perturb=None):
    """(status or -signal, stdout, stderr, seconds, timed out, peak resident MB)"""
    env = dict(os.environ)
    san = "abort_on_error=1:detect_leaks=1"
    if perturb is not None:
        env["MALLOC_PERTURB_"] = str(perturb)
        san += ":malloc_fill_byte=%d:free_fill_byte=%d:max_malloc_fill_size=2147483647" % (perturb ^ 0xFF if perturb else 0, perturb)
    env["ASAN_OPTIONS"] = san
    env["UBSAN_OPTIONS"] = "abort_on_error=1:print_stacktrace=1"
    t0 = time.monotonic()
    p = subprocess.Popen(shlex.split(cli) + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True)
    bufs = {}

    def drain(name, f):
        bufs[name] = f.read()

    readers = [threading.Thread(target=drain, args=(n, f)) for n, f in (("out", p.stdout), ("err", p.stderr))]
    for t in readers:
        t.start()
    killed = []

    def kill():
        killed.append(True)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    killer = threading.Timer(TIME_S + 1, kill)
    killer.start()
    # wait4 gives the run's own peak resident size (what /usr/bin/time -f %M reports)
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t0
    killer.cancel()
    timed_out = bool(killed)
    for t in readers:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)   # reaped here: Popen must not wait again
    return (p.returncode, bufs["out"].decode(errors="replace"), bufs["err"].decode(errors="replace"), secs,
            timed_out, ru.ru_maxrss / 1024.0)


def judge(name, argv, res):
    rc, out, err, secs, timed_out, peak = res
    what = "%s: cnnlens %s" % (name, " ".join(os.path.basename(a) if "/" in a else a for a in argv))
    problems = []
    if timed_out or secs > TIME_S:
        problems.append("took %.1f s (budget %.0f s)%s" % (secs, TIME_S, ", killed" if timed_out else ""))
    elif rc < 0:
        problems.append("killed by signal %d (%s)" % (-rc, signal.Signals(-rc).name))
    elif rc != 0:
        lines = err.splitlines()
        if len(lines) != 1 or not lines[0].startswith("cnnlens: error: "):
            problems.append("exit %d with %d stderr lines, not one 'cnnlens: error:' line" % (rc, len(lines)))
    if not sanitized and peak > MEM_MB:
        problems.append("peak memory %.0f MB (budget %d MB)" % (peak, MEM_MB))
    if problems:
        tail = "\n".join("      " + l for l in err.strip().splitlines()[:6])
        return ["FAIL %s: %s\n%s" % (what, "; ".join(problems), tail)]
    return []


def case(line):
    kind, truncated, path = line.split(" ", 2)
    name = os.path.relpath(path, case_dir)
    fails = []
    if kind == "weights":
        for argv in (["info", "--weights", path], ["predict", "--weights", path, "--image", image_for_weights]):
            fails += judge(name, argv, run(argv))
        return fails, 2
    argv = ["predict", "--image", path]
    a = run(argv, 0)
    b = run(argv, 165)
    fails += judge(name, argv, a)
    fails += judge(name, argv + ["(perturbed)"], b)
    exited = a[0] >= 0 and b[0] >= 0 and not a[4] and not b[4]   # a crash or a hang is reported above
    if exited and (a[0], a[1], a[2]) != (b[0], b[1], b[2]):
        fails.append("FAIL %s: cnnlens predict --image: output differs with MALLOC_PERTURB_=0 and 165 "
                     "(uninitialised memory)%s\n      0:   %s\n      165: %s" %
                     (name, " [truncated file]" if truncated == "1" else "",
                      (a[1] + a[2]).strip().splitlines()[:1], (b[1] + b[2]).strip().splitlines()[:1]))
    argv = ["predict", "--weights", rgb_model, "--image", path]
    fails += judge(name, argv, run(argv))
    return fails, 4


with open(os.path.join(case_dir, "manifest.txt")) as f:
    lines = [l.strip() for l in f if l.strip()]
t0 = time.monotonic()
failures, runs = [], 0
with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
    for fails, n in ex.map(case, lines):
        failures += fails
        runs += n
for f in failures:
    print(f)
print("hostile: %d cases, %d runs in %.0f s: %d failures%s" %
      (len(lines), runs, time.monotonic() - t0, len(failures), " (sanitized build)" if sanitized else ""))
sys.exit(1 if failures else 0)
