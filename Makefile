# hotiron.virt — every entry point an operator or CI needs.
#   make demo   installs what is missing, brings up the lab, runs playbooks/demo.yml
#   make test   installs what is missing, runs every test (unit, integration, molecule, static)
#   make docs   builds the documentation site into build/docs/html (antsibull-docs + Sphinx)
#   make test-guests   builds the real Linux guest image (cached) and runs the tests that boot it
#                      (make test runs them too; GUESTS=0 leaves them out)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     ?= .venv
BUILD    := build
HOSTS    ?= 3
LAB_ID   ?= 0
PY       := $(VENV)/bin/python
comma    := ,
COLL_DIR := $(BUILD)/collections
SRC_LINK := $(BUILD)/src/ansible_collections/hotiron/virt
VERSION  := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL  := $(BUILD)/hotiron-virt-$(VERSION).tar.gz
SANITY_DIR ?= $(BUILD)/sanity
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLL_DIR)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export LAB_ID
# Guests of the test lab use TCG by default: on kvm_pvm machines (like ours) KVM emulates the
# 16/32-bit code of SeaBIOS in the kernel and a guest needs ~5 s of CPU to boot, against under
# 1 s with TCG. `make test TEST_VIRT_TYPE=kvm` runs the suite with KVM; the demo always uses KVM
# when /dev/kvm works, and tests/integration/test_lab.py runs a KVM guest whenever it can.
TEST_VIRT_TYPE ?= qemu

# Package names that differ between Debian releases: Java for ansible-rulebook (17 on Debian 12,
# the default 21 on 13), the IPMI fence agent (Debian 13's fence-agents is a ~1 GB transitional
# package; fence-agents-ipmilan alone does not exist on 12), the lock manager (a Recommends only on
# Debian 13, which this --no-install-recommends install would leave out), virtiofsd (in
# qemu-system-common on Debian 12, a package of its own on 13).
DEBIAN_MAJOR := $(shell . /etc/os-release 2>/dev/null && echo "$${VERSION_ID%%.*}")
ifeq ($(DEBIAN_MAJOR),12)
RELEASE_PACKAGES := openjdk-17-jre-headless fence-agents
else
RELEASE_PACKAGES := default-jre-headless fence-agents-ipmilan libvirt-daemon-lock libvirt-daemon-plugin-lockd virtiofsd
endif

APT_PACKAGES := libvirt-daemon-system libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils \
	qemu-block-extra libvirt-clients libvirt-dev pkg-config python3-libvirt python3-venv \
	openssh-server openssh-client tgt libvirt-daemon-driver-storage-iscsi-direct \
	iproute2 util-linux procps git gcc python3-dev bindfs e2fsprogs dnsmasq-base python3-apt openssl \
	debootstrap ipmitool prometheus prometheus-libvirt-exporter chromium xz-utils zstd zip \
	systemd-container swtpm swtpm-tools $(RELEASE_PACKAGES)

.PHONY: help deps apt venv collection src-link demo test unit integration molecule sanity lint \
	sanity-copy matrix sanity-matrix debian-root test-platforms platform-hosts guest-image test-guests \
	guests-run molecule-run integration-run matrix-run \
	print-apt-packages changelog-lint lab-up lab-down lab-status benchmarks clean docs docs-lint

help:
	@sed -n 's/^#   //p' Makefile

# --- installation (each step is skipped when already done) -----------------------------
# Daemons that packages would start on installing (prometheus, libvirtd, tgtd) are kept from
# starting by a policy-rc.d for the duration: the lab starts its own, on its own addresses.
$(BUILD)/.apt-stamp: Makefile
	@mkdir -p $(BUILD)
	@if dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | grep -qv 'install ok installed' \
	    || [ $$(dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | wc -l) -ne $(words $(APT_PACKAGES)) ]; then \
	  echo "== installing Debian packages"; \
	  policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=/usr/sbin/policy-rc.d; \
	    printf '#!/bin/sh\nexit 101\n' > $$policy; chmod 755 $$policy; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  status=$$?; [ -z "$$policy" ] || rm -f $$policy; exit $$status; \
	fi
	@touch $@

$(VENV)/.stamp: requirements.txt $(BUILD)/.apt-stamp
	@echo "== preparing virtualenv $(VENV)"
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

