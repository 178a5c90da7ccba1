# behaviord: build, install, package.
#
#   make build                      cargo build --release of the shipped crates
#   make install [DESTDIR=/tmp/try] install the built files (as root for the live system)
#   make uninstall                  remove them again; keeps /var/lib/behaviord and the config
#   make deb                        target/debian/behaviord_<version>_<arch>.deb
#   make test                       scripts/test.sh (the whole test suite)
#
# PROFILE=debug installs or packages target/debug instead of target/release (tests use it).
# Paths follow Debian 12: the PAM module goes to the multiarch security directory, which PAM
# searches whatever PREFIX is.

CARGO    ?= cargo
PROFILE  ?= release
PREFIX   ?= /usr
DESTDIR  ?=

MULTIARCH  ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/behaviord
HELPERDIR  ?= $(PREFIX)/lib/behaviord
PAMDIR     ?= /lib/$(MULTIARCH)/security
UNITDIR    ?= /lib/systemd/system
SYSCONFDIR ?= /etc
# The system bus reads policies from $(DATADIR)/dbus-1 only when PREFIX is /usr.
DBUSDIR    ?= $(DATADIR)/dbus-1

# Where cargo put the binaries (honours CARGO_TARGET_DIR like cargo does).
BUILT := $(or $(CARGO_TARGET_DIR),target)/$(PROFILE)
MAN1  := packaging/man/behaviorctl.1
MAN5  := packaging/man/behaviord.toml.5
MAN8  := packaging/man/behaviord.8 packaging/man/pam_behavior.8

.PHONY: build install uninstall deb test

# Only what is shipped (the daemon, behaviorctl, the PAM module): not the test harness.
build:
	$(CARGO) build --locked -p behaviord -p pam_behavior $(if $(filter release,$(PROFILE)),--release,)

