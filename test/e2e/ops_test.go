package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHealthAndMetrics: the operational endpoints answer and /metrics has
// the runtime, process, HTTP, database pool and login series.
func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	s := startServer(t, "ops", serveOpts{args: []string{"--data-dir", newDataDir(t), "--listen", "127.0.0.1:0"}})
	c := newClient(t, s.URL, nil)

	for _, path := range []string{"/healthz", "/readyz"} {
		var body struct{ Status string }
		r := c.do(http.MethodGet, path, nil).expect(t, http.StatusOK, &body)
		if body.Status != "ok" {
			t.Errorf("%s: %s", path, r)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: security headers missing: %v", path, r.Header)
		}
	}
	if r := c.do(http.MethodGet, "/", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "Bulwark") {
		t.Errorf("console placeholder: %s", r)
	}

	// One failed and one successful login for the login counter. Cookies
	// over plain HTTP are not Secure (session.secure-cookie auto).
	c.do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": "not-the-password"}).
		expectError(t, http.StatusUnauthorized, "unauthenticated")
	r := c.do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": s.adminPassword()}).expect(t, http.StatusOK, nil)
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Secure {
			t.Errorf("cookie %s is Secure on plain HTTP", ck.Name)
		}
		if ck.Name == "bulwark_session" && (!ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode) {
			t.Errorf("session cookie %+v: want HttpOnly and SameSite=Strict", ck)
		}
	}

	r = c.do(http.MethodGet, "/metrics", nil).expect(t, http.StatusOK, nil)
	metrics := string(r.Body)
	for _, want := range []string{
		"go_goroutines ",
		"process_resident_memory_bytes ",
		"bulwark_http_requests_total{",
		"bulwark_http_request_duration_seconds_bucket{",
		"go_sql_open_connections{",
		"go_sql_max_open_connections{",
		`bulwark_logins_total{result="success"} 1`,
		`bulwark_logins_total{result="failure"} 1`,
		"bulwark_info{",
		"bulwark_events_published_total{",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	// Requests are labelled by route pattern, not by raw path.
	if !regexp.MustCompile(`(?m)^bulwark_http_requests_total\{[^}]*route="[^"]*/auth/login"`).MatchString(metrics) {
		t.Errorf("/metrics: no bulwark_http_requests_total series for the login route:\n%s", grepLines(metrics, "bulwark_http_requests_total"))
	}
	s.stop()
}

func grepLines(text, substr string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestJSONLogs: with --log-format json every log line is a JSON object;
// SIGINT stops the server as cleanly as SIGTERM.
func TestJSONLogs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "json-logs", serveOpts{args: []string{"--data-dir", newDataDir(t), "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}})
	c := newClient(t, s.URL, nil)
	c.do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": "wrong-password-here"}).
		expectError(t, http.StatusUnauthorized, "unauthenticated")
	s.signal(os.Interrupt)
	if code := s.waitExit(stopTimeout); code != 0 {
		t.Fatalf("exit code %d after SIGINT", code)
	}
	msgs := map[string]bool{}
	lines := strings.Split(strings.TrimRight(s.stderr(), "\n"), "\n")
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("stderr line %d is not a JSON object: %v\n%s", i+1, err, line)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("stderr line %d has no %q: %s", i+1, k, line)
			}
		}
		msg, _ := rec["msg"].(string)
		msgs[msg] = true
	}
	for _, want := range []string{"bulwark is serving", "shutting down", "stopped"} {
		if !msgs[want] {
			t.Errorf("no JSON log record with msg %q:\n%s", want, s.stderr())
		}
	}
	// The first-admin box stays on stdout, out of the log stream.
	if len(adminPasswords(s.stdout())) != 1 {
		t.Errorf("first-admin box not on stdout:\n%s", s.stdout())
	}
}

// TestGracefulShutdown: SIGTERM with a request in flight (its body only
// half sent) lets that request finish, then the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := startServer(t, "shutdown", serveOpts{args: []string{"--data-dir", newDataDir(t), "--listen", "127.0.0.1:0"}})
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := fmt.Sprintf(`{"username":"admin","password":%q}`, s.adminPassword())
	half := len(body) / 2
	head := fmt.Sprintf("POST /api/v1/auth/login HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", u.Host, userAgent, len(body))
	if _, err := io.WriteString(conn, head+body[:half]); err != nil {
		t.Fatal(err)
	}

	// Wait until the server is inside the handler, reading the body: the
	// in-flight gauge counts API requests (not /metrics itself). A request
	// still in the kernel's accept queue would not be in flight yet.
	inFlight := regexp.MustCompile(`(?m)^bulwark_http_requests_in_flight 1$`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := newClient(t, s.URL, nil).do(http.MethodGet, "/metrics", nil)
		if inFlight.Match(r.Body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the half-sent request never became in flight:\n%s", grepLines(string(r.Body), "in_flight"))
		}
		time.Sleep(pollEvery)
	}

	s.signal(syscall.SIGTERM)
	s.waitLog("shutting down", 10*time.Second)
	// The server must wait for the request: still running a moment later.
	select {
	case <-s.done:
		t.Fatalf("exited with a request in flight:\n%s", s.output())
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatalf("finish the request body: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request cut by the shutdown: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"username":"admin"`) {
		t.Fatalf("in-flight login: %d %s", resp.StatusCode, b)
	}
	if code := s.waitExit(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if !strings.Contains(s.stderr(), "msg=stopped") {
		t.Errorf("no \"stopped\" log line:\n%s", s.stderr())
	}
}

// selfSigned writes a fresh ECDSA certificate for 127.0.0.1 and localhost
// and its key to dir, and returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "bulwark e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS: with a certificate and key the admin listener serves HTTPS,
// sends HSTS, and marks the session cookies Secure.
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	s := startServer(t, "tls", serveOpts{
		args: []string{"--data-dir", newDataDir(t), "--listen", "127.0.0.1:0", "--tls-cert-file", certFile, "--tls-key-file", keyFile},
		http: hc,
	})
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Fatalf("serving URL %q, want https://127.0.0.1:…", s.URL)
	}
	c := newClient(t, s.URL, hc)
	r := c.do(http.MethodGet, "/healthz", nil).expect(t, http.StatusOK, nil)
	if r.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("no HSTS header over HTTPS: %v", r.Header)
	}

	// A client that does not trust the certificate is refused; so is plain HTTP.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(s.URL + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusting client: err = %v, want a certificate error", err)
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + strings.TrimPrefix(s.URL, "https://") + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS port answered 200")
		}
	}

	pw := s.adminPassword()
	r = c.do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": pw}).expect(t, http.StatusOK, nil)
	cookies := (&http.Response{Header: r.Header}).Cookies()
	if len(cookies) < 2 {
		t.Fatalf("login over HTTPS set %d cookies: %v", len(cookies), r.Header.Values("Set-Cookie"))
	}
	for _, ck := range cookies {
		if !ck.Secure {
			t.Errorf("cookie %s over HTTPS lacks the Secure attribute: %v", ck.Name, r.Header.Values("Set-Cookie"))
		}
	}
	// The jar sends the Secure cookies back over HTTPS.
	c.changePassword(pw, strongPassword())
	if me := c.me(); me.User.MustChangePassword {
		t.Fatalf("me over HTTPS: %+v", me)
	}
	s.stop()
}