apt: $(BUILD)/.apt-stamp
venv: $(VENV)/.stamp
deps: apt venv src-link

# The source tree seen as ansible_collections.hotiron.virt, for unit tests.
src-link:
	@mkdir -p $(dir $(SRC_LINK))
	@[ -L $(SRC_LINK) ] || ln -s $(CURDIR) $(SRC_LINK)

# Build the collection tarball and install it the normal way; the integration tests use it.
collection: deps
	@rm -f $(BUILD)/hotiron-virt-*.tar.gz
	@$(VENV)/bin/ansible-galaxy collection build --force --output-path $(BUILD) . >/dev/null
	@$(VENV)/bin/ansible-galaxy collection install --force -p $(COLL_DIR) $(TARBALL) >/dev/null
	@echo "== installed $(TARBALL) into $(COLL_DIR)"

# --- the lab ------------------------------------------------------------------------------
lab-up: deps
	$(PY) tests/lab/lab.py up --hosts $(HOSTS)

lab-down:
	@if [ -x $(PY) ]; then $(PY) tests/lab/lab.py down; else $(PYTHON) tests/lab/lab.py down; fi

lab-status:
	$(PY) tests/lab/lab.py status

# --- the two main commands ----------------------------------------------------------------
# The demo's web guest is tests/lab/tiny_guest.py's (Debian's kernel + a busybox initramfs, built
# once from the cached .debs or ~72 MB of apt-get download; it boots in seconds under TCG); each
# step prints its time.
demo:
	@TIMEFORMAT='== packages, virtualenv, collection: %1R s'; time $(MAKE) --no-print-directory collection
	@TIMEFORMAT='== lab up: %1R s'; time $(PY) tests/lab/lab.py up --hosts $(HOSTS)
	@TIMEFORMAT='== web guest (built once) and its network: %1R s'; time $(PY) tests/lab/tiny_guest.py demo-vars > $(BUILD)/demo-guest.json
	@TIMEFORMAT='== playbooks/demo.yml: %1R s'; time $(VENV)/bin/ansible-playbook -i $$($(PY) tests/lab/lab.py inventory) \
	  -e @$(BUILD)/demo-guest.json playbooks/demo.yml

