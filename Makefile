# trovefs - one plain GNU Makefile (see ../shared/STYLE.md section 9).
#
#   make                  build $(BUILD)/trovefs
#   make deps             install every build and test dependency (apt)
#   make check            unit tests, then integration tests (root, FUSE)
#   make check SAN=1      the same under ASan + UBSan (objects in build-san/)
#   make demo             build and mount a demo on the local: store
#   make bench            benchmarks against the peer tools (not a test)
#   make install DESTDIR=... PREFIX=...
#
# WERROR=1 adds -Werror (CI sets it). BUILD=DIR puts objects elsewhere.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= /sbin
MANDIR     ?= $(PREFIX)/share/man
PKG_CONFIG ?= pkg-config
CC         ?= cc
CFLAGS     ?= -O2 -g
VERSION    := 0.1.0

ifeq ($(SAN),1)
BUILD      ?= build-san
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
else
BUILD      ?= build
SAN_FLAGS  :=
endif

# libbson only (JSON): libmongoc's constructor sets up shared-memory
# counters in every program linked with it and now and then prints
# "Falling back to malloc for counters" where a tool's output is compared.
# The MongoDB driver will bring libmongoc-1.0 back (with MONGOC_DISABLE_SHM).
PKGS       := fuse3 libcurl hiredis libbson-1.0 openssl zlib inih libisal liblz4
WARN       := -Wall -Wextra -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wwrite-strings -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARN       += -Werror
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ifeq ($(filter deps clean format format-check uninstall,$(MAKECMDGOALS)),)
ifeq ($(PKG_LIBS),)
$(error build libraries missing (pkg-config: $(PKGS)): run 'sudo make deps' first)
endif
endif
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DFUSE_USE_VERSION=35 \
              -DTROVEFS_VERSION='"$(VERSION)"' $(WARN) $(PKG_CFLAGS) \
              $(SAN_FLAGS) $(CFLAGS)
LIBS       := $(PKG_LIBS) -pthread $(SAN_FLAGS)
TEST_LIBS  := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null) $(LIBS)

# Everything but the FUSE front end goes into one static library that the
# daemon and every unit test link against.
LIB_SRCS   := $(sort $(wildcard conf/*.c backends/*.c datastores/*.c \
                                fs/vfs*.c))
DAEMON_SRCS := fs/main.c fs/fuse_ops.c
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRCS  := $(sort $(wildcard tests/tools/*.c bench/*.c))

LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)
UNIT_BINS  := $(UNIT_SRCS:%.c=$(BUILD)/%)
TOOL_BINS  := $(TOOL_SRCS:%.c=$(BUILD)/%)
LIBTROVEFS := $(BUILD)/libtrovefs.a
TROVEFS    := $(BUILD)/trovefs

.PHONY: all check check-unit check-integration bench install uninstall \
        clean deps demo format format-check tools

all: $(TROVEFS)

# Objects of tests and tools are not intermediate files: keep them.
.SECONDARY:

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBTROVEFS): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(TROVEFS): $(DAEMON_OBJS) $(LIBTROVEFS)
	$(CC) $(LDFLAGS) $(SAN_FLAGS) -o $@ $(DAEMON_OBJS) $(LIBTROVEFS) $(LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIBTROVEFS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBTROVEFS) $(TEST_LIBS)

$(BUILD)/tests/tools/%: $(BUILD)/tests/tools/%.o $(LIBTROVEFS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBTROVEFS) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIBTROVEFS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBTROVEFS) $(LIBS)

tools: $(TOOL_BINS)

# Unit tests: each binary runs alone; the exit code of every one counts.
check-unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do \
		echo "== $$t"; \
		"$$t" || fail=1; \
	done; \
	if [ $$fail -ne 0 ]; then echo "unit tests FAILED"; exit 1; fi

# Integration tests: real FUSE mounts (and real servers) as root.
check-integration: $(TROVEFS) $(TOOL_BINS)
	TROVEFS_BUILD=$(abspath $(BUILD)) SAN=$(SAN) \
		sh tests/integration/run.sh

check: check-unit check-integration

bench: $(TROVEFS) $(TOOL_BINS)
	TROVEFS_BUILD=$(abspath $(BUILD)) bash bench/run.sh

# Build and test dependencies from Debian's archive; idempotent.
DEB_BUILD  := build-essential pkg-config libfuse3-dev libcurl4-openssl-dev \
              libhiredis-dev libmongoc-dev libbson-dev libssl-dev \
              zlib1g-dev libinih-dev libisal-dev liblz4-dev libcmocka-dev
DEB_TEST   := fuse3 rsync attr openssl gzip curl xxd iproute2 bc clang-format
deps:
	sh tests/services/install-deps.sh $(DEB_BUILD) $(DEB_TEST)

# Mounts a demo on the local: store with a generated key (see README).
demo: $(TROVEFS)
	sh mount-helpers/trovefs-demo.sh $(BUILD)

install: $(TROVEFS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(TROVEFS) $(DESTDIR)$(BINDIR)/trovefs
	sed 's|@BINDIR@|$(BINDIR)|' mount-helpers/mount.trovefs \
		> $(DESTDIR)$(SBINDIR)/mount.trovefs
	chmod 0755 $(DESTDIR)$(SBINDIR)/mount.trovefs
	install -m 0644 docs/trovefs.8 docs/mount.trovefs.8 \
		$(DESTDIR)$(MANDIR)/man8/
	install -m 0644 docs/trovefs.conf.5 $(DESTDIR)$(MANDIR)/man5/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/trovefs $(DESTDIR)$(SBINDIR)/mount.trovefs \
		$(DESTDIR)$(MANDIR)/man8/trovefs.8 \
		$(DESTDIR)$(MANDIR)/man8/mount.trovefs.8 \
		$(DESTDIR)$(MANDIR)/man5/trovefs.conf.5

FORMAT_FILES := $(sort $(wildcard conf/*.[ch] backends/*.[ch] \
                  datastores/*.[ch] fs/*.[ch] tests/unit/*.[ch] \
                  tests/tools/*.[ch] bench/*.[ch]))
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

format:
	clang-format -i $(FORMAT_FILES)

clean:
	rm -rf build build-san

-include $(LIB_OBJS:.o=.d) $(DAEMON_OBJS:.o=.d) $(UNIT_BINS:=.d) \
         $(TOOL_BINS:=.d)
