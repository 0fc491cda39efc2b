package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

var _ bulwark.DashboardStore = (*DB)(nil)

// CountEvents counts events per time bucket, type, severity and action. The
// bucket of each event is computed in SQL with a CASE over the boundaries
// (compared as timestamps on PostgreSQL and as fixed-width UTC text on
// SQLite), so the same SQL text runs on both engines and only the groups
// travel back, never the events.
func (db *DB) CountEvents(ctx context.Context, bounds []time.Time) ([]bulwark.EventCount, error) {
	if len(bounds) < 2 {
		return nil, invalid("count events: need at least two bucket bounds")
	}
	if len(bounds) > bulwark.MaxDashboardBuckets+1 {
		return nil, invalid("count events: at most %d buckets", bulwark.MaxDashboardBuckets)
	}
	args := make([]any, len(bounds))
	for i, b := range bounds {
		if i > 0 && !b.After(bounds[i-1]) {
			return nil, invalid("count events: bucket bounds must increase")
		}
		args[i] = ts(b)
	}
	var c strings.Builder
	if len(bounds) == 2 {
		c.WriteString("0")
	} else {
		c.WriteString("CASE")
		for i := 1; i < len(bounds)-1; i++ {
			fmt.Fprintf(&c, " WHEN time < $%d THEN %d", i+1, i-1)
		}
		fmt.Fprintf(&c, " ELSE %d END", len(bounds)-2)
	}
	q := `SELECT ` + c.String() + ` AS bucket, type, severity, action, COUNT(*) FROM events
		WHERE time >= $1 AND time < $` + fmt.Sprint(len(bounds)) + `
		GROUP BY 1, type, severity, action ORDER BY 1, type, severity, action`
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("count events", err)
	}
	defer rows.Close()
	out := []bulwark.EventCount{}
	for rows.Next() {
		var ec bulwark.EventCount
		var typ, sev string
		if err := rows.Scan(&ec.Bucket, &typ, &sev, &ec.Action, &ec.Count); err != nil {
			return nil, wrap("count events", err)
		}
		ec.Type, ec.Severity = bulwark.EventType(typ), bulwark.Severity(sev)
		out = append(out, ec)
	}
	return out, wrap("count events", rows.Err())
}
