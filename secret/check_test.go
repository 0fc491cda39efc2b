package secret

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

func TestCheckSecret(t *testing.T) {
	tests := []struct {
		name, value string
		minLen      int
		problem     string // substring of the error; "" for accepted
	}{
		{"random base64", "q7Fv2LkP9sXbN3mWz8RtYc1HdJ4eGa6Uo0iKlMnB5hQ=", 32, ""},
		{"random hex", "3f9a1c7e5b2d4086f1e3a5c7092b4d6e8f0a1c3e5b7d9f2a4c6e8b0d2f4a6c8e", 32, ""},
		{"exactly min length", "aB3dE5gH9kLmN0pQ", 16, ""},
		{"unicode counts runes", "ÄÖÜäöüßéèêàçñøåæ", 16, ""},
		{"empty", "", 32, "is empty"},
		{"blank", "   \n", 32, "is empty"},
		{"too short", "aB3dE5gH9k", 32, "too short (10 characters, at least 32"},
		{"changeme", "changeme-changeme-changeme-123456", 16, "placeholder"},
		{"CHANGEME upper", "PLEASE-CHANGEME-0123456789abcdef", 16, "placeholder"},
		{"change-me", "x9Q-change-me-Lk2P7sR4vB8nM1zT5wY", 16, "placeholder"},
		{"change_me", "x9Q_change_me_Lk2P7sR4vB8nM1zT5wY", 16, "placeholder"},
		{"replace", "REPLACE_WITH_A_RANDOM_VALUE_0123", 16, "placeholder"},
		{"placeholder", "placeholder-9fK2Lm7Qx4Rt8Vw1Zb3N", 16, "placeholder"},
		{"example", "example-session-key-Qx4Rt8Vw1Zb3N", 16, "placeholder"},
		{"your-", "your-secret-here-Qx4Rt8Vw1Zb3N7k", 16, "placeholder"},
		{"your_", "YOUR_API_SIGNING_KEY_Qx4Rt8Vw1Zb3", 16, "placeholder"},
		{"secret-key", "my-secret-key-Qx4Rt8Vw1Zb3N7kPq2", 16, "placeholder"},
		{"insecure", "insecure-dev-only-Qx4Rt8Vw1Zb3N7k", 16, "placeholder"},
		{"default", "DefaultKey-Qx4Rt8Vw1Zb3N7kPq2Lm9", 16, "placeholder"},
		{"password", "Password123!Qx4Rt8Vw1Zb3N7kPq2Lm", 16, "placeholder"},
		{"todo", "TODO-set-this-Qx4Rt8Vw1Zb3N7kPq2", 16, "placeholder"},
		{"xxx", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 16, "placeholder"},
		{"XXX mixed", "Qx4Rt8XxX1Zb3N7kPq2Lm9Vw5Yc6", 16, "placeholder"},
		{"dummy", "dummy-Qx4Rt8Vw1Zb3N7kPq2Lm9Yc6Bf", 16, "placeholder"},
		{"test-key", "test-key-Qx4Rt8Vw1Zb3N7kPq2Lm9Yc", 16, "placeholder"},
		{"one repeated char", strings.Repeat("a", 40), 32, "fewer than 8 distinct"},
		{"two chars", strings.Repeat("ab", 20), 32, "fewer than 8 distinct"},
		{"seven distinct", strings.Repeat("abcdefg", 6), 32, "fewer than 8 distinct"},
		{"repeated pattern", strings.Repeat("k3Jf9QzL", 5), 32, "repeated"},
		{"digits only ok", "8302749156038472910385746201938475", 32, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSecret("BULWARK_SESSION_KEY", tc.value, tc.minLen)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.problem) {
				t.Fatalf("error %q does not mention %q", msg, tc.problem)
			}
			if !strings.HasPrefix(msg, "BULWARK_SESSION_KEY ") {
				t.Fatalf("error does not name the setting: %q", msg)
			}
			if !strings.Contains(msg, "openssl rand -base64 32") || !strings.Contains(msg, "leave it unset") {
				t.Fatalf("error does not say what to do: %q", msg)
			}
			if v := strings.TrimSpace(tc.value); len(v) >= 6 && strings.Contains(msg, v) {
				t.Fatalf("error echoes the value: %q", msg)
			}
		})
	}
}

// Secrets produced the recommended way must be accepted (bar the rare
// random value that happens to contain a placeholder fragment like "xxx").
func TestCheckSecretAcceptsGenerated(t *testing.T) {
	refused := 0
	const n = 2000
	for range n {
		b := make([]byte, 32)
		rand.Read(b)
		if CheckSecret("k", base64.StdEncoding.EncodeToString(b), 32) != nil {
			refused++
		}
	}
	if refused > n/100 {
		t.Fatalf("%d of %d random secrets refused", refused, n)
	}
}
