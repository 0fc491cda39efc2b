package siem

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, h http.Handler, path string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHECRejectsBadFraming(t *testing.T) {
	h := NewHEC("tok")
	hdr := map[string]string{"Authorization": "Splunk tok", "Content-Type": "application/json"}
	ev := `{"time":1.5,"event":{"id":"a"}}`
	for name, body := range map[string]string{
		"array":       "[" + ev + "]",
		"commas":      ev + "," + ev,
		"string time": `{"time":"1.5","event":{"id":"a"}}`,
		"no event":    `{"time":1.5}`,
		"unknown key": `{"time":1.5,"event":{},"extra":1}`,
		"empty":       "  ",
	} {
		if w := post(t, h, "/services/collector/event", hdr, body); w.Code != 400 {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	if w := post(t, h, "/services/collector/event", hdr, ev+"\n"+ev+ev); w.Code != 200 || len(h.Events()) != 3 {
		t.Fatalf("valid batch: %d %s", w.Code, w.Body)
	}
	if w := post(t, h, "/services/collector/event", map[string]string{"Authorization": "Bearer tok"}, ev); w.Code != 403 {
		t.Fatal(w.Code)
	}
	if w := post(t, h, "/services/collector/event", nil, ev); w.Code != 401 {
		t.Fatal(w.Code)
	}
}

func TestSlackRejectsOverLimits(t *testing.T) {
	s := NewSlack("/services/x")
	hdr := map[string]string{"Content-Type": "application/json"}
	long := strings.Repeat("a", 151)
	for name, body := range map[string]string{
		"long header":   `{"text":"t","blocks":[{"type":"header","text":{"type":"plain_text","text":"` + long + `"}}]}`,
		"mrkdwn header": `{"text":"t","blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`,
		"long section":  `{"text":"t","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("a", 3001) + `"}}]}`,
		"unbalanced":    "{\"text\":\"t\",\"blocks\":[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":\"```x\"}}]}",
		"bad colour":    `{"text":"t","attachments":[{"color":"red","blocks":[{"type":"divider"}]}]}`,
		"unknown field": `{"text":"t","channel":"#x"}`,
		"no content":    `{"text":" "}`,
		"too many":      `{"text":"t","blocks":[` + strings.TrimSuffix(strings.Repeat(`{"type":"divider"},`, 51), ",") + `]}`,
	} {
		if w := post(t, s, "/services/x", hdr, body); w.Code != 400 {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	if w := post(t, s, "/services/x", hdr, `{"text":"hello"}`); w.Code != 200 || w.Body.String() != "ok" {
		t.Fatal(w.Code)
	}
}

func TestWebhookRejectsUnsigned(t *testing.T) {
	h := NewWebhook(false, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	body := `{"test": 2432232314}`
	hdr := map[string]string{"Content-Type": "application/json", "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
		"webhook-timestamp": "1614265330", "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
	if !h.verify(hdr["webhook-id"], hdr["webhook-timestamp"], []byte(body), "v1,bad v1a,x "+hdr["webhook-signature"]) {
		t.Fatal("spec vector does not verify")
	}
	if w := post(t, h, "/", hdr, body); w.Code != 401 { // timestamp is from 2021: outside tolerance
		t.Fatal(w.Code)
	}
	delete(hdr, "webhook-signature")
	if w := post(t, h, "/", hdr, body); w.Code != 401 {
		t.Fatal(w.Code)
	}
}