# CI's budget (45 min on 2 cores) holds the unit suite, the lab tests, the real-guest tests,
# molecule and the static checks.  Three things run in the background meanwhile (niced, logs
# under build/): the controller matrix (the unit suite under 2.20 and 2.21, 2.21's pylint;
# virtualenvs of their own under ~/.cache/hotiron-virt, nothing of the lab or of .venv), waited
# for before the static checks (which make build/sanity again); the real guest's image (built
# once and cached: make test-guests waits for it through the image's lock), then the other
# Debian release's root (make debian-root: the README's install steps and the unit suite in a
# Debian 13 root on a Debian 12 machine, a Debian 12 root on a Debian 13 one), waited for at
# the end.  The real-guest tests run on a lab of their own (LAB_ID + 1) beside molecule.
# GUESTS=0 leaves them out, OTHER_RELEASE=0 the other release's root.
GUESTS ?= 1
GUESTS_LAB_ID ?= $(shell echo $$(( $(LAB_ID) + 1 )))
OTHER_RELEASE ?= 1
test: collection
	@rm -f $(BUILD)/matrix.rc $(BUILD)/background.rc; \
	echo "== in the background: the controller matrix ($(BUILD)/matrix.log)$(if $(filter 0,$(GUESTS)),,$(comma) the guest image ($(BUILD)/guest-image.log))$(if $(filter 0,$(OTHER_RELEASE)),,$(comma) the Debian $(OTHER_MAJOR) root ($(BUILD)/debian-root.log))"; \
	( nice $(MAKE) -k --no-print-directory matrix-run sanity-matrix > $(BUILD)/matrix.log 2>&1; echo $$? > $(BUILD)/matrix.rc ) & matrix=$$!; \
	( status=0; \
	  if [ "$(GUESTS)" != 0 ]; then nice $(PY) tests/lab/os_guest.py build > $(BUILD)/guest-image.log 2>&1 || status=1; fi; \
	  if [ "$(OTHER_RELEASE)" != 0 ]; then nice $(PYTHON) .ci/debian_root.py --suite $(DEBIAN_SUITE) > $(BUILD)/debian-root.log 2>&1 || status=1; fi; \
	  echo $$status > $(BUILD)/background.rc ) & background=$$!; \
	$(MAKE) -k --no-print-directory unit integration-run; status=$$?; \
	if [ "$(GUESTS)" != 0 ]; then echo "== the real-guest tests on lab $(GUESTS_LAB_ID) beside molecule ($(BUILD)/guests.log)"; rm -f $(BUILD)/guests.rc; \
	  ( $(MAKE) --no-print-directory guests-run LAB_ID=$(GUESTS_LAB_ID) > $(BUILD)/guests.log 2>&1; echo $$? > $(BUILD)/guests.rc ) & guests=$$!; fi; \
	$(MAKE) --no-print-directory molecule-run || status=1; \
	if [ "$(GUESTS)" != 0 ]; then wait $$guests; echo "== the real-guest tests:"; tail -25 $(BUILD)/guests.log; \
	  [ "$$(cat $(BUILD)/guests.rc 2>/dev/null)" = 0 ] || status=1; fi; \
	wait $$matrix; echo "== the controller matrix:"; grep -v 'WARNING: Location' $(BUILD)/matrix.log | tail -30; \
	[ "$$(cat $(BUILD)/matrix.rc 2>/dev/null)" = 0 ] || status=1; \
	$(MAKE) -k --no-print-directory sanity lint changelog-lint docs-lint || status=1; \
	wait $$background; \
	if [ "$(GUESTS)" != 0 ]; then echo "== the guest image:"; tail -3 $(BUILD)/guest-image.log; fi; \
	if [ "$(OTHER_RELEASE)" != 0 ]; then echo "== the Debian $(OTHER_MAJOR) root:"; grep '^== debian-root' $(BUILD)/debian-root.log | tail -4; fi; \
	[ "$$(cat $(BUILD)/background.rc 2>/dev/null)" = 0 ] || status=1; exit $$status
	@echo "== make test: unit (2.19 and the matrix), integration,$(if $(filter 0,$(GUESTS)),, guests,) molecule, sanity (2.19, 2.21), lint, changelog and docs lint$(if $(filter 0,$(OTHER_RELEASE)),, and the Debian $(OTHER_MAJOR) root) all passed"

unit: deps
	$(PY) -m pytest -q tests/unit

# The lab tests in two pytest processes at once, each on labs of its own: the files of
# INTEGRATION_APART (fresh Debian hosts and role converges: mostly apt, dpkg and debootstrap
# waiting on disk and network; and capacity and backup, ~6 min, which even out the two: 33 and 23
# min before) on lab APART_LAB_ID, the rest on lab LAB_ID.  INTEGRATION_APART= (empty) runs them
# all in one process.
INTEGRATION_APART ?= tests/integration/test_rolling_upgrade.py tests/integration/test_hypervisor_role_systemd.py \
	tests/integration/test_hypervisor_role_fresh.py tests/integration/test_hypervisor_role.py \
	tests/integration/test_monitoring.py tests/integration/test_hypervisor_tls.py \
	tests/integration/test_capacity.py tests/integration/test_backup.py
APART_LAB_ID ?= $(shell echo $$(( $(LAB_ID) + 2 )))
INTEGRATION_ENV = MATRIX_NEWEST=$(lastword $(MATRIX)) LAB_VIRT_TYPE=$(TEST_VIRT_TYPE)
integration: collection integration-run
integration-run:
	@status=0; rm -f $(BUILD)/integration-apart.rc; if [ -n "$(strip $(INTEGRATION_APART))" ]; then \
	  echo "== lab tests apart on lab $(APART_LAB_ID) ($(BUILD)/integration-apart.log): $(notdir $(INTEGRATION_APART))"; \
	  ( $(INTEGRATION_ENV) LAB_ID=$(APART_LAB_ID) $(PY) -m pytest -q -p no:cacheprovider $(INTEGRATION_APART) -m "not guest" \
	    --durations=10 > $(BUILD)/integration-apart.log 2>&1; echo $$? > $(BUILD)/integration-apart.rc ) & apart=$$!; fi; \
	$(INTEGRATION_ENV) $(PY) -m pytest -q tests/integration -m "not guest" --durations=15 \
	  $(foreach f,$(INTEGRATION_APART),--ignore=$(f)) || status=1; \
	if [ -n "$(strip $(INTEGRATION_APART))" ]; then wait $$apart; echo "== lab tests apart (lab $(APART_LAB_ID)):"; \
	  tail -20 $(BUILD)/integration-apart.log; [ "$$(cat $(BUILD)/integration-apart.rc 2>/dev/null)" = 0 ] || status=1; fi; \
	exit $$status

