"""Stand-in for ansible-test's pip bootstrap script, whose download host is unreachable here.

ansible-test runs it inside a fresh venv with pip options and package pins as arguments: bring pip
in from the interpreter's own ensurepip, then install the requested pins from the package index.
"""

import subprocess
import sys

packages = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True)
subprocess.run(
    [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *packages], check=True
)
