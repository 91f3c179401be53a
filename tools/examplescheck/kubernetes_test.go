package examplescheck

import (
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const kubernetesDir = "examples/kubernetes"

// kubeObjects parses every manifest under examples/kubernetes and indexes
// the objects by kind. Each must have the fields every Kubernetes object has.
func kubeObjects(t *testing.T) map[string][]map[string]any {
	t.Helper()
	objs := map[string][]map[string]any{}
	files := 0
	err := filepath.WalkDir(repoPath(kubernetesDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: not a manifest; kubectl apply -f would stumble over it", rel)
			return nil
		}
		files++
		docs, err := decodeAll(mustRead(t, p))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if len(docs) == 0 {
			t.Errorf("%s: no objects", rel)
		}
		for _, o := range docs {
			kind := digString(o, "kind")
			if digString(o, "apiVersion") == "" || kind == "" || digString(o, "metadata", "name") == "" {
				t.Errorf("%s: an object without apiVersion, kind or metadata.name", rel)
				continue
			}
			if digString(o, "metadata", "namespace") != "" {
				t.Errorf("%s: %s sets a namespace; the examples go wherever kubectl -n puts them", rel, kind)
			}
			objs[kind] = append(objs[kind], o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no manifests")
	}
	return objs
}

func one(t *testing.T, objs map[string][]map[string]any, kind string) map[string]any {
	t.Helper()
	if n := len(objs[kind]); n != 1 {
		t.Fatalf("%d objects of kind %s, want 1", n, kind)
	}
	return objs[kind][0]
}

func TestKubernetesKinds(t *testing.T) {
	objs := kubeObjects(t)
	var kinds []string
	for k := range objs {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	want := []string{"Deployment", "PrometheusRule", "Secret", "Service", "ServiceMonitor"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}

func exporterContainer(t *testing.T, dep map[string]any) map[string]any {
	t.Helper()
	containers := digList(dep, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("%d containers in the Deployment, want 1", len(containers))
	}
	c, _ := containers[0].(map[string]any)
	return c
}

func TestKubernetesDeploymentSecurity(t *testing.T) {
	dep := one(t, kubeObjects(t), "Deployment")
	pod := digMap(dep, "spec", "template", "spec")
	c := exporterContainer(t, dep)

	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if uid, _ := dig(pod, "securityContext", "runAsUser").(int); uid == 0 {
		t.Error("pod securityContext.runAsUser is unset or 0")
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("container securityContext.readOnlyRootFilesystem is not true")
	}
	if dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("container securityContext.allowPrivilegeEscalation is not false")
	}
	if !slices.Contains(digList(c, "securityContext", "capabilities", "drop"), any("ALL")) {
		t.Error("container does not drop all capabilities")
	}
	// Probes must not hit /metrics: each scrape pages through the whole fleet.
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		if p := digString(c, probe, "httpGet", "path"); p == "" || strings.HasPrefix(p, "/metrics") {
			t.Errorf("%s path %q", probe, p)
		}
	}
}

// The token reaches the exporter as a file from the Secret, at the path
// --safeconsole.token-file names, and never as a literal value.
func TestKubernetesTokenFromSecret(t *testing.T) {
	objs := kubeObjects(t)
	dep := one(t, objs, "Deployment")
	secret := one(t, objs, "Secret")
	c := exporterContainer(t, dep)

	var args []string
	for _, a := range digList(c, "args") {
		s, _ := a.(string)
		args = append(args, s)
	}
	tokenFile := flagValue(args, "--safeconsole.token-file")
	if tokenFile == "" {
		t.Fatalf("args %q have no --safeconsole.token-file", args)
	}
	if flagValue(args, "--safeconsole.url") == "" {
		t.Errorf("args %q have no --safeconsole.url", args)
	}
	for _, e := range digList(c, "env") {
		if strings.Contains(strings.ToUpper(digString(e, "name")), "TOKEN") && dig(e, "value") != nil {
			t.Errorf("env %s carries a literal value", digString(e, "name"))
		}
	}

	var mountPath, volume string
	for _, m := range digList(c, "volumeMounts") {
		mp := digString(m, "mountPath")
		if strings.HasPrefix(tokenFile, mp+"/") {
			mountPath, volume = mp, digString(m, "name")
			if dig(m, "readOnly") != true {
				t.Errorf("volume %s is mounted writable", volume)
			}
		}
	}
	if volume == "" {
		t.Fatalf("no volume mounted where %s is", tokenFile)
	}
	var vol map[string]any
	for _, v := range digList(dep, "spec", "template", "spec", "volumes") {
		if digString(v, "name") == volume {
			vol, _ = v.(map[string]any)
		}
	}
	if got, want := digString(vol, "secret", "secretName"), digString(secret, "metadata", "name"); got == "" || got != want {
		t.Fatalf("volume %s takes secret %q, the Secret is %q", volume, got, want)
	}
	key := strings.TrimPrefix(tokenFile, mountPath+"/")
	for _, item := range digList(vol, "secret", "items") {
		if digString(item, "path") == key {
			key = digString(item, "key")
		}
	}
	if dig(secret, "stringData", key) == nil && dig(secret, "data", key) == nil {
		t.Errorf("the Secret has no key %q for %s", key, tokenFile)
	}
}

// Service, Deployment and ServiceMonitor find each other.
func TestKubernetesWiring(t *testing.T) {
	objs := kubeObjects(t)
	dep := one(t, objs, "Deployment")
	svc := one(t, objs, "Service")
	sm := one(t, objs, "ServiceMonitor")
	c := exporterContainer(t, dep)

	podLabels := digMap(dep, "spec", "template", "metadata", "labels")
	if !subset(digMap(dep, "spec", "selector", "matchLabels"), podLabels) {
		t.Error("the Deployment's selector does not match its pods")
	}
	if !subset(digMap(svc, "spec", "selector"), podLabels) {
		t.Error("the Service's selector does not match the exporter's pods")
	}

	containerPorts := map[string]int{}
	for _, p := range digList(c, "ports") {
		n, _ := dig(p, "containerPort").(int)
		containerPorts[digString(p, "name")] = n
	}
	if !slices.Contains(slices.Collect(maps.Values(containerPorts)), 10150) {
		t.Error("the container does not declare port 10150")
	}
	servicePorts := map[string]bool{}
	for _, p := range digList(svc, "spec", "ports") {
		servicePorts[digString(p, "name")] = true
		switch target := dig(p, "targetPort").(type) {
		case string:
			if _, ok := containerPorts[target]; !ok {
				t.Errorf("Service targetPort %q is no container port", target)
			}
		case int:
			if !slices.Contains(slices.Collect(maps.Values(containerPorts)), target) {
				t.Errorf("Service targetPort %d is no container port", target)
			}
		default:
			t.Errorf("Service port %s has no targetPort", digString(p, "name"))
		}
	}

	if !subset(digMap(sm, "spec", "selector", "matchLabels"), digMap(svc, "metadata", "labels")) {
		t.Error("the ServiceMonitor's selector does not match the Service")
	}
	endpoints := digList(sm, "spec", "endpoints")
	if len(endpoints) == 0 {
		t.Fatal("the ServiceMonitor has no endpoints")
	}
	for _, e := range endpoints {
		if !servicePorts[digString(e, "port")] {
			t.Errorf("ServiceMonitor endpoint port %q is no named Service port", digString(e, "port"))
		}
		interval, err1 := time.ParseDuration(digString(e, "interval"))
		timeout, err2 := time.ParseDuration(digString(e, "scrapeTimeout"))
		if err1 != nil || err2 != nil || timeout > interval {
			t.Errorf("ServiceMonitor interval %q and scrapeTimeout %q: want both, timeout <= interval",
				digString(e, "interval"), digString(e, "scrapeTimeout"))
		}
	}
}
