package siem

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// ElasticDoc is one document the fake indexed.
type ElasticDoc struct {
	Index    string
	ID       string
	Pipeline string
	Source   json.RawMessage
}

// Elastic is an Elasticsearch _bulk endpoint. It requires the configured
// auth (ApiKey or Basic; none when neither is set), POST /_bulk or
// /{index}/_bulk with Content-Type application/x-ndjson, and a body of
// action and source line pairs ending in a newline. Only "create" actions
// with _index and _id are accepted (what the sink must send); a second
// create of an id answers the item with 409 version_conflict_engine_exception,
// like Elasticsearch. Answers are realistic bulk responses (took, errors,
// items with _index, _id, _version, result, _shards, status) or error
// bodies ({"error":{"root_cause","type","reason"},"status"}).
type Elastic struct {
	faults
	apiKey     string
	user, pass string

	docs      []ElasticDoc
	ids       map[string]bool // index + "\x00" + id
	itemFails []int           // statuses for the next items
	idFails   map[string]int  // status for the next item with this _id
	queries   []string        // query strings of accepted requests
	seq       int
}

// NewElastic needs no auth; see WithAPIKey and WithBasic.
func NewElastic() *Elastic {
	return &Elastic{faults: newFaults(), ids: map[string]bool{}, idFails: map[string]int{}}
}

// WithAPIKey requires "Authorization: ApiKey <key>".
func (e *Elastic) WithAPIKey(key string) *Elastic { e.apiKey = key; return e }

// WithBasic requires HTTP basic credentials.
func (e *Elastic) WithBasic(user, pass string) *Elastic { e.user, e.pass = user, pass; return e }

// FailItems makes the next n items (across requests) fail with status: 429
// (es_rejected_execution_exception), 400 (mapper_parsing_exception), 403
// (security_exception) or 5xx (unavailable_shards_exception). Nothing is
// indexed for a failed item.
func (e *Elastic) FailItems(status, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range n {
		e.itemFails = append(e.itemFails, status)
	}
}

// FailID makes the next item with _id id fail with status, as FailItems.
func (e *Elastic) FailID(id string, status int) {
	e.mu.Lock()
	e.idFails[id] = status
	e.mu.Unlock()
}

// Docs are the documents indexed, in order.
func (e *Elastic) Docs() []ElasticDoc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ElasticDoc(nil), e.docs...)
}

// Queries are the raw query strings of the requests accepted.
func (e *Elastic) Queries() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.queries...)
}

