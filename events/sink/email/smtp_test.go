package email

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/wire"

	"github.com/bulwarkhq/bulwark/test/nodepkg"
)

// The real SMTP server (npm smtp-server) and parser (npm mailparser) the
// tests deliver to, installed with npm into $BULWARK_TEST_SMTP_DIR (default
// $TMPDIR/bulwark-smtp-test). mailparser 3.9.30 is the newest whose pinned
// dependencies the registry here serves.
var nodePackages = []nodepkg.Package{{Name: "smtp-server", Version: "3.21.6"}, {Name: "mailparser", Version: "3.9.30"}}

const (
	testUser     = "bulwark-relay"
	testPassword = "correct horse battery staple"
	busyRcpt     = "busy@example.com"   // answered 451 at RCPT
	goneRcpt     = "nobody@example.com" // answered 550 at RCPT
)

// smtpNodeDir returns the directory holding node_modules with the SMTP
// server and parser.
func smtpNodeDir(t *testing.T) string {
	t.Helper()
	return nodepkg.Dir(t, "BULWARK_TEST_SMTP_DIR", "bulwark-smtp-test", nodePackages...)
}

// received is one message as the test server parsed it.
type received struct {
	Server      string            `json:"server"`
	Secure      bool              `json:"secure"`
	User        string            `json:"user"`
	Method      string            `json:"method"`
	From        string            `json:"from"`
	To          []string          `json:"to"`
	Subject     string            `json:"subject"`
	MessageID   string            `json:"messageId"`
	ContentType string            `json:"contentType"`
	HTML        string            `json:"html"`
	Text        string            `json:"text"`
	Headers     map[string]string `json:"headers"`
}

type smtpServer struct {
	starttls, tls, plain int
	caPEM                string
	out                  string
	seen                 int
}

// startSMTP runs testdata/smtp_server.js with a certificate for 127.0.0.1
// made here.
func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	dir := smtpNodeDir(t)
	tmp := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certFile, keyFile := filepath.Join(tmp, "cert.pem"), filepath.Join(tmp, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{caPEM: string(certPEM), out: filepath.Join(tmp, "received.jsonl")}
	script, err := filepath.Abs(filepath.Join("testdata", "smtp_server.js"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]string{"key": keyFile, "cert": certFile, "user": testUser, "pass": testPassword,
		"out": s.out, "reject451": busyRcpt, "reject550": goneRcpt})
	cmd := exec.Command("node", script, string(cfg))
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the script exits when its stdin ends
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		var ports map[string]int
		if err := json.Unmarshal([]byte(l), &ports); err != nil {
			t.Fatalf("SMTP test server did not start (%q): %v\n%s", l, err, stderr.String())
		}
		s.starttls, s.tls, s.plain = ports["starttls"], ports["tls"], ports["plain"]
	case <-time.After(30 * time.Second):
		t.Fatalf("SMTP test server did not start in 30s\n%s", stderr.String())
	}
	return s
}

// newMessages returns the messages received since the last call.
func (s *smtpServer) newMessages(t *testing.T) []received {
	t.Helper()
	b, err := os.ReadFile(s.out)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(b) == 0 {
		lines = nil
	}
	var out []received
	for _, l := range lines[s.seen:] {
		var r received
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad record %q: %v", l, err)
		}
		out = append(out, r)
	}
	s.seen = len(lines)
	return out
}

// selfSigned makes a CA certificate for 127.0.0.1 and localhost, used as
// the server's certificate and as the sink's tls.ca_pem.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "bulwark smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func (s *smtpServer) config(security string, port int) Config {
	c := Config{Name: "soc-mail", Host: "127.0.0.1", Port: port, Security: security, Username: testUser, Password: testPassword,
		From: "Bulwark <bulwark@example.com>", To: []string{"soc@example.com", "Lead <lead@example.com>"},
		ReplyTo: "soc-desk@example.com", ConsoleURL: "https://bulwark.example", Timeout: 5 * time.Second,
		TLS: wire.TLS{CAPEM: s.caPEM}}
	if security == None {
		c.Username, c.Password = "", ""
	}
	return c
}

func deliver(t *testing.T, c Config, evs ...bulwark.Event) error {
	t.Helper()
	snk, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return snk.Deliver(ctx, evs)
}

// normalise makes a parsed body comparable with the rendering: line ends
// as LF and no trailing white space.
func normalise(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " \t")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

