// Package syslog sends events to a syslog receiver (a SIEM collector,
// rsyslog, syslog-ng) as RFC 5424 messages whose MSG is a CEF line
// (ArcSight), a LEEF 2.0 line (QRadar) or the event as JSON (the envelope,
// ECS or OCSF). It owns the
// RFC 5424 header, the message size limit and the three transports: UDP
// (RFC 5426, one datagram per message), TCP with octet counting (RFC 6587)
// and TLS (RFC 5425). A stream connection is kept open across deliveries
// and replaced when the receiver has closed it or a write fails.
package syslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/cef"
	"github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// Transports.
const (
	UDP = "udp"
	TCP = "tcp"
	TLS = "tls"
)

// Message formats. JSON is the documented event envelope (format's
// native body); ECS and OCSF are the JSON bodies of package format.
const (
	CEF  = "cef"
	LEEF = "leef"
	JSON = "json"
	ECS  = format.ECS
	OCSF = format.OCSF
)

// Defaults and limits.
const (
	DefaultTransport = TLS
	DefaultFormat    = CEF
	DefaultFacility  = "local4"
	DefaultAppName   = "bulwark"
	// DefaultUDPMessage is the default size limit of a UDP message: RFC 5426
	// receivers must accept 480 bytes and should accept 2048.
	DefaultUDPMessage = 2048
	// DefaultStreamMessage is the default limit over TCP and TLS, rsyslog's
	// and syslog-ng's default maximum (RFC 5425 receivers should accept 8192).
	DefaultStreamMessage = 8192
	MinMessage           = 480
	// MinJSONMessage is the smallest limit for the JSON formats, whose
	// bodies cannot be shortened below it and stay JSON.
	MinJSONMessage   = 2048
	MaxUDPMessage    = 65000
	MaxStreamMessage = 1 << 20
	DefaultBatch     = 100
	MaxBatchSize     = 1000
	// IdleTimeout closes a connection nothing was written to for this long,
	// before a firewall or NAT silently forgets it.
	IdleTimeout = time.Minute
)

var transports = []string{UDP, TCP, TLS}

// encoders render the MSG part of each format.
var encoders = map[string]func(*bulwark.Event) ([]byte, error){
	CEF:  func(ev *bulwark.Event) ([]byte, error) { return []byte(cef.CEF(ev)), nil },
	LEEF: func(ev *bulwark.Event) ([]byte, error) { return []byte(cef.LEEF(ev)), nil },
	JSON: func(ev *bulwark.Event) ([]byte, error) { return format.Marshal(format.Native, ev) },
	ECS:  func(ev *bulwark.Event) ([]byte, error) { return format.Marshal(format.ECS, ev) },
	OCSF: func(ev *bulwark.Event) ([]byte, error) { return format.Marshal(format.OCSF, ev) },
}

// Formats lists the format names, for validation messages.
func Formats() []string {
	var f []string
	for k := range encoders {
		f = append(f, k)
	}
	slices.Sort(f)
	return f
}

