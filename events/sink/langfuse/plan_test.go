package langfuse

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// nopStore satisfies Store for tests that only plan.
type nopStore struct{ Store }

func (nopStore) RequestPositionAt(context.Context, time.Time) (int64, error) { return 0, nil }

// TestPlanWaitsForGaps covers PostgreSQL's out-of-order commits: a record
// whose id is below ones already read shows up late and must still be
// sent, while a gap that never fills stops holding the cursor after the
// grace period.
func TestPlanWaitsForGaps(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	o := TailOptions{Store: nopStore{}, GapGrace: time.Minute, now: func() time.Time { return clock }}
	tl, err := NewTailer(Config{Name: "lf", PublicKey: "pk", SecretKey: "sk"}, o)
	if err != nil {
		t.Fatal(err)
	}
	recs := func(ids ...int64) []bulwark.RequestRecord {
		var out []bulwark.RequestRecord
		for _, id := range ids {
			out = append(out, bulwark.RequestRecord{ID: id, Proxy: "p", API: "chat"})
		}
		return out
	}
	ids := func(rs []bulwark.RequestRecord) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	cur := &cursor{pos: 10, above: map[int64]bool{}, gaps: map[int64]time.Time{}}
	step := func(page []bulwark.RequestRecord, wantNext int64, wantSend []int64) {
		t.Helper()
		next, send, seen := tl.plan(cur, page)
		if next != wantNext || !slices.Equal(ids(send), wantSend) {
			t.Fatalf("plan(%v) from %d = next %d, send %v; want %d, %v", ids(page), cur.pos, next, ids(send), wantNext, wantSend)
		}
		for _, id := range seen {
			cur.above[id] = true
		}
		for id := range cur.above {
			if id <= next {
				delete(cur.above, id)
			}
		}
		cur.pos = next
	}
	step(recs(11, 12, 14, 15), 12, []int64{11, 12, 14, 15}) // 13 missing: sent what is there, cursor waits
	clock = clock.Add(10 * time.Second)
	step(recs(14, 15), 12, nil)                     // nothing new, nothing re-sent
	step(recs(13, 14, 15, 16), 16, []int64{13, 16}) // the late record arrives
	step(recs(18), 16, []int64{18})                 // 17 missing
	clock = clock.Add(2 * time.Minute)
	step(recs(18, 19), 19, []int64{19}) // 17 never came: the cursor moves on
	if len(cur.above) != 0 || len(cur.gaps) != 0 {
		t.Fatalf("state left behind: %v %v", cur.above, cur.gaps)
	}
}
