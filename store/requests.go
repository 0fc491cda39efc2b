package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// Bounds on free text in request records, which comes from clients and
// upstreams.
const (
	maxRequestPath  = 2048
	maxRequestError = 2000
	maxRequestField = 256 // request id, proxy, group, user, model, api, rule id
)

// requestInsertCols are the columns RecordRequests writes, in order.
const requestInsertCols = `request_id, at, proxy, group_id, group_name, key_id, user_name, model, api, path, stream,
	status, verdict, rule_id, findings, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
	tokens_estimated, cost_usd, priced, latency_ms, upstream_ms, error, budget_period`

const requestCols = `id, ` + requestInsertCols

// requestColCount is the number of requestInsertCols.
const requestColCount = 26

// requestChunk bounds the rows of one multi-row INSERT: 200 × 26 arguments
// stay far below every engine's parameter limit.
const requestChunk = 200

func scanRequest(s scanner, extra ...any) (bulwark.RequestRecord, error) {
	var r bulwark.RequestRecord
	var verdict string
	var period *time.Time
	dest := append([]any{&r.ID, &r.RequestID, timeCol{&r.At}, &r.Proxy, &r.GroupID, &r.Group, &r.KeyID, &r.User,
		&r.Model, &r.API, &r.Path, &r.Stream, &r.Status, &verdict, &r.RuleID, &r.Findings, &r.InputTokens,
		&r.OutputTokens, &r.CacheReadTokens, &r.CacheWriteTokens, &r.TokensEstimated, &r.CostUSD, &r.Priced,
		&r.LatencyMs, &r.UpstreamMs, &r.Error, nullTimeCol{&period}}, extra...)
	err := s.Scan(dest...)
	r.Verdict = bulwark.Verdict(verdict)
	if period != nil {
		r.BudgetPeriod = *period
	}
	return r, err
}

// finite is f, or 0 when it is NaN or infinite (SQLite would store NULL).
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// requestCost is r's cost and whether it is known; a non-finite cost is
// stored as an unknown one.
func requestCost(r *bulwark.RequestRecord) (float64, bool) {
	if math.IsNaN(r.CostUSD) || math.IsInf(r.CostUSD, 0) {
		return 0, false
	}
	return r.CostUSD, r.Priced
}

// requestValues are the values of requestInsertCols for r. A zero At is
// stored as at; a non-finite cost is stored as an unknown (unpriced) one.
func requestValues(r *bulwark.RequestRecord, at time.Time) []any {
	if !r.At.IsZero() {
		at = r.At
	}
	cost, priced := requestCost(r)
	var period any
	if !r.BudgetPeriod.IsZero() {
		period = ts(r.BudgetPeriod)
	}
	field := func(s string) string { return truncate(clean(s), maxRequestField) }
	return []any{field(r.RequestID), ts(at), field(r.Proxy), r.GroupID, field(r.Group), r.KeyID, field(r.User),
		field(r.Model), field(r.API), truncate(clean(r.Path), maxRequestPath), r.Stream, r.Status,
		field(string(r.Verdict)), field(r.RuleID), r.Findings, r.InputTokens, r.OutputTokens, r.CacheReadTokens,
		r.CacheWriteTokens, r.TokensEstimated, cost, priced, finite(r.LatencyMs), finite(r.UpstreamMs),
		truncate(clean(r.Error), maxRequestError), period}
}

// spendKey is one group's budget period.
type spendKey struct {
	group  int64
	period time.Time
}

