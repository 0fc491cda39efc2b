package syslog_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/cef"
	"github.com/bulwarkhq/bulwark/events/sink/syslog"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func init() { cef.Version = "1.4.0" }

var at = time.Date(2026, 11, 22, 4, 0, 0, 123e6, time.UTC)

func alert(id string) bulwark.Event {
	return bulwark.Event{
		ID: id, Time: at, Type: bulwark.EventAlert, Action: "policy.block", Severity: bulwark.SeverityHigh,
		Category: "Guardrails", Actor: "alice", Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai",
		Data: json.RawMessage(`{"proxy":"openai","group":"eng","user":"alice","source_ip":"192.0.2.10","model":"gpt-4o-mini",
			"policy":"standard","rule_id":"PI-001","title":"Prompt injection","evidence":"ignore previous ***","action":"block"}`),
	}
}

// rfc5424 matches a message with no structured data, as the sink writes it.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) - (.*)$`)

type msg struct {
	pri                                int
	ts, host, app, procid, msgid, body string
}

func parse(t testing.TB, m string) msg {
	t.Helper()
	p := rfc5424.FindStringSubmatch(m)
	if p == nil {
		t.Fatalf("not an RFC 5424 message: %q", m)
	}
	pri, _ := strconv.Atoi(p[1])
	return msg{pri, p[2], p[3], p[4], p[5], p[6], p[7]}
}

func TestValidate(t *testing.T) {
	ok := syslog.Config{Name: "s", Address: "siem.example:6514"}
	for _, c := range []struct {
		name string
		mod  func(*syslog.Config)
		want string // prefix of the error; "" for none
	}{
		{"defaults", func(*syslog.Config) {}, ""},
		{"all set", func(c *syslog.Config) {
			*c = syslog.Config{Name: "s", Address: "[::1]:514", Transport: "tcp", Format: "leef", Facility: "authpriv",
				AppName: "gw", Hostname: "gw1.example", MaxMessage: 65536, MaxBatch: 1000, Timeout: time.Second}
		}, ""},
		{"name", func(c *syslog.Config) { c.Name = " " }, "name is required"},
		{"address missing", func(c *syslog.Config) { c.Address = "" }, "address is required"},
		{"address no port", func(c *syslog.Config) { c.Address = "siem.example" }, "address must be host:port"},
		{"address url", func(c *syslog.Config) { c.Address = "tcp://siem:514" }, "address must be host:port"},
		{"address port", func(c *syslog.Config) { c.Address = "siem:syslog" }, "address port must be a number"},
		{"address port range", func(c *syslog.Config) { c.Address = "siem:70000" }, "address port must be a number"},
		{"transport", func(c *syslog.Config) { c.Transport = "relp" }, "transport must be one of udp, tcp, tls"},
		{"format", func(c *syslog.Config) { c.Format = "xml" }, "format must be one of"},
		{"facility", func(c *syslog.Config) { c.Facility = "local9" }, "facility must be a facility name"},
		{"app_name", func(c *syslog.Config) { c.AppName = "my app" }, "app_name must be"},
		{"app_name long", func(c *syslog.Config) { c.AppName = strings.Repeat("a", 49) }, "app_name must be"},
		{"hostname", func(c *syslog.Config) { c.Hostname = "héllo" }, "hostname must be"},
		{"max_message small", func(c *syslog.Config) { c.MaxMessage = 100 }, "max_message must be between 480 and 1048576"},
		{"max_message udp", func(c *syslog.Config) { c.Transport, c.MaxMessage = "udp", 70000 }, "max_message must be between 480 and 65000"},
		{"max_message json", func(c *syslog.Config) { c.Format, c.MaxMessage = "ocsf", 2047 }, "max_message must be at least 2048 bytes for format ocsf"},
		{"max_batch", func(c *syslog.Config) { c.MaxBatch = 1001 }, "max_batch must be between 1 and 1000"},
		{"timeout", func(c *syslog.Config) { c.Timeout = -1 }, "timeout must not be negative"},
		{"tls without tls", func(c *syslog.Config) { c.Transport, c.TLS.InsecureSkipVerify = "tcp", true }, "tls applies to transport tls only"},
		{"ca_pem", func(c *syslog.Config) { c.TLS.CAPEM = "not a certificate" }, "tls.ca_pem: no PEM certificate found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.mod(&cfg)
			err := cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := syslog.New(cfg); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("got %v, want %q…", err, c.want)
			}
			if _, err := syslog.New(cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

// tcpReceiver accepts connections and reads octet-counted frames strictly.
type tcpReceiver struct {
	ln    net.Listener
	mu    sync.Mutex
	msgs  []string
	conns int
	errs  []error
	live  []net.Conn
}

func newTCPReceiver(t *testing.T) *tcpReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tcpReceiver{ln: ln}
	t.Cleanup(func() { r.ln.Close(); r.dropAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns++
			r.live = append(r.live, c)
			r.mu.Unlock()
			go r.read(c)
		}
	}()
	return r
}

func (r *tcpReceiver) read(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		n, err := readFrame(br)
		r.mu.Lock()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				r.errs = append(r.errs, err)
			}
			r.mu.Unlock()
			return
		}
		r.msgs = append(r.msgs, n)
		r.mu.Unlock()
	}
}

