"""A long-lived child process that runs ``bayes-dps`` command lines for the fuzz tests.

One process imports torch once and runs many command lines, each read as a JSON line on stdin
and answered with one JSON line on stdout: the exit code, what the command printed to stdout
and stderr, and — if an exception escaped ``bayes_dps.cli.main``, which a real command line
would print as a traceback — that traceback. The address space is capped first
(``resource.RLIMIT_AS``), so a value that makes a run allocate without bound fails here
instead of taking the machine down.

    python tests/fuzz_worker.py MEMORY_BYTES
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
import traceback


def main() -> None:
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from bayes_dps.cli import main as cli_main

    protocol = sys.stdout
    sys.stdout = sys.stderr  # anything printed outside a command stays off the protocol
    for line in sys.stdin:
        argv = json.loads(line)["argv"]
        out, err = io.StringIO(), io.StringIO()
        answer: dict = {"argv": argv}
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                answer["code"] = cli_main(argv)
            except SystemExit as exc:
                answer["code"] = exc.code
            except BaseException:  # a traceback a user would see
                answer["code"] = None
                answer["uncaught"] = traceback.format_exc()
        answer["stdout"], answer["stderr"] = out.getvalue(), err.getvalue()
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