# Real Linux guests (tests/lab/os_guest.py): the Debian 12 image is built once (~2-10 min without
# its cache) and each test run boots two TCG guests (1-7 min each); `make test` runs them beside
# molecule.  `make guest-image` builds the image alone (make test starts it in the background).
guest-image: deps
	nice $(PY) tests/lab/os_guest.py build

# guests-run and molecule-run do not build the collection again: `make test` runs them at once,
# after its own build (two ansible-galaxy installs into build/collections at once would collide).
test-guests: collection guests-run
guests-run: guest-image
	LAB_VIRT_TYPE=$(TEST_VIRT_TYPE) nice $(PY) -m pytest -q tests/integration -m guest --durations=15

molecule: collection molecule-run
molecule-run:
	@if [ -d extensions/molecule ]; then cd extensions && LAB_VIRT_TYPE=$(TEST_VIRT_TYPE) ../$(VENV)/bin/molecule test --all; \
	else echo "== no molecule scenarios yet"; fi

# ansible-test wants the collection at .../ansible_collections/hotiron/virt: test a copy of
# the tracked files there.  Its bootstrap looks for get-pip in its cache under the name of the
# pip it installs (2.19: get_pip_24_2.py, 2.20 and 2.21: get_pip_25_2.py): both are written.
GET_PIP_CACHE := $(HOME)/.ansible/test/cache
SANITY_COPY   := $(SANITY_DIR)/ansible_collections/hotiron/virt
sanity-copy:
	@mkdir -p $(GET_PIP_CACHE) && for n in get_pip_24_2.py get_pip_25_2.py; do cp .ci/get_pip.py $(GET_PIP_CACHE)/$$n; done
	@rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_COPY)
	@git ls-files -z --cached --others --exclude-standard | \
	  tar --null -T - -cf - | tar -xf - -C $(SANITY_COPY)
	@cd $(SANITY_COPY) && git init -q && git add -A

sanity: deps sanity-copy
	cd $(SANITY_COPY) && $(CURDIR)/$(VENV)/bin/ansible-test sanity --python 3.11 --requirements --color no \
	  2>&1 | tail -40; exit $${PIPESTATUS[0]}

# --- the controller matrix ------------------------------------------------------------------
# The main virtualenv runs ansible-core 2.19 on Python 3.11 (`make unit`, `make sanity`); each
# MATRIX entry <ansible-core>@<Python> runs the unit suite in a virtualenv of its own, cached
# under ~/.cache/hotiron-virt/matrix by its pins (.ci/matrix.py: a second run installs nothing).
# A Python the machine lacks (PATH or pyenv) is a loud SKIPPED, a failure with MATRIX_REQUIRE=1.
# Sanity under the newest series (MATRIX_SANITY): the whole of it takes ~20 min here, too much
# for CI's budget, so `make test` runs its pylint (~3.5 min; 2.21 adds ansible-bad-function) and
# `make test-platforms` adds validate-modules, import and compile on Python 3.13 (~10 min in all);
# `make sanity-matrix MATRIX_SANITY_TESTS=` runs every test.
MATRIX ?= 2.20.10@3.12 2.21.5@3.13
MATRIX_SANITY ?= 2.21.5@3.13
MATRIX_SANITY_TESTS ?= pylint
matrix: unit matrix-run
matrix-run:
	$(PYTHON) .ci/matrix.py unit $(MATRIX)

sanity-matrix: deps sanity-copy
	$(PYTHON) .ci/matrix.py sanity $(MATRIX_SANITY) $(SANITY_COPY) $(foreach t,$(MATRIX_SANITY_TESTS),--test $(t))

