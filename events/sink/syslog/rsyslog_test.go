package syslog_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events/sink/cef"
	eventformat "github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/bulwarkhq/bulwark/events/sink/syslog"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// rsyslogd finds the daemon, installing Debian's rsyslog and rsyslog-gnutls
// when it is absent and the test runs as root. Without it the test skips,
// or fails under CI=true.
func rsyslogd(t *testing.T) string {
	t.Helper()
	find := func() string {
		// The TLS input needs the gtls driver of rsyslog-gnutls.
		if gtls, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so"); len(gtls) == 0 {
			if _, err := os.Stat("/usr/lib/rsyslog/lmnsd_gtls.so"); err != nil {
				return ""
			}
		}
		if p, err := exec.LookPath("rsyslogd"); err == nil {
			return p
		}
		if _, err := os.Stat("/usr/sbin/rsyslogd"); err == nil {
			return "/usr/sbin/rsyslogd"
		}
		return ""
	}
	p := find()
	var why string
	if p == "" {
		why = "rsyslogd or its gtls driver (rsyslog-gnutls) is not installed"
		if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", "apt-get update -qq && apt-get install -y -qq rsyslog rsyslog-gnutls")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				why = fmt.Sprintf("installing rsyslog failed: %v: %s", err, lastLines(out, 5))
			}
			p = find()
		}
	}
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: real-component tests must run)", why)
		}
		t.Skipf("skipping: %s", why)
	}
	return p
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// rsyslog is one rsyslogd in the foreground with UDP, TCP and TLS (gtls,
// anonymous client) inputs on loopback, writing every message it receives
// twice: raw.log holds the raw message, fields.log a JSON object of what
// its RFC 5424 parser read.
type rsyslog struct {
	bin, dir, conf string
	udp, tcp, tls  string // host:port
	caPEM          string
	cmd            *exec.Cmd
	out            *bytes.Buffer
	exited         chan struct{}
}

