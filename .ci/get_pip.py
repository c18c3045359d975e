"""Stand-in for the get-pip bootstrap script that ansible-test downloads from its own file host.

That host is not reachable from our machines; package registries are. ansible-test runs this file
with pip-install style arguments (``pip==24.2`` and options) in a fresh virtualenv that has no pip:
install Python's bundled pip with ensurepip, then let that pip install what was asked for from PyPI.
The get-pip only options ``--no-setuptools`` and ``--no-wheel`` are dropped (pip has no such options).
"""

import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
