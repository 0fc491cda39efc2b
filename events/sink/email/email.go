// Package email sends events as e-mail over SMTP (through
// github.com/wneessen/go-mail): one message per event, or one digest
// message when a delivered batch is large, with an HTML body (severity
// banner, every alert field escaped), a plain-text body, or both as
// multipart/alternative. It owns the SMTP settings, the rendering of
// subjects and bodies, and the mapping of SMTP replies onto retryable and
// permanent delivery failures.
package email

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// Security modes.
const (
	// StartTLS connects in clear text and upgrades with STARTTLS before
	// anything else; a server that does not offer STARTTLS gets nothing.
	StartTLS = "starttls"
	// ImplicitTLS speaks TLS from the first byte (SMTPS, port 465).
	ImplicitTLS = "tls"
	// None sends in clear text: only for a relay on the same host or a
	// trusted network segment, and never with a password.
	None = "none"
)

// Body formats.
const (
	FormatHTML = "html"
	FormatText = "text"
	FormatBoth = "both"
)

// Authentication mechanisms.
const (
	AuthPlain = "plain"
	AuthLogin = "login"
)

// Defaults and limits.
const (
	// DefaultBatch is the batch with digests on; without them every event
	// is a message of its own, and all of one delivery's messages must go
	// out within the dispatcher's bound of one delivery (30 s), so fewer.
	DefaultBatch       = 50
	DefaultSingleBatch = 10
	MaxBatchSize       = 500
	MaxRcpts           = 50
)

var (
	securities = []string{StartTLS, ImplicitTLS, None}
	formats    = []string{FormatHTML, FormatText, FormatBoth}
	auths      = []string{AuthPlain, AuthLogin}
)

// Config is one e-mail integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// Host is the SMTP server's host name or IP address.
	Host string `json:"host" help:"SMTP server host name or IP address, without port."`
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int `json:"port,omitempty" help:"Default 587 for starttls, 465 for tls, 25 for none."`
	// Security is starttls (default), tls or none.
	Security string `json:"security,omitempty" enum:"starttls,tls,none" help:"starttls (default) never sends without TLS; tls is implicit TLS (SMTPS); none sends in clear text, for a local relay only."`
	// Username and Password log in with AUTH (Auth: plain, the default, or
	// login). Password is a secret. Both or neither must be set.
	Username string `json:"username,omitempty" help:"SMTP AUTH user; needs the password secret."`
	Password string `json:"password,omitempty" help:"SMTP AUTH password; stored encrypted."`
	Auth     string `json:"auth,omitempty" enum:"plain,login" help:"AUTH mechanism (default plain)."`
	// From is the sender ("Bulwark <bulwark@example.com>" or a bare address).
	From string `json:"from" help:"Sender, e.g. Bulwark <bulwark@example.com>."`
	// To lists the recipients (1 to 50).
	To []string `json:"to" help:"Recipient addresses (1 to 50)."`
	// ReplyTo, when set, is where replies go (the SOC's mailbox).
	ReplyTo string `json:"reply_to,omitempty" help:"Where replies go, e.g. the SOC mailbox."`
	// Format is html, text or both (default; multipart/alternative).
	Format string `json:"format,omitempty" enum:"both,html,text" help:"Body: both (default, multipart/alternative), html or text."`
	// ConsoleURL is the console's base URL (https://bulwark.example); alert
	// mails then link to the alert.
	ConsoleURL string `json:"console_url,omitempty" help:"Console base URL, e.g. https://bulwark.example; alert mails then link to the alert."`
	// DigestThreshold: a delivered batch of at least this many events goes
	// out as one digest message instead of one message each (0: never).
	DigestThreshold int `json:"digest_threshold,omitempty" help:"A delivery of at least this many events is sent as one digest (0: never; 2 to max_batch)."`
	// MaxBatch is how many events one delivery takes (default 50 with
	// digests, 10 without).
	MaxBatch int `json:"max_batch,omitempty" help:"Events per delivery, 1-500 (default 50 with digests, 10 without)."`
	// Timeout bounds the connection and each SMTP command (default 10s).
	Timeout time.Duration `json:"timeout,omitempty" help:"Bound of the connection and of each SMTP command (default 10 s)."`
	TLS     wire.TLS      `json:"tls"`
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if err := validHost(c.Host); err != nil {
		return err
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("port must be between 1 and 65535 (0 for the security mode's default), got %d", c.Port)
	}
	if c.Security != "" && !slices.Contains(securities, c.Security) {
		return fmt.Errorf("security must be one of %s, got %q", strings.Join(securities, ", "), c.Security)
	}
	if hasControl(c.Username) {
		return errors.New("username must not contain control characters")
	}
	if hasControl(c.Password) {
		return errors.New("password must not contain control characters")
	}
	switch {
	case c.Username != "" && c.Password == "":
		return errors.New("password is required when username is set")
	case c.Username == "" && c.Password != "":
		return errors.New("username is required when a password is set")
	case c.Password != "" && c.Security == None:
		return errors.New("security none cannot carry a username and password (they would cross the network in clear text); use starttls or tls")
	}
	if c.Auth != "" && !slices.Contains(auths, c.Auth) {
		return fmt.Errorf("auth must be one of %s, got %q", strings.Join(auths, ", "), c.Auth)
	}
	if err := validAddress("from", c.From); err != nil {
		return err
	}
	if len(c.To) == 0 {
		return errors.New("to must list at least one recipient address")
	}
	if len(c.To) > MaxRcpts {
		return fmt.Errorf("to lists %d addresses; at most %d are allowed (use a distribution list)", len(c.To), MaxRcpts)
	}
	for i, a := range c.To {
		if err := validAddress(fmt.Sprintf("to[%d]", i), a); err != nil {
			return err
		}
	}
	if c.ReplyTo != "" {
		if err := validAddress("reply_to", c.ReplyTo); err != nil {
			return err
		}
	}
	if c.Format != "" && !slices.Contains(formats, c.Format) {
		return fmt.Errorf("format must be one of %s, got %q", strings.Join(formats, ", "), c.Format)
	}
	if c.ConsoleURL != "" {
		if err := wire.ValidateURL("console_url", c.ConsoleURL); err != nil {
			return err
		}
	}
	if c.MaxBatch < 0 || c.MaxBatch > MaxBatchSize {
		return fmt.Errorf("max_batch must be between 1 and %d (0 for the default: %d with digests, %d without), got %d",
			MaxBatchSize, DefaultBatch, DefaultSingleBatch, c.MaxBatch)
	}
	batch := c.MaxBatch
	if batch == 0 {
		batch = DefaultBatch // the default once digests are on
	}
	if c.DigestThreshold != 0 && (c.DigestThreshold < 2 || c.DigestThreshold > batch) {
		return fmt.Errorf("digest_threshold must be 0 (no digests) or between 2 and max_batch (%d), got %d", batch, c.DigestThreshold)
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return c.TLS.Validate()
}

