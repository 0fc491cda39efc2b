package langfuse_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/langfuse"
	fakelf "github.com/bulwarkhq/bulwark/fake/langfuse"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

const pk, sk = "pk-lf-test", "sk-lf-test"

type env struct {
	t    *testing.T
	db   *store.DB
	fake *fakelf.Server
	url  string
	id   int64 // the integration
	n    int   // records written so far
}

func engines(t *testing.T, fn func(t *testing.T, open func(t *testing.T) *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, func(t *testing.T) *store.DB { return storetest.OpenSQLite(t) }) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv(storetest.PostgresEnv) == "" {
			t.Skipf("set %s to run against PostgreSQL", storetest.PostgresEnv)
		}
		fn(t, func(t *testing.T) *store.DB { return storetest.OpenPostgres(t) })
	})
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	fake := fakelf.New(pk, sk)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	i := &bulwark.Integration{Name: "lf", Kind: bulwark.IntegrationWebhook}
	if err := db.CreateIntegration(t.Context(), i); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, fake: fake, url: srv.URL, id: i.ID}
}

func (e *env) config() langfuse.Config {
	return langfuse.Config{Name: "lf", Host: e.url, PublicKey: pk, SecretKey: sk, MaxBatch: 5, Environment: "test"}
}

func (e *env) opts() langfuse.TailOptions {
	return langfuse.TailOptions{Store: e.db, IntegrationID: e.id, PollInterval: 20 * time.Millisecond,
		BaseBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, GapGrace: 200 * time.Millisecond}
}

func (e *env) start(cfg langfuse.Config, o langfuse.TailOptions) *langfuse.Tailer {
	e.t.Helper()
	tl, err := langfuse.NewTailer(cfg, o)
	if err != nil {
		e.t.Fatal(err)
	}
	tl.Start()
	e.t.Cleanup(func() { tl.Stop(context.Background()) })
	return tl
}

