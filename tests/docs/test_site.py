# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The documentation site `make docs` built (build/docs/html), opened in headless Chromium.

Run by `make docs-lint` (part of `make test`) right after the build. Chromium loads each page
from the disk with the network off and prints the DOM it rendered: the index links every module,
plugin, role and guide (and event source, through the guides page); a module page has its options
table (an entry for every option ansible-doc knows) and its examples.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = os.path.join(ROOT, "build", "docs", "html")
BIN = os.path.dirname(sys.executable)


def rendered(tmp_path, page):
    path = os.path.join(SITE, page)
    assert os.path.exists(path), "run `make docs` first: no " + path
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=127.0.0.1:9", "--user-data-dir=%s" % (tmp_path / "profile"),
         "--dump-dom", "file://" + path],
        capture_output=True, text=True, timeout=120, check=True)
    assert "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


def plugin_pages():
    modules = [os.path.basename(p)[:-3] + "_module.html" for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))]
    roles = [name + "_role.html" for name in os.listdir(os.path.join(ROOT, "roles"))]
    return sorted(modules + roles + ["libvirt_inventory.html"])


def test_the_index_links_every_plugin_and_every_guide(tmp_path):
    index = rendered(tmp_path, "index.html")
    for page in plugin_pages():
        assert 'href="%s"' % page in index, page
    assert 'href="docsite/guides.html"' in index
    guides = rendered(tmp_path, "docsite/guides.html")
    for path in glob.glob(os.path.join(ROOT, "docs", "docsite", "rst", "guide_*.rst")):
        name = os.path.basename(path)[:-4]
        with open(path, encoding="utf-8") as handle:
            title = [line for line in handle.read().splitlines() if line and not line.startswith("..")][0]
        assert 'href="%s.html"' % name in guides, name
        assert title.replace("&", "&amp;") in guides, title
    for path in glob.glob(os.path.join(ROOT, "extensions", "eda", "plugins", "event_source", "*.py")):
        assert 'href="guide_event_source_%s.html"' % os.path.basename(path)[:-3] in guides, path


def test_a_module_page_shows_its_options_table_and_examples(tmp_path):
    page = rendered(tmp_path, "vm_module.html")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"))
    doc = json.loads(subprocess.run([os.path.join(BIN, "ansible-doc"), "-j", "hotiron.virt.vm"], env=env,
                                    capture_output=True, text=True, check=True, timeout=120).stdout)["hotiron.virt.vm"]
    parameters = page.split('<section id="parameters">', 1)[1].split("</section>", 1)[0]
    assert 'class="longtable ansible-option-table' in parameters
    for option in doc["doc"]["options"]:
        assert 'id="parameter-%s"' % option in parameters, option
    examples = page.split('<section id="examples">', 1)[1].split("</section>", 1)[0]
    assert 'class="highlight-yaml+jinja' in examples
    text = re.sub(r"<[^>]+>", "", examples).replace("&quot;", '"').replace("&amp;", "&")
    tasks = yaml.safe_load(doc["examples"])
    assert tasks and all(task["name"] in text for task in tasks), [t["name"] for t in tasks]
    assert "hotiron.virt.vm:" in text


@pytest.mark.parametrize("page", ["recover_module.html", "hypervisor_role.html", "docsite/guide_live_recovery.html",
                                  "docsite/guide_event_source_libvirt_events.html"])
def test_other_pages_render(tmp_path, page):
    assert '<section id="' in rendered(tmp_path, page)