// readFrame reads "MSG-LEN SP SYSLOG-MSG" (RFC 6587 octet counting).
func readFrame(br *bufio.Reader) (string, error) {
	lenStr, err := br.ReadString(' ')
	if err != nil {
		if lenStr == "" {
			return "", io.EOF
		}
		return "", fmt.Errorf("partial frame length %q: %w", lenStr, err)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
	if err != nil || n < 1 || lenStr[0] == '0' {
		return "", fmt.Errorf("bad frame length %q", lenStr)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return "", fmt.Errorf("short frame: %w", err)
	}
	return string(b), nil
}

func (r *tcpReceiver) dropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.live {
		c.Close()
	}
	r.live = nil
}

func (r *tcpReceiver) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got, errs := append([]string(nil), r.msgs...), r.errs
		r.mu.Unlock()
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("received %d messages, want %d", len(got), n)
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newSink(t *testing.T, cfg syslog.Config) syslog.Sink {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "siem"
	}
	s, err := syslog.NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFramingGolden writes one alert and one auth event in each format over
// TCP and compares the messages (with the PROCID, the test's pid, replaced)
// to testdata/rfc5424.golden.
func TestFramingGolden(t *testing.T) {
	var out strings.Builder
	auth := bulwark.Event{ID: "7a1c", Time: at, Type: bulwark.EventAuth, Action: "auth.login_failed", Severity: bulwark.SeverityMedium,
		Actor: "bob", Subject: "Login failed for bob", Data: json.RawMessage(`{"source_ip":"198.51.100.7"}`)}
	for _, format := range []string{"cef", "leef", "json"} {
		rx := newTCPReceiver(t)
		s := newSink(t, syslog.Config{Address: rx.ln.Addr().String(), Transport: "tcp", Format: format,
			Hostname: "gw1.example", Facility: "local4"})
		if s.MaxBatch() != 100 {
			t.Fatal(s.MaxBatch())
		}
		if err := s.Deliver(context.Background(), []bulwark.Event{alert("ev-1"), auth}); err != nil {
			t.Fatal(err)
		}
		for _, m := range rx.wait(t, 2) {
			p := parse(t, m)
			if p.procid != strconv.Itoa(os.Getpid()) || p.host != "gw1.example" || p.app != "bulwark" || p.ts != "2026-11-22T04:00:00.123Z" {
				t.Fatalf("header %+v", p)
			}
			out.WriteString(strings.Replace(m, " "+p.procid+" ", " PID ", 1) + "\n")
		}
		if rx.conns != 1 {
			t.Fatalf("%d connections for one batch", rx.conns)
		}
	}
	path := filepath.Join("testdata", "rfc5424.golden")
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestPriority(t *testing.T) {
	rx := newTCPReceiver(t)
	s := newSink(t, syslog.Config{Address: rx.ln.Addr().String(), Transport: "tcp", Facility: "AUTHPRIV"})
	var evs []bulwark.Event
	for _, sev := range []bulwark.Severity{"critical", "high", "medium", "low", "info", ""} {
		ev := alert("e")
		ev.Severity = sev
		evs = append(evs, ev)
	}
	if err := s.Deliver(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	var pris []int
	for _, m := range rx.wait(t, len(evs)) {
		pris = append(pris, parse(t, m).pri)
	}
	// authpriv is 10: 80 + severity 2 (critical) … 6 (info, unknown).
	if fmt.Sprint(pris) != "[82 83 84 85 86 86]" {
		t.Fatal(pris)
	}
}

func TestUDPDatagramsAndTruncation(t *testing.T) {
	long := alert("long")
	long.Subject = strings.Repeat("ü", 50) + strings.Repeat(`\`, 3000)
	long.Data = json.RawMessage(`{"rule_id":"PI-001","evidence":"` + strings.Repeat("x\\\\", 2000) + `","findings":[` +
		strings.Repeat(`{"rule_id":"R","evidence":"`+strings.Repeat("e", 100)+`"},`, 50) + `{}]}`)
	for _, c := range []struct {
		format string
		max    int
	}{{"cef", 0}, {"leef", 480}, {"json", 0}, {"json", 2048}, {"cef", 481}, {"cef", 482}, {"ecs", 0}, {"ocsf", 2048}} {
		t.Run(fmt.Sprint(c.format, c.max), func(t *testing.T) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			s := newSink(t, syslog.Config{Address: pc.LocalAddr().String(), Transport: "udp", Format: c.format, MaxMessage: c.max})
			if s.MaxBatch() != 100 {
				t.Fatal(s.MaxBatch())
			}
			if err := s.Deliver(context.Background(), []bulwark.Event{alert("short"), long}); err != nil {
				t.Fatal(err)
			}
			limit := c.max
			if limit == 0 {
				limit = 2048
			}
			buf := make([]byte, 70000)
			for i := range 2 {
				_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				m := string(buf[:n])
				if n > limit || !utf8.ValidString(m) || strings.ContainsAny(m, "\r\n") {
					t.Fatalf("datagram %d: %d bytes (limit %d) %q", i, n, limit, m)
				}
				body := parse(t, m).body
				switch c.format {
				case "json":
					var env wire.Envelope
					if err := json.Unmarshal([]byte(body), &env); err != nil {
						t.Fatalf("truncated JSON is invalid: %v %q", err, body)
					}
					if env.ID == "" || env.Type != "alert" || env.Severity != "high" {
						t.Fatalf("identity fields lost: %+v", env)
					}
				case "cef":
					if !strings.HasPrefix(body, "CEF:0|Bulwark|") {
						t.Fatal(body)
					}
					trailing := len(body) - len(strings.TrimRight(body, `\`))
					if trailing%2 == 1 {
						t.Fatalf("dangling escape at the end of %q", body)
					}
				case "leef":
					if !strings.HasPrefix(body, "LEEF:2.0|Bulwark|") {
						t.Fatal(body)
					}
				default:
					if !json.Valid([]byte(body)) {
						t.Fatalf("truncated %s is invalid JSON: %q", c.format, body)
					}
				}
				if i == 0 && limit == 2048 && n >= limit {
					t.Fatalf("the short event was cut: %q", m)
				}
			}
		})
	}
}

func TestReconnectAfterReceiverClosed(t *testing.T) {
	rx := newTCPReceiver(t)
	s := newSink(t, syslog.Config{Address: rx.ln.Addr().String(), Transport: "tcp"})
	ctx := context.Background()
	if err := s.Deliver(ctx, []bulwark.Event{alert("a")}); err != nil {
		t.Fatal(err)
	}
	rx.wait(t, 1)
	rx.dropAll() // the receiver restarts: its end of the connection closes
	time.Sleep(50 * time.Millisecond)
	if err := s.Deliver(ctx, []bulwark.Event{alert("b")}); err != nil {
		t.Fatal(err)
	}
	got := rx.wait(t, 2)
	if !strings.Contains(got[1], "externalId=b") || rx.conns != 2 {
		t.Fatalf("conns %d, %q", rx.conns, got)
	}
	// A third batch reuses the second connection.
	if err := s.Deliver(ctx, []bulwark.Event{alert("c")}); err != nil {
		t.Fatal(err)
	}
	rx.wait(t, 3)
	if rx.conns != 2 {
		t.Fatalf("%d connections", rx.conns)
	}
}

func TestReceiverDownIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, transport := range []string{"tcp", "tls"} {
		s := newSink(t, syslog.Config{Address: addr, Transport: transport, Timeout: 2 * time.Second})
		err := s.Deliver(context.Background(), []bulwark.Event{alert("a")})
		var de *events.DeliveryError
		if err == nil || errors.As(err, &de) || !strings.Contains(err.Error(), addr) {
			t.Fatalf("%s: want a plain retryable error naming the address, got %v", transport, err)
		}
	}
}

func TestCancelledDelivery(t *testing.T) {
	rx := newTCPReceiver(t)
	s := newSink(t, syslog.Config{Address: rx.ln.Addr().String(), Transport: "tcp"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Deliver(ctx, []bulwark.Event{alert("a")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if err := s.Deliver(context.Background(), []bulwark.Event{alert("b")}); err != nil {
		t.Fatal(err)
	}
	rx.wait(t, 1)
}