// write stores n records through proxy and returns their request ids.
func (e *env) write(n int, proxy string, at time.Time) []string {
	e.t.Helper()
	var recs []*bulwark.RequestRecord
	var ids []string
	for range n {
		e.n++
		r := &bulwark.RequestRecord{RequestID: fmt.Sprintf("req-%03d", e.n), At: at, Proxy: proxy, User: "alice",
			Model: "gpt-4o", API: "chat", Status: 200, Verdict: bulwark.VerdictAllow, InputTokens: 10, OutputTokens: 2,
			CostUSD: 0.001, Priced: true, LatencyMs: 5}
		recs = append(recs, r)
		ids = append(ids, r.RequestID)
	}
	if err := e.db.RecordRequests(e.t.Context(), recs); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// sent is the request ids of the traces the fake holds, in arrival order.
func (e *env) sent() []string {
	var out []string
	for _, tr := range e.fake.Traces() {
		out = append(out, tr.Metadata["request_id"].(string))
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) noErrors() {
	e.t.Helper()
	if errs := e.fake.Errors(); len(errs) > 0 {
		e.t.Fatalf("the fake refused what was sent: %q", errs)
	}
}

func TestTailFromNowFiltersAndHealth(t *testing.T) {
	engines(t, func(t *testing.T, open func(t *testing.T) *store.DB) {
		e := newEnv(t, open(t))
		e.write(3, "openai", time.Now()) // before the integration existed: not sent
		reg := prometheus.NewRegistry()
		o := e.opts()
		o.Registerer = reg
		cfg := e.config()
		cfg.Proxies = []string{"openai"}
		tl := e.start(cfg, o)
		waitFor(t, "the cursor", func() bool { return tl.Health().QueueDepth == 0 && e.fake.Requests() == 0 && cursorSet(e) })
		want := e.write(12, "openai", time.Now())
		e.write(4, "other", time.Now()) // filtered out
		mcp := &bulwark.RequestRecord{RequestID: "sess", At: time.Now(), Proxy: "openai", API: "mcp.tools/call", Path: "tools/call/x"}
		if err := e.db.RecordRequests(t.Context(), []*bulwark.RequestRecord{mcp}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "12 traces", func() bool { return len(e.sent()) >= 12 })
		time.Sleep(100 * time.Millisecond)
		if got := e.sent(); !slices.Equal(got, want) {
			t.Fatalf("sent %v, want %v", got, want)
		}
		e.noErrors()
		for _, n := range e.fake.Batches() {
			if n > 10 { // 5 records, 2 events each
				t.Fatalf("batch of %d events over max_batch 5", n)
			}
		}
		tr := e.fake.Traces()[0]
		g, ok := e.fake.Observation(tr.ID)
		if !ok || g.Type != "GENERATION" || g.Model != "gpt-4o" || g.UsageDetails["input"] != 10 || g.CostDetails["total"] != 0.001 ||
			tr.UserID != "alice" || tr.Environment != "test" || g.Environment != "test" {
			t.Fatalf("trace %+v / generation %+v", tr, g)
		}
		waitFor(t, "health", func() bool { h := tl.Health(); return h.Sent == 12 && h.QueueDepth == 0 })
		h := tl.Health()
		if h.State != events.Healthy || h.Failed != 0 || h.LastSuccess.IsZero() {
			t.Fatalf("health %+v", h)
		}
		if v := metricValue(t, reg, "bulwark_integration_sent_total"); v != 12 {
			t.Fatalf("sent metric %v", v)
		}
	})
}

// cursorSet reports whether a tailer holds the integration's cursor.
func cursorSet(e *env) bool {
	var pool *sql.DB
	for _, p := range e.db.SQLDBs() {
		pool = p
	}
	var owner string
	err := pool.QueryRow(`SELECT owner FROM integration_cursors WHERE integration_id = $1`, e.id).Scan(&owner)
	return err == nil && owner != ""
}

// metricValue reads the integration "lf"'s series of a gathered metric.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "integration" && l.GetValue() == "lf" {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{integration=\"lf\"} not exported", name)
	return 0
}

func TestBackfill(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	e.write(2, "openai", time.Now().Add(-5*time.Hour))
	recent := e.write(3, "openai", time.Now().Add(-time.Hour))
	cfg := e.config()
	cfg.BackfillHours = 2
	e.start(cfg, e.opts())
	waitFor(t, "backfill", func() bool { return len(e.sent()) >= 3 })
	time.Sleep(100 * time.Millisecond)
	if got := e.sent(); !slices.Equal(got, recent) {
		t.Fatalf("backfilled %v, want %v", got, recent)
	}
}

// TestRestartResumes stops the tailer while records keep coming and
// starts another: every record arrives, and re-sends stay within a batch.
func TestRestartResumes(t *testing.T) {
	engines(t, func(t *testing.T, open func(t *testing.T) *store.DB) {
		e := newEnv(t, open(t))
		tl := e.start(e.config(), e.opts())
		waitFor(t, "the cursor", func() bool { return cursorSet(e) })
		want := e.write(7, "openai", time.Now())
		waitFor(t, "first records", func() bool { return len(e.sent()) >= 7 })
		tl.Stop(context.Background())
		want = append(want, e.write(9, "openai", time.Now())...)
		if n := len(e.sent()); n != 7 {
			t.Fatalf("sent %d while stopped", n)
		}
		before := e.fake.Accepted()
		e.start(e.config(), e.opts())
		waitFor(t, "all records", func() bool { return len(e.sent()) >= 16 })
		time.Sleep(100 * time.Millisecond)
		if got := e.sent(); !slices.Equal(got, want) {
			t.Fatalf("sent %v, want %v", got, want)
		}
		// 9 new records, two events each; anything more is a re-send.
		if resent := e.fake.Accepted() - before - 18; resent < 0 || resent > 2*5 {
			t.Fatalf("%d events re-sent after the restart (at most a batch of 10 allowed)", resent)
		}
		e.noErrors()
	})
}

func TestRetriesAndRejections(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	o := e.opts()
	tl := e.start(e.config(), o)
	waitFor(t, "the cursor", func() bool { return cursorSet(e) })

	// Whole calls fail, then one event of a batch fails retryably: all
	// records arrive once Langfuse recovers.
	e.fake.Inject(fakelf.ServerError, 2)
	e.fake.Inject(fakelf.Throttle, 1)
	want := e.write(3, "openai", time.Now())
	waitFor(t, "delivery after faults", func() bool { return len(e.sent()) == 3 })
	h := tl.Health()
	if h.Failed == 0 || h.Retried == 0 || h.LastError == "" {
		t.Fatalf("failures not counted: %+v", h)
	}
	e.fake.FailEvents(500, 1)
	want = append(want, e.write(2, "openai", time.Now())...)
	waitFor(t, "delivery after an item failure", func() bool { return len(e.sent()) == 5 })
	waitFor(t, "healthy again", func() bool {
		g, ok := e.fake.Observation(e.fake.Traces()[3].ID)
		return ok && g.ID != "" && tl.Health().Sent == 5
	})

	// An event Langfuse refuses for good is skipped, not retried forever.
	e.fake.FailEvents(400, 1)
	want = append(want, e.write(2, "openai", time.Now())...)
	waitFor(t, "the rest after a refusal", func() bool { return tl.Health().DeadLettered == 1 && tl.Health().Sent == 6 })
	// A retried event arrives after the rest of its batch: compare sets.
	got := e.sent()
	slices.Sort(got)
	if !slices.Equal(got, []string{want[0], want[1], want[2], want[3], want[4], want[6]}) {
		t.Fatalf("sent %v; want all but %s, whose trace was refused", got, want[5])
	}
	if tl.Health().State != events.Failed {
		t.Fatalf("a refusal should fail the health: %+v", tl.Health())
	}
	e.write(1, "openai", time.Now())
	waitFor(t, "recovery", func() bool { return tl.Health().State == events.Degraded })
	e.noErrors()
}

func TestWrongKeyRetriesWithoutLoss(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	cfg := e.config()
	cfg.SecretKey = "sk-wrong"
	tl := e.start(cfg, e.opts())
	waitFor(t, "the cursor", func() bool { return cursorSet(e) })
	e.write(2, "openai", time.Now())
	waitFor(t, "a failure", func() bool { return tl.Health().Failed > 0 })
	if h := tl.Health(); h.DeadLettered != 0 || h.Sent != 0 || !contains(h.LastError, "401") {
		t.Fatalf("health %+v", h)
	}
	tl.Stop(context.Background())
	// Fixed key: the same records arrive.
	e.start(e.config(), e.opts())
	waitFor(t, "delivery with the right key", func() bool { return len(e.sent()) == 2 })
}

// TestOneReplicaTails runs two tailers on one cursor: only the lease
// holder sends, so nothing arrives twice.
func TestOneReplicaTails(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	a, b := e.opts(), e.opts()
	a.Owner, b.Owner = "replica-a", "replica-b"
	a.Lease, b.Lease = 600*time.Millisecond, 600*time.Millisecond
	ta := e.start(e.config(), a)
	e.start(e.config(), b)
	waitFor(t, "the cursor", func() bool { return cursorSet(e) })
	want := e.write(20, "openai", time.Now())
	waitFor(t, "all records", func() bool { return len(e.sent()) >= 20 })
	time.Sleep(200 * time.Millisecond)
	if got := e.sent(); !slices.Equal(got, want) || e.fake.Accepted() != 40 {
		t.Fatalf("sent %v (%d events), want %v once each", got, e.fake.Accepted(), want)
	}
	// One replica goes away: the other carries on from the same position.
	ta.Stop(context.Background())
	want = append(want, e.write(5, "openai", time.Now())...)
	waitFor(t, "records after a replica stopped", func() bool { return len(e.sent()) >= 25 })
	time.Sleep(200 * time.Millisecond)
	if got := e.sent(); !slices.Equal(got, want) || e.fake.Accepted() != 50 {
		t.Fatalf("after the stop: sent %v (%d events), want %v once each", got, e.fake.Accepted(), want)
	}
}

func TestSendTest(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite(t))
	tl, err := langfuse.NewTailer(e.config(), e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if err := tl.SendTest(t.Context()); err != nil {
		t.Fatal(err)
	}
	if tr := e.fake.Traces(); len(tr) != 1 || tr[0].Metadata["proxy"] != "bulwark-test" {
		t.Fatalf("traces %+v", tr)
	}
	e.fake.FailEvents(400, 1)
	if err := tl.SendTest(t.Context()); err == nil || !contains(err.Error(), "400") {
		t.Fatalf("refused test event: %v", err)
	}
	bad := e.config()
	bad.PublicKey = "pk-other"
	tl, _ = langfuse.NewTailer(bad, e.opts())
	if err := tl.SendTest(t.Context()); err == nil || !contains(err.Error(), "401") || contains(err.Error(), sk) {
		t.Fatalf("wrong key: %v", err)
	}
	tl.Stop(t.Context()) // never started: returns at once
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