// facilities are RFC 5424's facility codes by their usual names.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Config is one syslog integration. It has no secret fields: syslog has
// no authentication of the sender beyond the network and TLS.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// Address is the receiver's host:port.
	Address string `json:"address" help:"Receiver host:port, e.g. siem.example:6514."`
	// Transport is udp, tcp (octet counting) or tls (default).
	Transport string `json:"transport,omitempty" enum:"tls,tcp,udp" help:"tls (RFC 5425, default), tcp (RFC 6587 octet counting) or udp (RFC 5426, lossy)."`
	// Format of the MSG part: cef (default), leef, json (the event
	// envelope), ecs or ocsf.
	Format string `json:"format,omitempty" enum:"cef,leef,json,ecs,ocsf" help:"MSG format: cef (ArcSight, default), leef (QRadar LEEF 2.0), json (event envelope), ecs or ocsf."`
	// Facility is a facility name (default local4).
	Facility string `json:"facility,omitempty" enum:"local4,local0,local1,local2,local3,local5,local6,local7,auth,authpriv,audit,user,daemon,syslog,kern,mail,lpr,news,uucp,cron,ftp,ntp,alert,clock" help:"Syslog facility (default local4)."`
	// AppName is the APP-NAME header field (default bulwark).
	AppName string `json:"app_name,omitempty" help:"APP-NAME header field (default bulwark)."`
	// Hostname is the HOSTNAME header field (default the machine's host name).
	Hostname string `json:"hostname,omitempty" help:"HOSTNAME header field (default the gateway's host name)."`
	// MaxMessage is the largest message in bytes, header included; longer
	// messages are shortened (default 2048 for udp, 8192 for tcp and tls).
	MaxMessage int `json:"max_message,omitempty" help:"Largest message in bytes, header included; longer ones are shortened (default 2048 for udp, 8192 for tcp and tls)."`
	// MaxBatch is how many events one delivery writes (default 100).
	MaxBatch int `json:"max_batch,omitempty" help:"Events written per delivery, 1-1000 (default 100)."`
	// Timeout bounds connecting and writing one batch (default 10s).
	Timeout time.Duration `json:"timeout,omitempty" help:"Bound of connecting and writing one batch (default 10 s)."`
	// TLS applies to transport tls only.
	TLS wire.TLS `json:"tls"`
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if c.Address == "" {
		return errors.New("address is required (host:port)")
	}
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil || host == "" || strings.ContainsAny(host, " \t\r\n/") {
		return fmt.Errorf("address must be host:port, e.g. siem.example:6514, got %q", c.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address port must be a number from 1 to 65535, got %q", port)
	}
	transport := c.transport()
	if !slices.Contains(transports, transport) {
		return fmt.Errorf("transport must be one of %s, got %q", strings.Join(transports, ", "), c.Transport)
	}
	if _, ok := encoders[c.format()]; !ok {
		return fmt.Errorf("format must be one of %s, got %q", strings.Join(Formats(), ", "), c.Format)
	}
	if _, ok := facilities[c.facility()]; !ok {
		return fmt.Errorf("facility must be a facility name (kern, user, auth, authpriv, audit, local0 … local7, …), got %q", c.Facility)
	}
	if c.AppName != "" && !printASCII(c.AppName, 48) {
		return errors.New("app_name must be 1 to 48 printable ASCII characters without spaces")
	}
	if c.Hostname != "" && !printASCII(c.Hostname, 255) {
		return errors.New("hostname must be 1 to 255 printable ASCII characters without spaces")
	}
	hi := MaxStreamMessage
	if transport == UDP {
		hi = MaxUDPMessage
	}
	if c.MaxMessage != 0 && (c.MaxMessage < MinMessage || c.MaxMessage > hi) {
		return fmt.Errorf("max_message must be between %d and %d bytes for transport %s (0 for the default)", MinMessage, hi, transport)
	}
	if f := c.format(); c.MaxMessage != 0 && c.MaxMessage < MinJSONMessage && f != CEF && f != LEEF {
		return fmt.Errorf("max_message must be at least %d bytes for format %s (a JSON body cannot be shortened further)", MinJSONMessage, f)
	}
	if c.MaxBatch < 0 || c.MaxBatch > MaxBatchSize {
		return fmt.Errorf("max_batch must be between 1 and %d (0 for the default %d)", MaxBatchSize, DefaultBatch)
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	if transport != TLS && (c.TLS != wire.TLS{}) {
		return fmt.Errorf("tls applies to transport tls only (transport is %s)", transport)
	}
	_, err = c.TLS.Config()
	return err
}

func (c *Config) transport() string { return strings.ToLower(firstOf(c.Transport, DefaultTransport)) }
func (c *Config) format() string    { return strings.ToLower(firstOf(c.Format, DefaultFormat)) }
func (c *Config) facility() string  { return strings.ToLower(firstOf(c.Facility, DefaultFacility)) }

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// printASCII reports whether s is 1 to n characters of RFC 5424's
// PRINTUSASCII (33–126), what header fields may hold.
func printASCII(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// headerField makes s a valid header field of at most n characters: other
// bytes become "_", and an empty value is the NILVALUE "-".
func headerField(s string, n int) string {
	if s == "" {
		return "-"
	}
	b := []byte(s)
	if len(b) > n {
		b = b[:n]
	}
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

type sink struct {
	cfg       Config
	transport string
	encode    func(*bulwark.Event) ([]byte, error)
	facility  int
	host, app string
	procID    string
	max       int
	timeout   time.Duration
	tls       *tls.Config

	mu   sync.Mutex
	conn net.Conn
	last time.Time // last successful write
	idle *time.Timer
}

// Sink is the syslog sink; besides events.Sink it offers Close.
type Sink interface {
	events.Sink
	// Close closes the connection; the next delivery opens a new one.
	Close() error
}

// New validates cfg and returns the sink. It does not connect: the first
// delivery does.
func New(cfg Config) (events.Sink, error) {
	return NewSink(cfg)
}

// NewSink is New with the concrete interface.
func NewSink(cfg Config) (Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("syslog %q: %w", cfg.Name, err)
	}
	s := &sink{
		cfg: cfg, transport: cfg.transport(), encode: encoders[cfg.format()], facility: facilities[cfg.facility()],
		host: cfg.Hostname, app: firstOf(cfg.AppName, DefaultAppName), procID: strconv.Itoa(os.Getpid()),
		max: cfg.MaxMessage, timeout: cfg.Timeout,
	}
	if s.host == "" {
		h, _ := os.Hostname()
		s.host = headerField(h, 255)
	}
	if s.max == 0 {
		s.max = DefaultStreamMessage
		if s.transport == UDP {
			s.max = DefaultUDPMessage
		}
	}
	if s.timeout == 0 {
		s.timeout = wire.DefaultTimeout
	}
	if s.cfg.MaxBatch == 0 {
		s.cfg.MaxBatch = DefaultBatch
	}
	if s.transport == TLS {
		s.tls, _ = cfg.TLS.Config() // checked by Validate
	}
	return s, nil
}

func (s *sink) Name() string  { return s.cfg.Name }
func (s *sink) MaxBatch() int { return s.cfg.MaxBatch }

// Message is the RFC 5424 message of ev, at most max bytes:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
//
// PRI is facility×8 plus the syslog severity of the event; TIMESTAMP is the
// event time in UTC with milliseconds; MSGID is the event type; there is no
// structured data. MSG carries no BOM: CEF and LEEF parsers expect "CEF:"
// or "LEEF:" right after the header.
func (s *sink) message(ev *bulwark.Event) ([]byte, error) {
	t := ev.Time
	if t.IsZero() {
		t = time.Now()
	}
	hdr := fmt.Sprintf("<%d>1 %s %s %s %s %s - ", s.facility*8+cef.SyslogSeverity(ev.Severity),
		t.UTC().Format("2006-01-02T15:04:05.000Z"), s.host, s.app, s.procID, headerField(string(ev.Type), 32))
	body, err := s.encode(ev)
	if err != nil {
		return nil, err
	}
	room := s.max - len(hdr)
	if len(body) > room {
		if s.cfg.format() == CEF || s.cfg.format() == LEEF {
			body = cutLine(body, room)
		} else {
			body = fitJSON(body, room)
		}
	}
	return append([]byte(hdr), body...), nil
}

// cutUTF8 cuts b to at most n bytes without splitting a character.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	if n <= 0 {
		return nil
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

// cutLine shortens a CEF or LEEF line at a character boundary and never
// leaves half an escape sequence (a lone trailing backslash) behind.
func cutLine(b []byte, n int) []byte {
	b = cutUTF8(b, n)
	k := 0
	for k < len(b) && b[len(b)-1-k] == '\\' {
		k++
	}
	if k%2 == 1 {
		b = b[:len(b)-1]
	}
	return b
}

// fitJSON shortens a JSON document to n bytes and keeps it valid JSON: it
// halves the longest string or array, again and again, marking cut strings
// with "…". Only a document made of many small members can still be too
// long (MinJSONMessage keeps that from happening with the bodies we
// write); it is then cut like text (bounded, but no longer JSON).
func fitJSON(b []byte, n int) []byte {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&doc) != nil {
		return cutUTF8(b, n)
	}
	for range 128 {
		if !shrinkLargest(&doc) {
			break
		}
		out, err := json.Marshal(doc)
		if err != nil {
			break
		}
		if len(out) <= n {
			return out
		}
		b = out
	}
	return cutUTF8(b, n)
}

// shrinkLargest halves the longest string or non-empty array in *doc,
// reporting whether there was one. Values of up to 40 bytes are left
// alone, so ids (UUIDs) and timestamps survive. Object keys are visited in
// order so the result does not depend on map iteration.
func shrinkLargest(doc *any) bool {
	var best []any // path of keys (string) and indexes (int)
	found, bestSize := false, 40
	var walk func(v any, path []any)
	walk = func(v any, path []any) {
		size := 0
		switch x := v.(type) {
		case string:
			size = len(x)
		case []any:
			if len(x) > 0 {
				size = jsonSize(x)
			}
			for i, e := range x {
				walk(e, append(slices.Clone(path), i))
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(x[k], append(slices.Clone(path), k))
			}
		}
		if size > bestSize {
			best, bestSize, found = path, size, true
		}
	}
	walk(*doc, nil)
	if found {
		*doc = replaceAt(*doc, best)
	}
	return found
}

// replaceAt halves the value at path inside v.
func replaceAt(v any, path []any) any {
	if len(path) == 0 {
		return halve(v)
	}
	switch x := v.(type) {
	case []any:
		i := path[0].(int)
		x[i] = replaceAt(x[i], path[1:])
	case map[string]any:
		k := path[0].(string)
		x[k] = replaceAt(x[k], path[1:])
	}
	return v
}

func halve(v any) any {
	switch x := v.(type) {
	case string:
		return string(cutUTF8([]byte(x), len(x)/2)) + "…"
	case []any:
		return x[:len(x)/2]
	}
	return v
}

func jsonSize(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

// Deliver writes the batch: one datagram per event over UDP, the
// octet-counted frames of all events in one write over TCP and TLS.
// Network failures are retryable; the connection is dropped and the next
// delivery dials again.
func (s *sink) Deliver(ctx context.Context, evs []bulwark.Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs := make([][]byte, len(evs))
	for i := range evs {
		m, err := s.message(&evs[i])
		if err != nil {
			return &events.DeliveryError{Permanent: true, Err: fmt.Errorf("encoding event %s: %w", evs[i].ID, err)}
		}
		msgs[i] = m
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetWriteDeadline(deadline)
	// A cancelled delivery (the dispatcher stopping) interrupts the write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.transport == UDP {
		for _, m := range msgs {
			if _, err = conn.Write(m); err != nil {
				break
			}
		}
	} else {
		var buf bytes.Buffer
		for _, m := range msgs {
			buf.WriteString(strconv.Itoa(len(m)))
			buf.WriteByte(' ')
			buf.Write(m)
		}
		_, err = conn.Write(buf.Bytes())
	}
	if err != nil {
		s.dropLocked()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("syslog %s to %s: %w", s.transport, s.cfg.Address, err)
	}
	s.last = time.Now()
	if s.idle == nil {
		s.idle = time.AfterFunc(IdleTimeout, s.closeIdle)
	} else {
		s.idle.Reset(IdleTimeout)
	}
	return nil
}

// connect returns the open connection, or dials a new one when there is
// none or the receiver has closed it.
func (s *sink) connect(ctx context.Context) (net.Conn, error) {
	if s.conn != nil {
		if s.transport == UDP || open(s.conn) {
			return s.conn, nil
		}
		s.dropLocked()
	}
	d := &net.Dialer{Timeout: s.timeout, KeepAlive: 30 * time.Second}
	var (
		conn net.Conn
		err  error
	)
	switch s.transport {
	case UDP:
		conn, err = d.DialContext(ctx, "udp", s.cfg.Address)
	case TCP:
		conn, err = d.DialContext(ctx, "tcp", s.cfg.Address)
	case TLS:
		td := &tls.Dialer{NetDialer: d, Config: s.tls}
		dctx, cancel := context.WithTimeout(ctx, s.timeout)
		conn, err = td.DialContext(dctx, "tcp", s.cfg.Address)
		cancel()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("syslog %s to %s: %w", s.transport, s.cfg.Address, err)
	}
	s.conn = conn
	return conn, nil
}

// open reports whether the receiver still holds c open. Syslog receivers
// never write, so a read that times out means open, and end of file or a
// reset means the receiver closed it (it restarted): writing there would
// go into the kernel's buffer and be lost with the reset that follows.
func open(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [512]byte
	_, err := c.Read(b[:]) // TLS: also consumes session tickets and alerts
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return err == nil || errors.As(err, &ne) && ne.Timeout()
}

func (s *sink) dropLocked() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

func (s *sink) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.last) >= IdleTimeout {
		s.dropLocked()
	}
}

// Close closes the connection and stops the idle timer.
func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idle != nil {
		s.idle.Stop()
	}
	s.dropLocked()
	return nil
}
