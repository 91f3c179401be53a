# Alerting rules (alerts/), the fleet dashboard (dashboards/) and the example
# Alertmanager configuration (examples/alertmanager.yml).
#
#   make test-rules          promtool check rules, promtool test rules alerts/tests/*.yml
#   make test-dashboards     the dashboard checks in tools/dashboardcheck (Go tests;
#                            they build the exporter and scrape it in --demo mode)
#   make test-alertmanager   amtool check-config, and each severity reaches its receiver
#
# promtool and amtool are fetched by these targets into $(TOOLS_BIN), so a
# fresh machine needs nothing installed. They come from Debian's packages
# (prometheus 2.42, prometheus-alertmanager 0.25): downloading and unpacking
# the two .deb files takes seconds, where `go install` of promtool took over
# five minutes on the two-core CI machine. Only the binaries are unpacked; no
# package is installed and no service started. Without apt-get (not Debian)
# they are built with `go install` at the versions below; the rule tests pass
# with both promtool generations. A tool that cannot be had fails the run.

PROMTOOL            ?= $(TOOLS_BIN)/promtool
AMTOOL              ?= $(TOOLS_BIN)/amtool
PROMTOOL_GO_VERSION ?= v0.316.0
AMTOOL_GO_VERSION   ?= v0.28.1

RULE_FILES         := alerts/safeconsole.rules.yml
RULE_TEST_FILES    := $(sort $(wildcard alerts/tests/*.yml))
ALERTMANAGER_FILE  := examples/alertmanager.yml
# severity:receiver pairs that examples/alertmanager.yml must route.
ALERTMANAGER_ROUTES := critical:safeconsole-pager warning:safeconsole-team info:safeconsole-low-noise

TEST_TARGETS += test-rules test-dashboards test-alertmanager

.PHONY: test-rules test-dashboards test-alertmanager

test-rules: $(PROMTOOL)
	$(PROMTOOL) check rules $(RULE_FILES)
	$(PROMTOOL) test rules $(RULE_TEST_FILES)

test-dashboards:
	cd tools && $(GO) vet ./dashboardcheck/
	cd tools && $(GO) test -count=1 ./dashboardcheck/

test-alertmanager: $(AMTOOL)
	$(AMTOOL) check-config $(ALERTMANAGER_FILE)
	@for route in $(ALERTMANAGER_ROUTES); do \
		severity=$${route%%:*}; want=$${route#*:}; \
		if ! $(AMTOOL) config routes test --config.file=$(ALERTMANAGER_FILE) \
			--verify.receivers="$$want" severity="$$severity" alertname=SafeConsoleRouteTest >/dev/null 2>&1; then \
			echo "$(ALERTMANAGER_FILE): severity=$$severity does not reach receiver $$want"; exit 1; \
		fi; \
		echo "$(ALERTMANAGER_FILE): severity=$$severity -> $$want"; \
	done

$(TOOLS_BIN)/promtool:
	$(call fetch-tool,prometheus,promtool,github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_GO_VERSION))

$(TOOLS_BIN)/amtool:
	$(call fetch-tool,prometheus-alertmanager,amtool,github.com/prometheus/alertmanager/cmd/amtool@$(AMTOOL_GO_VERSION))

# $(call fetch-tool,DEBIAN_PACKAGE,BINARY,GO_PACKAGE@VERSION) puts BINARY into
# $(TOOLS_BIN): unpacked from the Debian package (refreshing apt's package
# lists once if the package is unknown), or built with go install where there
# is no apt-get. The binary is moved into place only once complete.
define fetch-tool
	@set -e; mkdir -p "$(abspath $(TOOLS_BIN))"; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then \
		echo "fetching $(2) from Debian's $(1) package"; \
		cd "$$tmp"; \
		if ! apt-get download -q $(1) >/dev/null 2>&1; then \
			apt-get update -q >/dev/null; \
			apt-get download -q $(1); \
		fi; \
		dpkg-deb -x $(1)_*.deb root; \
		cp root/usr/bin/$(2) "$(abspath $(TOOLS_BIN))/.$(2).new"; \
	else \
		echo "building $(2): go install $(3)"; \
		GOBIN="$$tmp" $(GO) install $(3); \
		cp "$$tmp/$(2)" "$(abspath $(TOOLS_BIN))/.$(2).new"; \
	fi; \
	chmod 0755 "$(abspath $(TOOLS_BIN))/.$(2).new"; \
	mv "$(abspath $(TOOLS_BIN))/.$(2).new" "$(abspath $(TOOLS_BIN))/$(2)"; \
	"$(abspath $(TOOLS_BIN))/$(2)" --version 2>&1 | head -n 1
endef