func validHost(h string) error {
	switch {
	case strings.TrimSpace(h) == "":
		return errors.New("host is required")
	case strings.Contains(h, ":") && net.ParseIP(h) == nil, strings.ContainsAny(h, "/@ \t\r\n[]"):
		return fmt.Errorf("host must be a host name or IP address without scheme or port (set port separately), got %q", h)
	}
	return nil
}

func validAddress(field, a string) error {
	if strings.TrimSpace(a) == "" {
		return fmt.Errorf("%s is required", field)
	}
	if hasControl(a) {
		return fmt.Errorf("%s must not contain control characters", field)
	}
	if _, err := mail.ParseAddress(a); err != nil {
		return fmt.Errorf("%s must be an e-mail address like \"Bulwark <bulwark@example.com>\" (%s), got %q", field, strings.TrimPrefix(err.Error(), "mail: "), a)
	}
	return nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

type sink struct {
	cfg    Config
	port   int
	tls    *tls.Config
	domain string // of From, for Message-IDs
	helo   string
}

// New validates cfg and returns the sink.
func New(cfg Config) (events.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("email %q: %w", cfg.Name, err)
	}
	if cfg.Security == "" {
		cfg.Security = StartTLS
	}
	if cfg.Format == "" {
		cfg.Format = FormatBoth
	}
	if cfg.Auth == "" {
		cfg.Auth = AuthPlain
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultSingleBatch
		if cfg.DigestThreshold > 0 {
			cfg.MaxBatch = DefaultBatch
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = wire.DefaultTimeout
	}
	port := cfg.Port
	if port == 0 {
		port = map[string]int{StartTLS: 587, ImplicitTLS: 465, None: 25}[cfg.Security]
	}
	tc, err := tlsConfig(cfg.TLS, cfg.Host)
	if err != nil {
		return nil, err
	}
	from, _ := mail.ParseAddress(cfg.From)
	domain := "bulwark.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" && !strings.ContainsAny(d, "<>[] ") {
		domain = d
	}
	helo, _ := os.Hostname()
	if helo == "" || strings.ContainsAny(helo, " \t\r\n") {
		helo = "localhost"
	}
	return &sink{cfg: cfg, port: port, tls: tc, domain: domain, helo: helo}, nil
}

// tlsConfig is wire's TLS settings (certificates checked exactly as the
// HTTP sinks do) for the SMTP server's name.
func tlsConfig(t wire.TLS, host string) (*tls.Config, error) {
	tc, err := t.Config()
	if err != nil {
		return nil, err
	}
	tc.ServerName = host
	return tc, nil
}

func (s *sink) Name() string { return s.cfg.Name }

func (s *sink) MaxBatch() int { return s.cfg.MaxBatch }

// Deliver sends evs over one SMTP session: one digest message when there
// are at least DigestThreshold of them, else one message each, stopping at
// the first failure (the batch is then retried whole; the stable
// Message-IDs let receivers drop the repeats).
func (s *sink) Deliver(ctx context.Context, evs []bulwark.Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs, err := s.messages(evs)
	if err != nil {
		return &events.DeliveryError{Permanent: true, Err: err}
	}
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	// The dialer is ours so that a cancelled delivery closes the connection
	// at once instead of waiting out the per-command timeout.
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: s.cfg.Timeout}
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
		if s.cfg.Security != ImplicitTLS {
			return conn, nil
		}
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		return tc, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port), gomail.WithTimeout(s.cfg.Timeout), gomail.WithDialContextFunc(dial),
		gomail.WithHELO(s.helo), gomail.WithTLSConfig(s.tls),
	}
	switch s.cfg.Security {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default: // implicit TLS is done by dial; none never upgrades
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		auth := gomail.SMTPAuthPlain
		if s.cfg.Auth == AuthLogin {
			auth = gomail.SMTPAuthLogin
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return &events.DeliveryError{Permanent: true, Err: err}
	}
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.port))
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if s.cfg.Security == StartTLS && strings.Contains(err.Error(), "does not support STARTTLS") {
			err = fmt.Errorf("%w; nothing was sent: security starttls never sends without TLS (use security tls for an SMTPS port such as 465)", err)
		}
		return s.failure(ctx, "smtp "+addr, err)
	}
	// QUIT's answer changes nothing: every message was accepted already.
	defer func() { _ = c.CloseWithSMTPClient(sc) }()
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("smtp %s: %w", addr, err)
		}
		if err := c.SendWithSMTPClient(sc, m); err != nil {
			return s.failure(ctx, "smtp "+addr, err)
		}
	}
	return nil
}