// RecordRequests stores recs in one transaction with multi-row INSERTs
// (the records' IDs are not set; a zero At is stored as now) and adds the
// cost of each record with a GroupID and a non-zero BudgetPeriod to that
// group's spend for that period. The spend of a group deleted meanwhile is
// dropped, not an error: its records are still stored.
func (db *DB) RecordRequests(ctx context.Context, recs []*bulwark.RequestRecord) error {
	if len(recs) == 0 {
		return nil
	}
	at := now()
	rows := make([][]any, 0, len(recs))
	spend := map[spendKey]float64{}
	for i, r := range recs {
		if r == nil {
			return invalid("request record %d is nil", i)
		}
		rows = append(rows, requestValues(r, at))
		if r.GroupID != 0 && !r.BudgetPeriod.IsZero() {
			cost, _ := requestCost(r)
			spend[spendKey{r.GroupID, normTime(r.BudgetPeriod)}] += cost
		}
	}
	// Add spend in one order for every writer, so that concurrent batches
	// touching the same groups cannot deadlock on PostgreSQL.
	keys := make([]spendKey, 0, len(spend))
	for k := range spend {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b spendKey) int {
		return cmp.Or(cmp.Compare(a.group, b.group), a.period.Compare(b.period))
	})
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.insertRequests(ctx, tx, rows); err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		// The sub-select skips a group deleted meanwhile; on PostgreSQL it
		// also locks the group against a concurrent delete until commit.
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO budget_spend (group_id, period_start, spent_usd)
			SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM client_groups WHERE id = $1`+db.d.keyShare+`)
			ON CONFLICT (group_id, period_start) DO UPDATE SET spent_usd = budget_spend.spent_usd + excluded.spent_usd`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, k := range keys {
			if _, err := stmt.ExecContext(ctx, k.group, ts(k.period), spend[k]); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("record requests", err)
}

// insertRequests inserts rows. PostgreSQL gets multi-row INSERTs (one
// round trip per chunk). SQLite gets one prepared single-row INSERT run per
// row: in-process that costs no round trip, and SQLite resolves numbered
// parameters by a linear search, so a 200-row statement with 5,200 of them
// costs ~20x more than 200 executions of a prepared one.
func (db *DB) insertRequests(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	if db.d.name == EngineSQLite {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO requests (`+requestInsertCols+`) VALUES (`+placeholders(1, requestColCount)+`)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, v := range rows {
			if _, err := stmt.ExecContext(ctx, v...); err != nil {
				return err
			}
		}
		return nil
	}
	for chunk := range slices.Chunk(rows, requestChunk) {
		args := make([]any, 0, len(chunk)*requestColCount)
		var q strings.Builder
		q.WriteString(`INSERT INTO requests (` + requestInsertCols + `) VALUES `)
		for i, v := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + placeholders(len(args)+1, len(v)) + ")")
			args = append(args, v...)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// ListRequests returns the request records matching f, newest first, with
// the total number of matches. Since is inclusive, Until exclusive.
func (db *DB) ListRequests(ctx context.Context, f bulwark.RequestFilter) (bulwark.Page[bulwark.RequestRecord], error) {
	var w where
	if f.Proxy != "" {
		w.add("proxy = " + w.arg(f.Proxy))
	}
	if f.GroupID != 0 {
		w.add("group_id = " + w.arg(f.GroupID))
	}
	if f.Verdict != "" {
		w.add("verdict = " + w.arg(string(f.Verdict)))
	}
	if !f.Since.IsZero() {
		w.add("at >= " + w.arg(ts(f.Since)))
	}
	if !f.Until.IsZero() {
		w.add("at < " + w.arg(ts(f.Until)))
	}
	limit, offset := pageLimits(f.Limit, f.Offset)
	page := bulwark.Page[bulwark.RequestRecord]{Items: []bulwark.RequestRecord{}}
	err := db.listPage(ctx, "requests", &w, "at DESC, id DESC", limit, offset, requestCols,
		func(rows *sql.Rows) (int, error) {
			var total int
			r, err := scanRequest(rows, &total)
			page.Items = append(page.Items, r)
			return total, err
		}, &page.Total)
	return page, wrap("list requests", err)
}

// GroupSpend returns the group's recorded spend in USD for the budget
// period starting at period: 0 when nothing was spent (or the group does
// not exist).
func (db *DB) GroupSpend(ctx context.Context, groupID int64, period time.Time) (float64, error) {
	var spent float64
	err := db.r.QueryRowContext(ctx, `SELECT spent_usd FROM budget_spend WHERE group_id = $1 AND period_start = $2`,
		groupID, ts(period)).Scan(&spent)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return spent, wrap("group spend", err)
}

// UsageSummary aggregates the request records in [since, until) per UTC
// day, group name and model, ordered by day, group and model. A zero since
// or until leaves that end open. CachedTokens counts cache reads and cache
// writes; Unpriced counts records of a named model without a price.
func (db *DB) UsageSummary(ctx context.Context, since, until time.Time) ([]bulwark.UsageBucket, error) {
	var w where
	if !since.IsZero() {
		w.add("at >= " + w.arg(ts(since)))
	}
	if !until.IsZero() {
		w.add("at < " + w.arg(ts(until)))
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+db.d.utcDay("at")+`, group_name, model, COUNT(*),
		CAST(SUM(CASE WHEN verdict = 'block' THEN 1 ELSE 0 END) AS BIGINT),
		CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
		CAST(SUM(cache_read_tokens + cache_write_tokens) AS BIGINT), SUM(cost_usd),
		CAST(SUM(CASE WHEN priced = FALSE AND model <> '' AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END) AS BIGINT)
		FROM requests`+w.String()+` GROUP BY 1, group_name, model ORDER BY 1, group_name, model`, w.args...)
	if err != nil {
		return nil, wrap("usage summary", err)
	}
	defer rows.Close()
	out := []bulwark.UsageBucket{}
	for rows.Next() {
		var b bulwark.UsageBucket
		if err := rows.Scan(&b.Day, &b.Group, &b.Model, &b.Requests, &b.Blocked, &b.InputTokens, &b.OutputTokens,
			&b.CachedTokens, &b.CostUSD, &b.Unpriced); err != nil {
			return nil, wrap("usage summary", err)
		}
		out = append(out, b)
	}
	return out, wrap("usage summary", rows.Err())
}

// DeleteRequestsBefore removes request records older than t and reports
// how many. Budget spend is kept: it is per period, not per record.
func (db *DB) DeleteRequestsBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM requests WHERE at < $1`, ts(t))
	if err != nil {
		return 0, wrap("delete requests", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete requests", err)
}