# --- other platforms (outside `make test`'s budget) ---------------------------------------------
# debian-root: `make deps` and the unit suite in a root of the other Debian release
# (.ci/debian_root.py; `make test` runs it too): Debian 13 on a Debian 12 machine, Debian 12 on 13
# (DEBIAN_SUITE=bookworm|trixie chooses).  test-platforms adds the hypervisor role on fresh Debian 13
# hosts: sysv (install, converge twice, check mode, a guest under QEMU 10) and systemd (TLS too),
# a mixed group (a lab host on Debian 12 and a fresh Debian 13 one: migrations both ways) and the
# rolling upgrade on three of them (libvirt 11.3).
ifeq ($(DEBIAN_MAJOR),12)
DEBIAN_SUITE ?= trixie
OTHER_MAJOR  := 13
else
DEBIAN_SUITE ?= bookworm
OTHER_MAJOR  := 12
endif
debian-root:
	$(PYTHON) .ci/debian_root.py --suite $(DEBIAN_SUITE)

test-platforms: collection
	@$(MAKE) -k --no-print-directory debian-root platform-hosts sanity-matrix \
	  MATRIX_SANITY_TESTS="pylint validate-modules import compile"
	@echo "== make test-platforms: passed"

platform-hosts: collection
	FRESH_SUITE=trixie LAB_VIRT_TYPE=$(TEST_VIRT_TYPE) $(PY) -m pytest -q --durations=10 \
	  tests/integration/test_hypervisor_role_fresh.py tests/integration/test_hypervisor_role_systemd.py \
	  tests/integration/test_mixed_versions.py tests/integration/test_rolling_upgrade.py

print-apt-packages:
	@echo $(APT_PACKAGES)

lint: deps
	$(VENV)/bin/ansible-lint --offline -q

changelog-lint: deps
	$(VENV)/bin/antsibull-changelog lint

# --- the documentation site ------------------------------------------------------------------
# antsibull-docs writes a page per module, plugin and role of the installed collection, plus the
# guides of docs/docsite/rst/ (every guide_*.rst is listed by guides.rst: nothing to register);
# docs/event_source_pages.py a page per event source (which antsibull-docs does not document);
# Sphinx makes the site, with warnings as errors. Offline: intersphinx is replaced by
# docs/hotiron_docs_offline.py. tests/integration/test_docs.py opens the site in Chromium.
DOCS := $(BUILD)/docs
docs: collection
	@rm -rf $(DOCS) && mkdir -p $(DOCS)/sphinx/rst && chmod -R 755 $(DOCS)
	@$(VENV)/bin/antsibull-docs sphinx-init --use-current --squash-hierarchy --dest-dir $(DOCS)/sphinx \
	  --project hotiron.virt --title hotiron.virt --copyright "hotiron.virt contributors" hotiron.virt >/dev/null
	@printf '\nimport sys\nsys.path.insert(0, "%s")\nintersphinx_mapping = {}\nextensions = [e for e in extensions if e != "sphinx.ext.intersphinx"] + ["hotiron_docs_offline"]\n' \
	  "$(CURDIR)/docs" >> $(DOCS)/sphinx/conf.py
	@$(VENV)/bin/antsibull-docs --config-file $(DOCS)/sphinx/antsibull-docs.cfg collection --use-current \
	  --squash-hierarchy --fail-on-error --cleanup everything --dest-dir $(DOCS)/sphinx/rst hotiron.virt >/dev/null
	@$(PY) docs/event_source_pages.py $(CURDIR) $(DOCS)/sphinx/rst/docsite >/dev/null
	$(VENV)/bin/sphinx-build -b html -q -W --keep-going -c $(DOCS)/sphinx $(DOCS)/sphinx/rst $(DOCS)/html
	@echo "== docs site in $(DOCS)/html/index.html"

# The collection's docs as antsibull-docs checks them (plugin docs included), then the site,
# then the site opened in headless Chromium (tests/docs).
docs-lint: collection
	$(VENV)/bin/antsibull-docs lint-collection-docs --plugin-docs $(COLL_DIR)/ansible_collections/hotiron/virt
	@$(MAKE) --no-print-directory docs
	$(PY) -m pytest -q -p no:cacheprovider tests/docs

benchmarks: collection
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
	@echo "== benchmarks/bench_migrate.py --playbook"; $(PY) benchmarks/bench_migrate.py --playbook

clean: lab-down
	rm -rf $(BUILD)