// failure classifies an SMTP error: a 5xx reply is permanent, a 4xx reply,
// a network or TLS failure is retryable. The text is the server's reply;
// the password is scrubbed in case a server echoes it.
func (s *sink) failure(ctx context.Context, where string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	msg := s.scrub(where + ": " + err.Error())
	if code := ReplyCode(err); code >= 500 && code < 600 {
		return &events.DeliveryError{Permanent: true, Err: errors.New(msg)}
	}
	return &events.DeliveryError{Err: errors.New(msg)}
}

// ReplyCode is the SMTP reply code inside err (0 when err is not a
// server's reply, such as a network failure).
func ReplyCode(err error) int {
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func (s *sink) scrub(msg string) string {
	p := s.cfg.Password
	if p == "" {
		return msg
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + s.cfg.Username + "\x00" + p))
	return strings.NewReplacer(p, "[password]", base64.StdEncoding.EncodeToString([]byte(p)), "[password]", plain, "[credentials]").Replace(msg)
}

// messages builds what one delivery sends.
func (s *sink) messages(evs []bulwark.Event) ([]*gomail.Msg, error) {
	if s.cfg.DigestThreshold > 0 && len(evs) >= s.cfg.DigestThreshold {
		r, err := s.renderDigest(evs)
		if err != nil {
			return nil, err
		}
		m, err := s.message(r)
		if err != nil {
			return nil, err
		}
		return []*gomail.Msg{m}, nil
	}
	msgs := make([]*gomail.Msg, 0, len(evs))
	for i := range evs {
		r, err := s.renderEvent(&evs[i])
		if err != nil {
			return nil, err
		}
		m, err := s.message(r)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// message turns a rendering into a message with the configured headers.
func (s *sink) message(r *rendered) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := m.To(s.cfg.To...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	if s.cfg.ReplyTo != "" {
		if err := m.ReplyTo(s.cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply_to: %w", err)
		}
	}
	m.Subject(r.Subject)
	m.SetMessageIDWithValue(r.MessageID + "@" + s.domain)
	m.SetDate()
	m.SetUserAgent("Bulwark")
	// RFC 3834: out-of-office robots must not answer alerts.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	if r.EventID != "" {
		m.SetGenHeader("X-Bulwark-Event-Id", r.EventID)
	}
	m.SetGenHeader("X-Bulwark-Severity", r.Severity)
	switch s.cfg.Format {
	case FormatText:
		m.SetBodyString(gomail.TypeTextPlain, r.Text)
	case FormatHTML:
		m.SetBodyString(gomail.TypeTextHTML, r.HTML)
	default:
		// multipart/alternative: the last part is the preferred one.
		m.SetBodyString(gomail.TypeTextPlain, r.Text)
		m.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	}
	return m, nil
}
