package siem

import (
	"encoding/json"
	"testing"
)

func TestElasticRejectsBadFraming(t *testing.T) {
	e := NewElastic().WithAPIKey("k")
	hdr := map[string]string{"Authorization": "ApiKey k", "Content-Type": "application/x-ndjson"}
	act := `{"create":{"_index":"bulwark-events","_id":"a"}}`
	src := `{"message":"x"}`
	for name, body := range map[string]string{
		"no trailing newline": act + "\n" + src,
		"odd lines":           act + "\n" + src + "\n" + act + "\n",
		"index action":        `{"index":{"_index":"i","_id":"a"}}` + "\n" + src + "\n",
		"no id":               `{"create":{"_index":"i"}}` + "\n" + src + "\n",
		"bad index":           `{"create":{"_index":"Upper","_id":"a"}}` + "\n" + src + "\n",
		"unknown metadata":    `{"create":{"_index":"i","_id":"a","x":1}}` + "\n" + src + "\n",
		"array source":        act + "\n[1]\n",
		"pretty source":       act + "\n{\n\"a\":1}\n",
		"empty":               "",
	} {
		if w := post(t, e, "/_bulk", hdr, body); w.Code != 400 {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if w := post(t, e, "/_bulk", map[string]string{"Authorization": "ApiKey k", "Content-Type": "application/json"}, act+"\n"+src+"\n"); w.Code != 406 {
		t.Errorf("json content type: %d", w.Code)
	}
	if w := post(t, e, "/_bulk", map[string]string{"Content-Type": "application/x-ndjson"}, act+"\n"+src+"\n"); w.Code != 401 {
		t.Errorf("no auth: %d", w.Code)
	}
	if w := post(t, e, "/_bulk?refresh=true&op_type=index", hdr, act+"\n"+src+"\n"); w.Code != 400 {
		t.Errorf("unknown parameter: %d", w.Code)
	}
	// Valid, then the same id again: 200 with a 409 item.
	var ans struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
			Error  *struct {
				Type string `json:"type"`
			} `json:"error"`
		} `json:"items"`
	}
	w := post(t, e, "/bulwark-events/_bulk", hdr, `{"create":{"_id":"a"}}`+"\n"+src+"\n")
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &ans) != nil || ans.Errors || ans.Items[0]["create"].Status != 201 {
		t.Fatalf("valid: %d %s", w.Code, w.Body)
	}
	w = post(t, e, "/_bulk", hdr, act+"\n"+src+"\n")
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &ans) != nil || !ans.Errors || ans.Items[0]["create"].Status != 409 ||
		ans.Items[0]["create"].Error.Type != "version_conflict_engine_exception" {
		t.Fatalf("duplicate: %d %s", w.Code, w.Body)
	}
	if d := e.Docs(); len(d) != 1 || d[0].Index != "bulwark-events" {
		t.Fatal(d)
	}
}