func TestSMTP(t *testing.T) {
	srv := startSMTP(t)
	golden := goldenSink(t)
	want, err := golden.renderEvent(&alertEvent)
	if err != nil {
		t.Fatal(err)
	}
	wantSubject := "[AI Security Alert] High: Prompt injection <script>alert(1)</script>"
	wantID := "<bulwark-event-0f6b1d8e-3c1a-4f6e-9a51-6d2f0c7b9e11@example.com>"

	t.Run("starttls, auth plain, both bodies", func(t *testing.T) {
		if err := deliver(t, srv.config(StartTLS, srv.starttls), alertEvent); err != nil {
			t.Fatal(err)
		}
		got := srv.newMessages(t)
		if len(got) != 1 {
			t.Fatalf("received %d messages, want 1", len(got))
		}
		m := got[0]
		if m.Server != "starttls" || !m.Secure || m.User != testUser || m.Method != "PLAIN" {
			t.Errorf("session: server %q secure %v user %q method %q", m.Server, m.Secure, m.User, m.Method)
		}
		if m.From != "bulwark@example.com" || strings.Join(m.To, ",") != "soc@example.com,lead@example.com" {
			t.Errorf("envelope: from %q to %v", m.From, m.To)
		}
		if m.Subject != wantSubject || m.MessageID != wantID || m.ContentType != "multipart/alternative" {
			t.Errorf("subject %q, message id %q, content type %q", m.Subject, m.MessageID, m.ContentType)
		}
		if m.Headers["reply-to"] != "soc-desk@example.com" && m.Headers["reply-to"] != "<soc-desk@example.com>" {
			t.Errorf("Reply-To = %q", m.Headers["reply-to"])
		}
		if m.Headers["auto-submitted"] != "auto-generated" || m.Headers["x-bulwark-event-id"] != alertEvent.ID || m.Headers["x-bulwark-severity"] != "high" {
			t.Errorf("headers: %v", m.Headers)
		}
		if normalise(m.HTML) != normalise(want.HTML) {
			t.Errorf("parsed HTML differs from the rendering:\n%s", m.HTML)
		}
		if normalise(m.Text) != normalise(want.Text) {
			t.Errorf("parsed text differs from the rendering:\n%q\nwant\n%q", m.Text, want.Text)
		}
		if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("title not escaped in the HTML body")
		}
	})

	t.Run("starttls, auth login, text only", func(t *testing.T) {
		c := srv.config(StartTLS, srv.starttls)
		c.Auth, c.Format = AuthLogin, FormatText
		if err := deliver(t, c, authEvent); err != nil {
			t.Fatal(err)
		}
		m := srv.newMessages(t)
		if len(m) != 1 || m[0].Method != "LOGIN" || m[0].ContentType != "text/plain" || m[0].HTML != "" {
			t.Fatalf("received %+v", m)
		}
		if m[0].Subject != "[Bulwark Auth] Medium: Failed login for mallory" || !strings.Contains(m[0].Text, "Source IP:      198.51.100.7") {
			t.Errorf("subject %q, text:\n%s", m[0].Subject, m[0].Text)
		}
	})

	t.Run("implicit tls, html only", func(t *testing.T) {
		c := srv.config(ImplicitTLS, srv.tls)
		c.Format = FormatHTML
		if err := deliver(t, c, alertEvent); err != nil {
			t.Fatal(err)
		}
		m := srv.newMessages(t)
		if len(m) != 1 || m[0].Server != "tls" || !m[0].Secure || m[0].User != testUser || m[0].ContentType != "text/html" {
			t.Fatalf("received %+v", m)
		}
		if m[0].Subject != wantSubject || normalise(m[0].HTML) != normalise(want.HTML) {
			t.Errorf("subject %q, html:\n%s", m[0].Subject, m[0].HTML)
		}
	})

	t.Run("insecure_skip_verify", func(t *testing.T) {
		c := srv.config(ImplicitTLS, srv.tls)
		c.TLS = wire.TLS{InsecureSkipVerify: true}
		if err := deliver(t, c, authEvent); err != nil {
			t.Fatal(err)
		}
		if m := srv.newMessages(t); len(m) != 1 {
			t.Fatalf("received %d messages, want 1", len(m))
		}
	})

	t.Run("none to a local relay", func(t *testing.T) {
		if err := deliver(t, srv.config(None, srv.plain), authEvent); err != nil {
			t.Fatal(err)
		}
		m := srv.newMessages(t)
		if len(m) != 1 || m[0].Server != "plain" || m[0].Secure || m[0].User != "" {
			t.Fatalf("received %+v", m)
		}
	})

	t.Run("header injection through the title", func(t *testing.T) {
		ev := alertEvent
		ev.ID = "inject-1"
		ev.Data = json.RawMessage(`{"title":"Hi\r\nBcc: victim@example.com\r\nX-Evil: 1\r\n\r\n<b>body</b>"}`)
		if err := deliver(t, srv.config(StartTLS, srv.starttls), ev); err != nil {
			t.Fatal(err)
		}
		m := srv.newMessages(t)
		if len(m) != 1 {
			t.Fatalf("received %d messages, want 1", len(m))
		}
		if want := "[AI Security Alert] High: Hi Bcc: victim@example.com X-Evil: 1 <b>body</b>"; m[0].Subject != want {
			t.Errorf("subject %q, want %q", m[0].Subject, want)
		}
		if _, ok := m[0].Headers["bcc"]; ok || m[0].Headers["x-evil"] != "" || len(m[0].To) != 2 {
			t.Errorf("the title added headers or recipients: %v, to %v", m[0].Headers, m[0].To)
		}
	})

	t.Run("digest", func(t *testing.T) {
		c := srv.config(StartTLS, srv.starttls)
		c.DigestThreshold = 3
		evs := []bulwark.Event{authEvent, alertEvent, criticalEvent, alertEvent}
		evs[3].ID = "0f6b1d8e-3c1a-4f6e-9a51-6d2f0c7b9e12"
		if err := deliver(t, c, evs...); err != nil {
			t.Fatal(err)
		}
		m := srv.newMessages(t)
		if len(m) != 1 {
			t.Fatalf("received %d messages, want one digest", len(m))
		}
		if m[0].Subject != "[AI Security Alert] Digest: 4 events (highest: Critical)" || !strings.HasPrefix(m[0].MessageID, "<bulwark-digest-") {
			t.Errorf("subject %q, message id %q", m[0].Subject, m[0].MessageID)
		}
		for _, s := range []string{"1. [Critical] Canary token leaked", "4. [Medium] Failed login for mallory", evs[3].ID} {
			if !strings.Contains(m[0].Text, s) {
				t.Errorf("digest text lacks %q:\n%s", s, m[0].Text)
			}
		}
		if strings.Contains(m[0].HTML, "<script>") || strings.Count(m[0].HTML, "&lt;script&gt;") < 2 {
			t.Errorf("digest HTML not escaped")
		}
		// Below the threshold: one message each.
		if err := deliver(t, c, authEvent, criticalEvent); err != nil {
			t.Fatal(err)
		}
		if m := srv.newMessages(t); len(m) != 2 || m[1].Subject != "[AI Security Alert] Critical: Canary token leaked" {
			t.Fatalf("received %+v", m)
		}
	})

	failures := []struct {
		name      string
		config    func() Config
		permanent bool
		contains  []string
	}{
		{"wrong password", func() Config {
			c := srv.config(StartTLS, srv.starttls)
			c.Password = "wrong-password-1234"
			return c
		}, true, []string{"535", "Authentication credentials invalid"}},
		{"451 at RCPT", func() Config {
			c := srv.config(StartTLS, srv.starttls)
			c.To = []string{"soc@example.com", busyRcpt}
			return c
		}, false, []string{"451", "Mailbox busy", busyRcpt}},
		{"550 at RCPT", func() Config {
			c := srv.config(ImplicitTLS, srv.tls)
			c.To = []string{goneRcpt}
			return c
		}, true, []string{"550", "Mailbox unavailable"}},
		{"no STARTTLS offered", func() Config { return srv.config(StartTLS, srv.plain) }, false, []string{"STARTTLS"}},
		{"untrusted certificate", func() Config {
			c := srv.config(ImplicitTLS, srv.tls)
			c.TLS = wire.TLS{}
			return c
		}, false, []string{"certificate"}},
		{"untrusted certificate after STARTTLS", func() Config {
			c := srv.config(StartTLS, srv.starttls)
			c.TLS = wire.TLS{}
			return c
		}, false, []string{"certificate"}},
		{"connection refused", func() Config { return srv.config(StartTLS, closedPort(t)) }, false, []string{"refused"}},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.config()
			err := deliver(t, c, alertEvent)
			var de *events.DeliveryError
			if !errors.As(err, &de) || de.Permanent != tt.permanent {
				t.Fatalf("Deliver = %v, want a delivery error with permanent=%v", err, tt.permanent)
			}
			t.Logf("error: %v", err)
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if strings.Contains(err.Error(), c.Password) || strings.Contains(err.Error(), testPassword) {
				t.Errorf("error shows the password: %v", err)
			}
			if m := srv.newMessages(t); len(m) != 0 {
				t.Errorf("a message got through: %+v", m)
			}
		})
	}
}

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// TestDeliverCancelled checks that a cancelled delivery does not wait for
// a server that never answers.
func TestDeliverCancelled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn // accepted, then left silent
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	c := validConfig()
	c.Host, c.Port, c.Timeout = "127.0.0.1", l.Addr().(*net.TCPAddr).Port, time.Minute
	snk, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = snk.Deliver(ctx, []bulwark.Event{alertEvent})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("Deliver = %v after %v", err, time.Since(start))
	}
	var de *events.DeliveryError
	if errors.As(err, &de) && de.Permanent {
		t.Errorf("a timeout must be retryable: %v", err)
	}
}
