package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// DashboardStore is the aggregate query behind GET /dashboard.
type DashboardStore interface {
	CountEvents(ctx context.Context, bounds []time.Time) ([]bulwark.EventCount, error)
}

// SeverityCounts counts alerts by severity.
type SeverityCounts struct {
	Critical int64 `json:"critical"`
	High     int64 `json:"high"`
	Medium   int64 `json:"medium"`
	Low      int64 `json:"low"`
}

func (c *SeverityCounts) add(s bulwark.Severity, n int64) {
	switch s {
	case bulwark.SeverityCritical:
		c.Critical += n
	case bulwark.SeverityHigh:
		c.High += n
	case bulwark.SeverityMedium:
		c.Medium += n
	case bulwark.SeverityLow:
		c.Low += n
	}
}

// DashboardCounts are the figures of one bucket, or of the whole range.
type DashboardCounts struct {
	Requests     int64          `json:"requests" doc:"Requests through the proxies (events of type request)"`
	Blocked      int64          `json:"blocked" doc:"Requests and alerts whose verdict was block"`
	Alerts       int64          `json:"alerts" doc:"Security alerts (events of type alert)"`
	AlertsBy     SeverityCounts `json:"alerts_by_severity"`
	LoginsOK     int64          `json:"logins_ok" doc:"Successful console logins"`
	LoginsFailed int64          `json:"logins_failed" doc:"Failed or throttled console logins"`
	Events       int64          `json:"events" doc:"Every event on the event path"`
}

func (c *DashboardCounts) add(ec bulwark.EventCount) {
	n := ec.Count
	c.Events += n
	switch ec.Type {
	case bulwark.EventRequest:
		c.Requests += n
	case bulwark.EventAlert:
		c.Alerts += n
		c.AlertsBy.add(ec.Severity, n)
	}
	if ec.Action == bulwark.ActionBlocked || strings.HasSuffix(ec.Action, "."+bulwark.ActionBlocked) {
		c.Blocked += n
	}
	if ec.Action == "auth.login" {
		// The audit path grades a successful login info and a failed,
		// throttled or refused one low or higher.
		if ec.Severity == bulwark.SeverityInfo {
			c.LoginsOK += n
		} else {
			c.LoginsFailed += n
		}
	}
}

// DashboardBucket is one point of the time series.
type DashboardBucket struct {
	Start time.Time `json:"start"`
	DashboardCounts
}

type dashboardInput struct {
	Range string `query:"range" enum:"24h,7d,30d" default:"24h" doc:"Window: 24h (hourly buckets), 7d (6-hour buckets) or 30d (daily buckets)"`
}

type dashboardOutput struct {
	Body struct {
		Range       string            `json:"range"`
		StepSeconds int64             `json:"step_seconds"`
		From        time.Time         `json:"from"`
		To          time.Time         `json:"to"`
		Totals      DashboardCounts   `json:"totals"`
		Series      []DashboardBucket `json:"series"`
		RecentAudit []AuditEntry      `json:"recent_audit" doc:"The ten newest audit entries"`
	}
}

func (s *Server) dashboardRoutes() {
	register(s, huma.Operation{
		OperationID: "dashboard.get", Method: http.MethodGet, Path: "/dashboard", Tags: []string{"Dashboard"},
		Summary:     "Dashboard summary",
		Description: "Totals and a time series of requests, blocks, alerts by severity and logins, counted from the stored events, and the newest audit entries.",
		Errors:      []int{http.StatusUnprocessableEntity},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *dashboardInput) (*dashboardOutput, error) {
		if s.o.Dashboard == nil {
			return nil, bulwark.Errorf(bulwark.CodeUnavailable, "the dashboard is not available with this store")
		}
		r := bulwark.DashboardRange(in.Range)
		step, _, err := r.Step()
		if err != nil {
			return nil, err
		}
		bounds, err := r.Bounds(s.o.Auth.Now())
		if err != nil {
			return nil, err
		}
		counts, err := s.o.Dashboard.CountEvents(ctx, bounds)
		if err != nil {
			return nil, err
		}
		recent, err := s.o.Store.ListAudit(ctx, bulwark.AuditFilter{Limit: 10})
		if err != nil {
			return nil, err
		}
		out := &dashboardOutput{}
		b := &out.Body
		b.Range, b.StepSeconds, b.From, b.To = in.Range, int64(step/time.Second), bounds[0], bounds[len(bounds)-1]
		b.Series = make([]DashboardBucket, len(bounds)-1)
		for i := range b.Series {
			b.Series[i].Start = bounds[i]
		}
		for _, c := range counts {
			if c.Bucket < 0 || c.Bucket >= len(b.Series) {
				continue
			}
			b.Series[c.Bucket].add(c)
			b.Totals.add(c)
		}
		b.RecentAudit = make([]AuditEntry, 0, len(recent.Items))
		for i := range recent.Items {
			b.RecentAudit = append(b.RecentAudit, toAudit(&recent.Items[i]))
		}
		return out, nil
	})
}
