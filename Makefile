# hotiron.virt — every entry point an operator or CI needs.
#   make demo   installs what is missing, brings up the lab, runs playbooks/demo.yml
#   make test   installs what is missing, runs every test (unit, integration, molecule, static)
#   make test-guests   builds the real Linux guest image (cached) and runs the tests that boot it
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     ?= .venv
BUILD    := build
HOSTS    ?= 3
LAB_ID   ?= 0
PY       := $(VENV)/bin/python
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
# Debian 13, which this --no-install-recommends install would leave out).
DEBIAN_MAJOR := $(shell . /etc/os-release 2>/dev/null && echo "$${VERSION_ID%%.*}")
ifeq ($(DEBIAN_MAJOR),12)
RELEASE_PACKAGES := openjdk-17-jre-headless fence-agents
else
RELEASE_PACKAGES := default-jre-headless fence-agents-ipmilan libvirt-daemon-lock libvirt-daemon-plugin-lockd
endif

APT_PACKAGES := libvirt-daemon-system libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils \
	qemu-block-extra libvirt-clients libvirt-dev pkg-config python3-libvirt python3-venv \
	openssh-server openssh-client tgt libvirt-daemon-driver-storage-iscsi-direct \
	iproute2 util-linux procps git gcc python3-dev bindfs e2fsprogs dnsmasq-base python3-apt openssl \
	debootstrap ipmitool prometheus prometheus-libvirt-exporter chromium \
	systemd-container $(RELEASE_PACKAGES)

.PHONY: help deps apt venv collection src-link demo test unit integration molecule sanity lint guest-image test-guests \
	changelog-lint lab-up lab-down lab-status benchmarks clean

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
demo: collection
	$(PY) tests/lab/lab.py up --hosts $(HOSTS)
	$(VENV)/bin/ansible-playbook -i $$($(PY) tests/lab/lab.py inventory) playbooks/demo.yml

# The real Linux guest image is built in the background from the start (~2 CPU-minutes; 2-4 min
# of wall time plus the ~1.5 min download), ready when test-guests needs it.  GUESTS=0 skips
# the guest tests (and the build).
GUESTS ?= 1
test: collection
	@if [ "$(GUESTS)" != 0 ]; then echo "== building the guest image in the background ($(BUILD)/guest-image.log)"; \
	  nice $(PY) tests/lab/os_guest.py build > $(BUILD)/guest-image.log 2>&1 & fi; \
	$(MAKE) -k --no-print-directory unit integration $(if $(filter 0,$(GUESTS)),,test-guests) molecule sanity lint \
	  changelog-lint; status=$$?; wait; exit $$status
	@echo "== make test: unit, integration, guests, molecule, sanity, lint and changelog lint all passed"

unit: deps
	$(PY) -m pytest -q tests/unit

integration: collection
	LAB_VIRT_TYPE=$(TEST_VIRT_TYPE) $(PY) -m pytest -q tests/integration -m "not guest" --durations=15

# Real Linux guests (tests/lab/os_guest.py): the Debian 12 image is built once (~2-10 min without
# its cache) and each test run boots a few TCG guests (1-7 min each): apart from `make test`.
# `make guest-image` builds the image alone (CI can start it in the background early).
guest-image: deps
	nice $(PY) tests/lab/os_guest.py build

test-guests: collection guest-image
	LAB_VIRT_TYPE=$(TEST_VIRT_TYPE) nice $(PY) -m pytest -q tests/integration -m guest --durations=15

molecule: collection
	@if [ -d extensions/molecule ]; then cd extensions && LAB_VIRT_TYPE=$(TEST_VIRT_TYPE) ../$(VENV)/bin/molecule test --all; \
	else echo "== no molecule scenarios yet"; fi

# ansible-test wants the collection at .../ansible_collections/hotiron/virt: test a copy of
# the tracked files there.
GET_PIP_CACHE := $(HOME)/.ansible/test/cache/get_pip_24_2.py
sanity: deps
	@mkdir -p $(dir $(GET_PIP_CACHE)) && cp .ci/get_pip.py $(GET_PIP_CACHE)
	@rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)/ansible_collections/hotiron/virt
	@git ls-files -z --cached --others --exclude-standard | \
	  tar --null -T - -cf - | tar -xf - -C $(SANITY_DIR)/ansible_collections/hotiron/virt
	cd $(SANITY_DIR)/ansible_collections/hotiron/virt && git init -q && git add -A && \
	  $(CURDIR)/$(VENV)/bin/ansible-test sanity --python 3.11 --requirements --color no \
	  2>&1 | tail -40; exit $${PIPESTATUS[0]}

lint: deps
	$(VENV)/bin/ansible-lint --offline -q

changelog-lint: deps
	$(VENV)/bin/antsibull-changelog lint

benchmarks: collection
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
	@echo "== benchmarks/bench_migrate.py --playbook"; $(PY) benchmarks/bench_migrate.py --playbook

clean: lab-down
	rm -rf $(BUILD)
