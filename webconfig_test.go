package main

// /metrics locked down end to end: the real binary with a --web.config.file
// that enables TLS and basic auth, as examples/web-config.yml shows, and
// --web.max-requests bounding concurrent scrapes.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/prometheus/exporter-toolkit/web"
)

const (
	webUser     = "prometheus"
	webPassword = "correct horse battery staple"
)

// lockedDown writes a self-signed certificate for 127.0.0.1 and a web
// configuration made from examples/web-config.yml: its certificate paths
// point to the new files and its placeholder hash is replaced by a bcrypt
// hash of webPassword. It returns the configuration's path and a client
// that trusts the certificate.
func lockedDown(t *testing.T) (string, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "safeconsole_exporter test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))

	// The minimum cost keeps the test quick; examples/web-config.yml
	// explains how to make a real hash.
	hash, err := bcrypt.GenerateFromPassword([]byte(webPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("examples/web-config.yml")
	if err != nil {
		t.Fatal(err)
	}
	config := string(example)
	for old, new := range map[string]string{
		"/etc/safeconsole_exporter/tls.crt": certFile,
		"/etc/safeconsole_exporter/tls.key": keyFile,
		examplePlaceholderHash:              string(hash),
	} {
		if strings.Count(config, old) != 1 {
			t.Fatalf("examples/web-config.yml no longer holds %q once", old)
		}
		config = strings.Replace(config, old, new, 1)
	}
	configFile := filepath.Join(dir, "web-config.yml")
	writeFile(t, configFile, []byte(config))
	if err := web.Validate(configFile); err != nil {
		t.Fatalf("examples/web-config.yml with real files and hash: %v", err)
	}

	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return configFile, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// examplePlaceholderHash is the hash in examples/web-config.yml: well-formed,
// so that the configuration loads, and matching no password.
const examplePlaceholderHash = "$2y$12$REPLACE.THIS.PLACEHOLDER.WITH.THE.HASH.OF.A.PASSWORD."

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fetch GETs url as user (no credentials when user is ""), with a scrape
// timeout header, and returns the status and body.
func fetch(t *testing.T, c *http.Client, url, user, password string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "30")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// The example's placeholder hash is well-formed, so that the toolkit loads
// the file, and lets nobody in.
func TestExampleWebConfigPlaceholder(t *testing.T) {
	if _, err := bcrypt.Cost([]byte(examplePlaceholderHash)); err != nil {
		t.Fatalf("the placeholder is not a well-formed bcrypt hash: %v", err)
	}
	// Its salt and digest come from no password; one comparison (a
	// deliberately slow one) shows it fails closed.
	if bcrypt.CompareHashAndPassword([]byte(examplePlaceholderHash), []byte("")) == nil {
		t.Errorf("the placeholder hash accepts the empty password")
	}
}

func TestMetricsBehindTLSAndBasicAuth(t *testing.T) {
	config, client := lockedDown(t)
	e := startExporter(t, nil, "--demo", "--demo.devices=200", "--demo.latency=0s", "--web.config.file="+config)
	// The toolkit logs this just after "Listening on"; the pipe may bring
	// it a moment later.
	for i := 0; i < 500 && !strings.Contains(e.logs.String(), "TLS is enabled"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(e.logs.String(), "TLS is enabled") {
		t.Errorf("the exporter does not say TLS is enabled:\n%s", e.logs.String())
	}
	base := "https://" + e.addr

	for _, tc := range []struct {
		name, path, user, password string
	}{
		{"no credentials", "/metrics", "", ""},
		{"wrong password", "/metrics", webUser, "wrong"},
		{"unknown user", "/metrics", "admin", webPassword},
		{"empty password", "/metrics", webUser, ""},
		{"landing page", "/", "", ""},
	} {
		status, body := fetch(t, client, base+tc.path, tc.user, tc.password)
		if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tc.name, status)
		}
		if strings.Contains(body, "safeconsole_") {
			t.Errorf("%s: metrics served without valid credentials", tc.name)
		}
	}

	status, body := fetch(t, client, base+"/metrics", webUser, webPassword)
	if status != http.StatusOK {
		t.Fatalf("with credentials: status %d, want 200:\n%s", status, body)
	}
	s := samples(t, []byte(body))
	if value(t, s, "safeconsole_up") != 1 || sum(s, "safeconsole_devices") != 200 {
		t.Errorf("with credentials: up %v, drives %v; want 1 and 200", value(t, s, "safeconsole_up"), sum(s, "safeconsole_devices"))
	}

	// Nothing is served in clear text on the TLS port.
	status, body = fetch(t, http.DefaultClient, "http://"+e.addr+"/metrics", webUser, webPassword)
	if status != http.StatusBadRequest || strings.Contains(body, "safeconsole_") {
		t.Errorf("plain HTTP on the TLS port: status %d, want 400 and no metrics", status)
	}
	// And a client that does not trust the certificate gets no answer.
	if _, err := http.Get(base + "/metrics"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without the CA: %v, want a certificate error", err)
	}
}

// Requests without credentials never reach SafeConsole nor take a scrape
// slot; --web.max-requests refuses scrapes beyond the bound with 503.
func TestAuthBeforeScrapeAndMaxRequests(t *testing.T) {
	config, client := lockedDown(t)
	sim := newSimulated(t, 300)
	e := startExporter(t, nil, sim.args("--web.config.file="+config, "--web.max-requests=2")...)
	url := "https://" + e.addr + "/metrics"

	for i := 0; i < 5; i++ {
		if status, _ := fetch(t, client, url, "", ""); status != http.StatusUnauthorized {
			t.Fatalf("no credentials: status %d, want 401", status)
		}
	}
	if n := sim.srv.RequestsTotal(); n != 0 {
		t.Fatalf("unauthenticated requests made %d SafeConsole requests, want none", n)
	}

	// Hold the first list page so that scrapes stay in flight.
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sim.srv.OnPage(func(page int) {
		if page == 0 {
			once.Do(func() { close(arrived); <-release })
		}
	})
	type result struct {
		status int
		body   string
	}
	results := make(chan result, 8)
	scrape := func() {
		status, body := fetch(t, client, url, webUser, webPassword)
		results <- result{status, body}
	}
	go scrape()
	<-arrived // one scrape holds a slot, waiting on SafeConsole

	// Of four more, one takes the second slot (it joins the collection
	// under way) and three are refused at once.
	for i := 0; i < 4; i++ {
		go scrape()
	}
	watchdog := time.After(60 * time.Second)
	for i := 0; i < 3; i++ {
		select {
		case r := <-results:
			if r.status != http.StatusServiceUnavailable {
				t.Errorf("scrape beyond --web.max-requests=2: status %d, want 503", r.status)
			}
		case <-watchdog:
			t.Fatalf("only %d of 3 scrapes beyond the bound were refused while two were held", i)
		}
	}
	// While the slots are full, a request without credentials is still
	// refused for that, and never counts against the bound.
	if status, _ := fetch(t, client, url, "", ""); status != http.StatusUnauthorized {
		t.Errorf("no credentials while the slots are full: status %d, want 401", status)
	}
	select {
	case r := <-results:
		t.Fatalf("a held scrape returned early with status %d", r.status)
	default:
	}

	close(release)
	for i := 0; i < 2; i++ {
		r := <-results
		if r.status != http.StatusOK {
			t.Fatalf("held scrape: status %d, want 200", r.status)
		}
		if s := samples(t, []byte(r.body)); value(t, s, "safeconsole_up") != 1 {
			t.Errorf("held scrape: safeconsole_up is not 1")
		}
	}
	// The slots are free again.
	if status, _ := fetch(t, client, url, webUser, webPassword); status != http.StatusOK {
		t.Errorf("after the held scrapes: status %d, want 200", status)
	}
}
