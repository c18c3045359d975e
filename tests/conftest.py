"""Make the source tree importable as ``ansible_collections.hotiron.virt``.

The collection's code imports itself by its full name, as Ansible does at run
time; a symlink under build/src gives the source tree that name without
copying it.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "build", "src")
LINK = os.path.join(SRC, "ansible_collections", "hotiron", "virt")

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    try:
        os.symlink(ROOT, LINK)
    except FileExistsError:
        pass
if SRC not in sys.path:
    sys.path.insert(0, SRC)

# Test helpers that are plain modules, not packages (the lab, the integration helpers, the unit
# tests' fakes): tests import them by name.  Needed with --import-mode=importlib, which pytest.ini
# sets so that test files of the same name under unit/ and integration/ do not clash.
for _helpers in (os.path.join(ROOT, "tests", "lab"), os.path.join(ROOT, "tests", "integration"),
                 os.path.join(ROOT, "tests", "unit")):
    if _helpers not in sys.path:
        sys.path.append(_helpers)
