package secret

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// placeholders are fragments of the values people paste from examples and
// forget to replace. Matched case-insensitively anywhere in the value.
var placeholders = []string{
	"changeme", "change-me", "change_me", "replace", "placeholder", "example",
	"your-", "your_", "secret-key", "insecure", "default", "password", "todo",
	"xxx", "dummy", "test-key",
}

// minDistinct is the fewest distinct characters a configured secret may
// have. Generated secrets have far more; "aaaa…" or "12121212…" have fewer.
const minDistinct = 8

// CheckSecret refuses a configured secret that is empty, shorter than
// minLen, looks like a placeholder, or has too little variety to be random.
// name is the setting's name as the user writes it (e.g. "BULWARK_SESSION_KEY").
// The error names the setting and says what to do; it never echoes the
// value, which may be a real secret that merely failed a check.
func CheckSecret(name, value string, minLen int) error {
	v := strings.TrimSpace(value)
	fix := "generate one with `openssl rand -base64 32` or leave it unset to have Bulwark generate one in the data directory"
	var problem string
	switch {
	case v == "":
		problem = "is empty"
	case utf8.RuneCountInString(v) < minLen:
		problem = fmt.Sprintf("is too short (%d characters, at least %d required)", utf8.RuneCountInString(v), minLen)
	case isPlaceholder(v):
		problem = "looks like a placeholder or example value"
		fix += " (if it was generated randomly, generate another)"
	case distinct(v) < minDistinct:
		problem = fmt.Sprintf("is too predictable (fewer than %d distinct characters)", minDistinct)
	case periodic(v):
		problem = "is too predictable (a short pattern repeated)"
	}
	if problem == "" {
		return nil
	}
	return fmt.Errorf("%s %s; %s", name, problem, fix)
}

func isPlaceholder(v string) bool {
	lv := strings.ToLower(v)
	for _, p := range placeholders {
		if strings.Contains(lv, p) {
			return true
		}
	}
	return false
}

func distinct(v string) int {
	seen := make(map[rune]struct{}, minDistinct)
	for _, r := range v {
		seen[r] = struct{}{}
	}
	return len(seen)
}

// periodic reports whether v is a shorter string repeated at least twice,
// such as "abcdefgh" four times: enough distinct characters, no randomness.
func periodic(v string) bool {
	for p := 1; p <= len(v)/2; p++ {
		if len(v)%p == 0 && strings.Repeat(v[:p], len(v)/p) == v {
			return true
		}
	}
	return false
}
