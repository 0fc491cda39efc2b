package wire

import (
	"fmt"
	"net/http"
	"strings"
)

// framing are the headers HTTP itself or the sink's body framing own
// (hop-by-hop headers, content type and length, host): no configured
// header may replace them.
var framing = map[string]bool{
	"content-type": true, "content-length": true, "content-encoding": true, "host": true,
	"transfer-encoding": true, "connection": true, "keep-alive": true, "proxy-connection": true,
	"proxy-authenticate": true, "proxy-authorization": true, "te": true, "trailer": true,
	"upgrade": true, "expect": true,
}

// FramingHeader reports whether name is one of those headers.
func FramingHeader(name string) bool { return framing[strings.ToLower(name)] }

// CheckHeader validates one configured header: a valid name that reserved
// does not claim (nil: FramingHeader) and a value without control
// characters. field names the setting in the error; the value is never
// repeated, as it may be a credential.
func CheckHeader(field, name, value string, reserved func(string) bool) error {
	if reserved == nil {
		reserved = FramingHeader
	}
	if !validToken(name) {
		return fmt.Errorf("%s: %q is not a valid header name", field, name)
	}
	if reserved(name) {
		return fmt.Errorf("%s: %q is set by the sink or by HTTP and cannot be set", field, name)
	}
	if strings.IndexFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
		return fmt.Errorf("%s: value of %q contains a control character", field, name)
	}
	return nil
}

// ParseSecretHeaders reads the secret_headers setting: "Name: value" lines,
// blank lines skipped, each checked with CheckHeader, keys canonical.
// Errors name the line, never the value.
func ParseSecretHeaders(s string, reserved func(string) bool) (map[string]string, error) {
	out := map[string]string{}
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("secret_headers: line %d is not \"Name: value\"", n+1)
		}
		if err := CheckHeader(fmt.Sprintf("secret_headers: line %d", n+1), k, v, reserved); err != nil {
			return nil, err
		}
		if _, dup := out[http.CanonicalHeaderKey(k)]; dup {
			return nil, fmt.Errorf("secret_headers: line %d repeats %q", n+1, k)
		}
		out[http.CanonicalHeaderKey(k)] = v
	}
	return out, nil
}

// validToken reports whether s is an HTTP token (RFC 9110), as a header
// name must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