func startRsyslog(t *testing.T) *rsyslog {
	t.Helper()
	r := &rsyslog{bin: rsyslogd(t), dir: t.TempDir()}
	r.caPEM = writeCerts(t, r.dir)
	r.tcp, r.tls, r.udp = freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "udp")
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	conf := fmt.Sprintf(`
global(
  workDirectory="%[1]s"
  maxMessageSize="64k"
  parser.escapeControlCharacterTab="off"
  defaultNetstreamDriverCAFile="%[1]s/ca.pem"
  defaultNetstreamDriverCertFile="%[1]s/server.pem"
  defaultNetstreamDriverKeyFile="%[1]s/server-key.pem"
)
module(load="imudp")
module(load="imtcp")
template(name="raw" type="string" string="%%rawmsg%%\n")
template(name="fields" type="string" string="{\"pri\":\"%%pri%%\",\"version\":\"%%protocol-version%%\",\"hostname\":\"%%hostname:::json%%\",\"app\":\"%%app-name:::json%%\",\"procid\":\"%%procid:::json%%\",\"msgid\":\"%%msgid:::json%%\",\"sd\":\"%%structured-data:::json%%\",\"msg\":\"%%msg:::json%%\"}\n")
ruleset(name="rx") {
  action(type="omfile" file="%[1]s/raw.log" template="raw")
  action(type="omfile" file="%[1]s/fields.log" template="fields")
}
input(type="imudp" address="127.0.0.1" port="%[2]s" ruleset="rx")
input(type="imtcp" address="127.0.0.1" port="%[3]s" ruleset="rx")
input(type="imtcp" address="127.0.0.1" port="%[4]s" ruleset="rx"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
`, r.dir, port(r.udp), port(r.tcp), port(r.tls))
	r.conf = filepath.Join(r.dir, "rsyslog.conf")
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *rsyslog) start(t *testing.T) {
	t.Helper()
	r.out = &bytes.Buffer{}
	r.cmd = exec.Command(r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.exited)
	// Ready when both stream ports accept and a UDP probe comes through.
	deadline := time.Now().Add(15 * time.Second)
	for _, a := range []string{r.tcp, r.tls} {
		for {
			select {
			case <-r.exited:
				t.Fatalf("rsyslogd exited: %s", r.out)
			default:
			}
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rsyslogd does not listen on %s: %s", a, r.out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	probe := "probe-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	c, err := net.Dial("udp", r.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		_, _ = fmt.Fprintf(c, "<14>1 - - probe - probe - %s", probe)
		raw, _ := os.ReadFile(filepath.Join(r.dir, "raw.log"))
		if bytes.Contains(raw, []byte(probe)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd does not receive UDP on %s: %s", r.udp, r.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop terminates rsyslogd and waits for it; it is killed after 5 s.
func (r *rsyslog) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// lines returns the JSON objects of fields.log and the raw lines, the probes
// left out, waiting until there are n of them.
func (r *rsyslog) lines(t *testing.T, n int) ([]map[string]string, []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var fields []map[string]string
		var raw []string
		read := func(name string, each func(string)) {
			f, err := os.Open(filepath.Join(r.dir, name))
			if err != nil {
				return
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if !strings.Contains(sc.Text(), "probe") {
					each(sc.Text())
				}
			}
		}
		read("fields.log", func(l string) {
			var m map[string]string
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("fields.log: %v: %q", err, l)
			}
			fields = append(fields, m)
		})
		read("raw.log", func(l string) { raw = append(raw, l) })
		if len(fields) >= n && len(raw) >= n || time.Now().After(deadline) {
			if len(fields) != n || len(raw) != n {
				t.Fatalf("rsyslog wrote %d parsed and %d raw messages, want %d; rsyslogd said: %s", len(fields), len(raw), n, r.out)
			}
			return fields, raw
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeCerts writes a CA and a server certificate for 127.0.0.1 signed by
// it into dir, and returns the CA's PEM.
func writeCerts(t *testing.T, dir string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bulwark test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for name, b := range map[string][]byte{
		"ca.pem":         caPEM,
		"server.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		"server-key.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return string(caPEM)
}

func (r *rsyslog) sink(t *testing.T, transport, format string) syslog.Sink {
	cfg := syslog.Config{Transport: transport, Format: format, Hostname: "gw1.example", Timeout: 5 * time.Second}
	switch transport {
	case "udp":
		cfg.Address = r.udp
	case "tcp":
		cfg.Address = r.tcp
	case "tls":
		cfg.Address, cfg.TLS = r.tls, wire.TLS{CAPEM: r.caPEM}
	}
	return newSink(t, cfg)
}

// body is the MSG the sink writes for ev in format.
func body(t *testing.T, format string, ev *bulwark.Event) string {
	switch format {
	case "cef":
		return cef.CEF(ev)
	case "leef":
		return cef.LEEF(ev)
	}
	if format == "json" {
		format = "native"
	}
	b, err := eventformat.Marshal(format, ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRsyslog sends CEF, LEEF and JSON over UDP, TCP and TLS to a real
// rsyslogd and checks that each message arrives whole, that rsyslog's
// RFC 5424 parser reads its header fields, and that the MSG parses.
func TestRsyslog(t *testing.T) {
	r := startRsyslog(t)
	ctx := context.Background()
	type sent struct {
		format string
		ev     bulwark.Event
	}
	var all []sent
	for _, transport := range []string{"udp", "tcp", "tls"} {
		for _, format := range []string{"cef", "leef", "json", "ecs", "ocsf"} {
			s := r.sink(t, transport, format)
			a := alert(transport + "-" + format + "-1")
			a.Subject = "Blocked | pipes = equals \\ backslash\ttab\nnewline, ünïcödé"
			b := bulwark.Event{ID: transport + "-" + format + "-2", Time: at, Type: bulwark.EventAuth, Action: "auth.login_failed",
				Severity: bulwark.SeverityMedium, Actor: "bob", Subject: "Login failed for bob", Data: json.RawMessage(`{"source_ip":"198.51.100.7"}`)}
			if err := s.Deliver(ctx, []bulwark.Event{a, b}); err != nil {
				t.Fatalf("%s %s: %v", transport, format, err)
			}
			all = append(all, sent{format, a}, sent{format, b})
		}
	}
	fields, raw := r.lines(t, len(all))
	byID := map[string]int{}
	for i, s := range all {
		byID[s.ev.ID] = i
	}
	pid := strconv.Itoa(os.Getpid())
	seen := map[string]bool{}
	for n, f := range fields {
		id := ""
		for k := range byID {
			if strings.Contains(f["msg"], k) {
				id = k
			}
		}
		i, ok := byID[id]
		if !ok || seen[id] {
			t.Fatalf("unexpected or repeated message %q", f["msg"])
		}
		seen[id] = true
		s := all[i]
		wantPri := strconv.Itoa(20*8 + cef.SyslogSeverity(s.ev.Severity))
		if f["pri"] != wantPri || f["version"] != "1" || f["hostname"] != "gw1.example" || f["app"] != "bulwark" ||
			f["procid"] != pid || f["msgid"] != string(s.ev.Type) || f["sd"] != "-" {
			t.Errorf("%s: rsyslog parsed the header as %q", id, f)
		}
		want := body(t, s.format, &s.ev)
		if f["msg"] != want {
			t.Errorf("%s: MSG\n got %q\nwant %q", id, f["msg"], want)
		}
		wantRaw := fmt.Sprintf("<%s>1 2026-11-22T04:00:00.123Z gw1.example bulwark %s %s - %s", wantPri, pid, s.ev.Type, want)
		if raw[n] != wantRaw {
			t.Errorf("%s: raw message\n got %q\nwant %q", id, raw[n], wantRaw)
		}
		switch s.format {
		case "cef":
			parts := strings.SplitN(unescaped(f["msg"]), "|", 8)
			if !strings.HasPrefix(f["msg"], "CEF:0|Bulwark|Bulwark AI Security Gateway|1.4.0|") || len(parts) != 8 || !strings.HasPrefix(parts[7], "rt=1795320000123 ") {
				t.Errorf("CEF %q", f["msg"])
			}
		case "leef":
			parts := strings.SplitN(f["msg"], "|", 7)
			if len(parts) != 7 || parts[5] != "x09" || !strings.Contains(parts[6], "\teventId="+id+"\t") {
				t.Errorf("LEEF %q", f["msg"])
			}
		case "json":
			var env wire.Envelope
			if err := json.Unmarshal([]byte(f["msg"]), &env); err != nil || env.ID != id || env.Subject != s.ev.Subject {
				t.Errorf("JSON %q: %v", f["msg"], err)
			}
		default:
			if !json.Valid([]byte(f["msg"])) {
				t.Errorf("%s: invalid JSON %q", s.format, f["msg"])
			}
		}
	}
}

// unescaped drops escaped pipes and backslashes, so that the pipes left
// are the header's separators.
func unescaped(s string) string {
	s = strings.ReplaceAll(s, `\\`, "")
	return strings.ReplaceAll(s, `\|`, "")
}

// idOf finds the event id in a CEF, LEEF or JSON body.
func idOf(t *testing.T, msg string) string {
	for _, p := range []string{"externalId=", "eventId=", `"id":"`} {
		if _, rest, ok := strings.Cut(msg, p); ok {
			return strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == '\t' || r == '"' })[0]
		}
	}
	t.Fatalf("no event id in %q", msg)
	return ""
}

// TestRsyslogRestart restarts rsyslogd between deliveries. First with no
// delivery while it is down: the stream sinks notice that their connection
// was closed and dial again instead of writing into it. Then with a
// delivery while it is down, which fails with a retryable error.
func TestRsyslogRestart(t *testing.T) {
	r := startRsyslog(t)
	ctx := context.Background()
	sinks := map[string]syslog.Sink{"tcp": r.sink(t, "tcp", "cef"), "tls": r.sink(t, "tls", "cef")}
	deliver := func(suffix string) {
		t.Helper()
		for name, s := range sinks {
			if err := s.Deliver(ctx, []bulwark.Event{alert(name + suffix)}); err != nil {
				t.Fatalf("%s%s: %v", name, suffix, err)
			}
		}
	}
	deliver("-before")
	r.lines(t, 2)
	r.stop()
	r.start(t)
	deliver("-restarted")
	r.lines(t, 4)
	r.stop()
	for name, s := range sinks {
		if err := s.Deliver(ctx, []bulwark.Event{alert(name + "-down")}); err == nil {
			t.Errorf("%s: delivery to a stopped receiver succeeded", name)
		}
	}
	r.start(t)
	deliver("-after")
	fields, _ := r.lines(t, 6)
	got := map[string]bool{}
	for _, f := range fields {
		got[idOf(t, f["msg"])] = true
	}
	for _, p := range []string{"tcp", "tls"} {
		for _, s := range []string{"-before", "-restarted", "-after"} {
			if !got[p+s] {
				t.Errorf("%s did not arrive: %v", p+s, got)
			}
		}
	}
}