func esAnswer(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="security", charset="UTF-8", ApiKey`)
	}
	w.WriteHeader(status)
	cause := map[string]any{"type": typ, "reason": reason}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":  map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason},
		"status": status,
	})
}

func esFault(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		esAnswer(w, status, "es_rejected_execution_exception", "rejected execution of coordinating operation")
	case http.StatusServiceUnavailable:
		esAnswer(w, status, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];")
	case http.StatusBadRequest:
		esAnswer(w, status, "illegal_argument_exception", "injected bad request")
	default:
		esAnswer(w, status, "exception", "injected server error")
	}
}

var itemErrors = map[int][2]string{
	429: {"es_rejected_execution_exception", "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=512, max_coordinating_and_primary_bytes=0]"},
	400: {"document_parsing_exception", "[1:57] failed to parse field [source.ip] of type [ip] in document"},
	403: {"security_exception", "action [indices:data/write/bulk[s]] is unauthorized for API key"},
	500: {"unavailable_shards_exception", "[bulwark-events][0] primary shard is not active Timeout: [1m]"},
	503: {"unavailable_shards_exception", "[bulwark-events][0] primary shard is not active Timeout: [1m]"},
}

func (e *Elastic) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	switch {
	case e.apiKey != "":
		return h == "ApiKey "+e.apiKey
	case e.user != "":
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(e.user+":"+e.pass))
		return h == want
	}
	return true
}

func (e *Elastic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.inject(w, r, esFault) {
		return
	}
	if !e.authorized(r) {
		e.reject("bad Authorization")
		if r.Header.Get("Authorization") == "" {
			esAnswer(w, http.StatusUnauthorized, "security_exception", "missing authentication credentials for REST request [/_bulk]")
		} else {
			esAnswer(w, http.StatusUnauthorized, "security_exception", "unable to authenticate with provided credentials and anonymous access is not allowed for this request")
		}
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	defIndex, ok := strings.CutSuffix(path, "/_bulk")
	defIndex = strings.TrimPrefix(defIndex, "/")
	if !ok || strings.Contains(defIndex, "/") {
		e.reject(r.Method + " " + r.URL.Path)
		esAnswer(w, http.StatusBadRequest, "invalid_index_name_exception", "no handler for "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		e.reject("method " + r.Method)
		esAnswer(w, http.StatusMethodNotAllowed, "illegal_argument_exception", "Incorrect HTTP method for uri [/_bulk] and method ["+r.Method+"], allowed: [POST, PUT]")
		return
	}
	for k := range r.URL.Query() {
		if k != "pipeline" && k != "filter_path" && k != "refresh" {
			e.reject("query parameter " + k)
			esAnswer(w, http.StatusBadRequest, "illegal_argument_exception", "request [/_bulk] contains unrecognized parameter: ["+k+"]")
			return
		}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-ndjson" {
		e.reject("content-type " + r.Header.Get("Content-Type"))
		esAnswer(w, http.StatusNotAcceptable, "media_type_header_exception", "Content-Type header ["+r.Header.Get("Content-Type")+"] is not supported; the sink must send application/x-ndjson")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		esAnswer(w, http.StatusBadRequest, "parse_exception", err.Error())
		return
	}
	docs, err := parseBulk(body, defIndex, r.URL.Query().Get("pipeline"))
	if err != nil {
		e.reject(err.Error())
		esAnswer(w, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		return
	}
	items, anyErr := e.apply(docs)
	e.mu.Lock()
	e.queries = append(e.queries, r.URL.RawQuery)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"took": 3, "errors": anyErr, "items": items})
}

// apply indexes docs and builds the answer's items.
func (e *Elastic) apply(docs []ElasticDoc) ([]any, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	items := make([]any, 0, len(docs))
	anyErr := false
	for _, d := range docs {
		it := map[string]any{"_index": d.Index, "_id": d.ID}
		key := d.Index + "\x00" + d.ID
		fail := 0
		if len(e.itemFails) > 0 {
			fail, e.itemFails = e.itemFails[0], e.itemFails[1:]
		}
		if st, ok := e.idFails[d.ID]; ok && fail == 0 {
			fail = st
			delete(e.idFails, d.ID)
		}
		switch {
		case fail != 0:
			ie := itemErrors[fail]
			if ie[0] == "" {
				ie = itemErrors[500]
			}
			it["status"], it["error"] = fail, map[string]any{"type": ie[0], "reason": ie[1]}
			anyErr = true
		case e.ids[key]:
			it["status"] = http.StatusConflict
			it["error"] = map[string]any{"type": "version_conflict_engine_exception",
				"reason": fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", d.ID),
				"index":  d.Index, "shard": "0"}
			anyErr = true
		default:
			e.ids[key] = true
			e.docs = append(e.docs, d)
			e.seq++
			it["_version"], it["result"], it["status"] = 1, "created", http.StatusCreated
			it["_shards"] = map[string]any{"total": 2, "successful": 1, "failed": 0}
			it["_seq_no"], it["_primary_term"] = e.seq-1, 1
		}
		items = append(items, map[string]any{"create": it})
	}
	return items, anyErr
}

// parseBulk checks NDJSON framing strictly: a trailing newline, action and
// source lines in pairs, create actions only, each with _index (or the
// path's index) and _id, and a JSON object as source.
func parseBulk(body []byte, defIndex, pipeline string) ([]ElasticDoc, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("request body is required")
	}
	if body[len(body)-1] != '\n' {
		return nil, fmt.Errorf("the bulk request must be terminated by a newline [\\n]")
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	if len(lines)%2 != 0 {
		return nil, fmt.Errorf("line %d: action without a source line", len(lines))
	}
	var out []ElasticDoc
	for i := 0; i < len(lines); i += 2 {
		act, src := lines[i], lines[i+1]
		dec := json.NewDecoder(bytes.NewReader(act))
		dec.DisallowUnknownFields()
		var a map[string]struct {
			Index    string `json:"_index"`
			ID       string `json:"_id"`
			Pipeline string `json:"pipeline"`
		}
		if err := dec.Decode(&a); err != nil {
			return nil, fmt.Errorf("line %d: malformed action/metadata line: %w", i+1, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("line %d: more than one object on the action line", i+1)
		}
		meta, ok := a["create"]
		if len(a) != 1 || !ok {
			return nil, fmt.Errorf("line %d: want exactly one create action, got %s", i+1, act)
		}
		if meta.Index == "" {
			meta.Index = defIndex
		}
		if meta.Index == "" || meta.ID == "" {
			return nil, fmt.Errorf("line %d: create needs _index and _id (idempotent retries)", i+1)
		}
		if meta.Index != strings.ToLower(meta.Index) || strings.ContainsAny(meta.Index, ` "*\<|,>/?#:{}`) {
			return nil, fmt.Errorf("line %d: invalid index name [%s]", i+1, meta.Index)
		}
		trimmed := bytes.TrimSpace(src)
		if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) || bytes.Contains(src, []byte("\r")) {
			return nil, fmt.Errorf("line %d: source is not one JSON object on one line", i+2)
		}
		p := meta.Pipeline
		if p == "" {
			p = pipeline
		}
		out = append(out, ElasticDoc{Index: meta.Index, ID: meta.ID, Pipeline: p, Source: append(json.RawMessage(nil), trimmed...)})
	}
	return out, nil
}
