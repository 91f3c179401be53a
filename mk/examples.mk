# The example stack (examples/): docker-compose.yml, prometheus.yml, Grafana
# provisioning and the Kubernetes manifests.
#
#   make examples-generate   regenerate examples/kubernetes/prometheus-operator/
#                            prometheusrule.yaml from alerts/safeconsole.rules.yml
#   make test-examples       promtool check config examples/prometheus.yml, and
#                            the Go tests in tools/examplescheck: the compose file
#                            loaded by compose-go with every mount present, the
#                            configurations cross-checked, the manifests parsed
#                            and wired, the PrometheusRule matching alerts/
#
# promtool comes from the $(TOOLS_BIN)/promtool rule in mk/rules.mk.

PROMTOOL ?= $(TOOLS_BIN)/promtool

TEST_TARGETS += test-examples

.PHONY: examples-generate test-examples

examples-generate:
	cd tools && $(GO) run ./examplescheck/cmd/generate -root ..

test-examples: $(PROMTOOL)
	$(PROMTOOL) check config examples/prometheus.yml
	cd tools && $(GO) vet ./examplescheck/...
	cd tools && $(GO) test -count=1 ./examplescheck/...