# Installs what `make build` produced; it does not build, so `sudo make install` never runs
# cargo as root.
install:
	@for f in $(BUILT)/behaviord $(BUILT)/behaviorctl $(BUILT)/libpam_behavior.so; do \
	  [ -f $$f ] || { echo "make install: $$f is missing; run 'make build' first" >&2; exit 1; }; \
	done
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PAMDIR) \
	  $(DESTDIR)$(DBUSDIR)/system.d $(DESTDIR)$(DBUSDIR)/system-services \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/pam-configs $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(HELPERDIR)
	install -m 0755 $(BUILT)/behaviord $(DESTDIR)$(SBINDIR)/behaviord
	sed 's|@SBINDIR@|$(SBINDIR)|g' scripts/daemon.sh > $(DESTDIR)$(HELPERDIR)/daemon.sh
	chmod 0755 $(DESTDIR)$(HELPERDIR)/daemon.sh
	install -m 0755 $(BUILT)/behaviorctl $(DESTDIR)$(BINDIR)/behaviorctl
	install -m 0644 $(BUILT)/libpam_behavior.so $(DESTDIR)$(PAMDIR)/pam_behavior.so
	install -m 0644 etc/dbus-1/system.d/org.behaviord.Behavior1.conf $(DESTDIR)$(DBUSDIR)/system.d/
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/dbus/org.behaviord.Behavior1.service.in \
	  > $(DESTDIR)$(DBUSDIR)/system-services/org.behaviord.Behavior1.service
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/systemd/behaviord.service.in \
	  > $(DESTDIR)$(UNITDIR)/behaviord.service
	chmod 0644 $(DESTDIR)$(DBUSDIR)/system-services/org.behaviord.Behavior1.service \
	  $(DESTDIR)$(UNITDIR)/behaviord.service
	install -m 0644 packaging/pam-configs/behavior $(DESTDIR)$(DATADIR)/pam-configs/behavior
	for m in $(MAN1); do gzip -9nc $$m > $(DESTDIR)$(MANDIR)/man1/$$(basename $$m).gz; done
	for m in $(MAN5); do gzip -9nc $$m > $(DESTDIR)$(MANDIR)/man5/$$(basename $$m).gz; done
	for m in $(MAN8); do gzip -9nc $$m > $(DESTDIR)$(MANDIR)/man8/$$(basename $$m).gz; done
	chmod 0644 $(DESTDIR)$(MANDIR)/man?/*behavior*.gz
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@# The default configuration, if the tree has one; an existing one is the admin's and stays.
	@if [ -f etc/behaviord.toml ]; then \
	  install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/behaviord; \
	  if [ -e $(DESTDIR)$(SYSCONFDIR)/behaviord/behaviord.toml ]; then \
	    echo "make install: keeping existing $(DESTDIR)$(SYSCONFDIR)/behaviord/behaviord.toml"; \
	  else \
	    install -m 0644 etc/behaviord.toml $(DESTDIR)$(SYSCONFDIR)/behaviord/behaviord.toml; \
	  fi; \
	fi
	@# A pam.d example, if the tree has one.
	@if [ -d etc/pam.d ]; then \
	  install -d -m 0755 $(DESTDIR)$(DOCDIR)/examples/pam.d; \
	  install -m 0644 etc/pam.d/* $(DESTDIR)$(DOCDIR)/examples/pam.d/; \
	fi
	@# On the live system: make the bus policy and the unit known; starting is the admin's call.
	@if [ -z "$(DESTDIR)" ]; then \
	  install -d -m 0700 /var/lib/behaviord; \
	  if [ -S /run/dbus/system_bus_socket ]; then \
	    dbus-send --system --type=method_call --dest=org.freedesktop.DBus / \
	      org.freedesktop.DBus.ReloadConfig || true; fi; \
	  if [ -d /run/systemd/system ]; then systemctl daemon-reload; \
	    echo "make install: start it with: systemctl enable --now behaviord"; \
	  else echo "make install: start it with: $(HELPERDIR)/daemon.sh start"; fi; \
	fi

# Leaves /var/lib/behaviord (templates, PINs, events) and /etc/behaviord (the admin's policy).
# On the live system (no DESTDIR) it first stops the daemon and takes the module out of
# /etc/pam.d/common-* in case the admin enabled the pam-auth-update profile.
uninstall:
	@if [ -z "$(DESTDIR)" ]; then \
	  if [ -d /run/systemd/system ]; then systemctl disable --now behaviord.service || true; fi; \
	  if command -v pam-auth-update >/dev/null && [ -f $(DATADIR)/pam-configs/behavior ]; then \
	    pam-auth-update --package --remove behavior; fi; \
	fi
	rm -f $(DESTDIR)$(SBINDIR)/behaviord $(DESTDIR)$(BINDIR)/behaviorctl \
	  $(DESTDIR)$(HELPERDIR)/daemon.sh \
	  $(DESTDIR)$(PAMDIR)/pam_behavior.so \
	  $(DESTDIR)$(DBUSDIR)/system.d/org.behaviord.Behavior1.conf \
	  $(DESTDIR)$(DBUSDIR)/system-services/org.behaviord.Behavior1.service \
	  $(DESTDIR)$(UNITDIR)/behaviord.service \
	  $(DESTDIR)$(DATADIR)/pam-configs/behavior \
	  $(DESTDIR)$(MANDIR)/man1/behaviorctl.1.gz $(DESTDIR)$(MANDIR)/man5/behaviord.toml.5.gz \
	  $(DESTDIR)$(MANDIR)/man8/behaviord.8.gz $(DESTDIR)$(MANDIR)/man8/pam_behavior.8.gz
	rm -rf $(DESTDIR)$(DOCDIR)
	rmdir $(DESTDIR)$(HELPERDIR) 2>/dev/null || true
	@echo "make uninstall: kept $(DESTDIR)/var/lib/behaviord and $(DESTDIR)$(SYSCONFDIR)/behaviord"

deb:
	PROFILE=$(PROFILE) packaging/deb/build-deb.sh

test:
	scripts/test.sh
