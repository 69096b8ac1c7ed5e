"""A long-running process tree shaped like a repair with workers, for the cancellation tests.

Run as ``python -m tests.slicer.busy_tree``: it reports progress like ``medinpaint repair --progress``,
starts a worker that itself starts a sleeper and then exits (leaving an orphan, as crashed or
detached workers do), starts a second worker that stays its child, and writes the pids it made to
stdout so the test knows the whole tree. Nothing here ends by itself within ten minutes.
"""

import subprocess
import sys
import time

SLEEPER = "import time; time.sleep(600)"
ORPHANER = ("import subprocess, sys; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print('PID', p.pid, flush=True)")


def main() -> None:
    orphaner = subprocess.run([sys.executable, "-c", ORPHANER], capture_output=True, text=True, check=True)
    orphan = int(orphaner.stdout.split()[1])
    worker = subprocess.Popen([sys.executable, "-c", SLEEPER])
    print(f"PIDS {orphan} {worker.pid}", flush=True)
    for step in range(600):
        print(f"PROGRESS {min(step, 100)} working", file=sys.stderr, flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
