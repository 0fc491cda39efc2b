package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// AlertStore is the part of the store the alert endpoints need.
type AlertStore interface {
	ListAlerts(ctx context.Context, f bulwark.AlertFilter) (bulwark.Page[bulwark.Alert], error)
	GetAlert(ctx context.Context, id string) (*bulwark.Alert, error)
	SetAlertStatus(ctx context.Context, ids []string, status bulwark.AlertStatus, by, note string) ([]bulwark.Alert, error)
	AddAlertNote(ctx context.Context, id, by, text string) (*bulwark.AlertNote, error)
}

const (
	// maxExportAlerts bounds one export.
	maxExportAlerts = 10000
	// maxBulkAlerts bounds one bulk status change.
	maxBulkAlerts = 500
)

// AlertNote is one remark on an alert.
type AlertNote struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	Text string    `json:"text"`
}

// Alert is a security alert in the triage workflow.
type Alert struct {
	ID          string      `json:"id" doc:"The id of the alert event"`
	Time        time.Time   `json:"time"`
	Severity    string      `json:"severity" enum:"critical,high,medium,low,info"`
	Category    string      `json:"category"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Action      string      `json:"action" enum:"block,monitor,redact," doc:"Action taken; empty when none"`
	User        string      `json:"user"`
	UserEmail   string      `json:"user_email"`
	Group       string      `json:"group"`
	SourceIP    string      `json:"source_ip"`
	Proxy       string      `json:"proxy"`
	Target      string      `json:"target" doc:"Model, tool or upstream the request was for"`
	Policy      string      `json:"policy"`
	RuleID      string      `json:"rule_id"`
	Evidence    string      `json:"evidence" doc:"Masked excerpt of what matched"`
	Status      string      `json:"status" enum:"new,acknowledged,in_progress,resolved,false_positive"`
	StatusBy    string      `json:"status_by,omitempty"`
	StatusAt    *time.Time  `json:"status_at,omitempty"`
	Notes       []AlertNote `json:"notes,omitempty" doc:"Oldest first; only on GET /alerts/{id} and status changes of one alert"`
}

func toAlert(a *bulwark.Alert) Alert {
	out := Alert{ID: a.ID, Time: a.Time, Severity: string(a.Severity), Category: a.Category, Title: a.Title,
		Description: a.Description, Action: string(a.Action), User: a.User, UserEmail: a.UserEmail, Group: a.Group,
		SourceIP: a.SourceIP, Proxy: a.Proxy, Target: a.Target, Policy: a.Policy, RuleID: a.RuleID, Evidence: a.Evidence,
		Status: string(a.Status), StatusBy: a.StatusBy, StatusAt: a.StatusAt}
	for _, n := range a.Notes {
		out.Notes = append(out.Notes, AlertNote(n))
	}
	return out
}

// AlertQuery is the filter of GET /alerts and GET /alerts/export. It is
// exported only because huma reads the query parameters of exported embedded
// structs alone.
type AlertQuery struct {
	Severity string    `query:"severity" enum:"critical,high,medium,low,info," doc:"Minimum severity"`
	Category []string  `query:"category" maxItems:"8" doc:"Categories (comma-separated or repeated); any of them"`
	Status   []string  `query:"status" maxItems:"5" doc:"Statuses (comma-separated or repeated): new, acknowledged, in_progress, resolved, false_positive; any of them"`
	Proxy    string    `query:"proxy" maxLength:"64" doc:"Exact proxy name"`
	Rule     string    `query:"rule" maxLength:"64" doc:"Exact rule id"`
	Since    time.Time `query:"since" doc:"Only alerts at or after this time (RFC 3339)"`
	Until    time.Time `query:"until" doc:"Only alerts before this time (RFC 3339)"`
	Q        string    `query:"q" maxLength:"200" doc:"Free text over title, description, evidence, user, proxy and rule id"`
	Sort     string    `query:"sort" enum:"-time,time,-severity,severity,status,-status,category,-category,proxy,-proxy," doc:"Order: a column for ascending, -column for descending; default -time (newest first). Status sorts in workflow order."`
}

func (in *AlertQuery) filter() (bulwark.AlertFilter, error) {
	var fe []bulwark.FieldError
	for _, f := range []struct{ name, v string }{{"proxy", in.Proxy}, {"rule", in.Rule}, {"q", in.Q}} {
		if bulwark.ContainsControl(f.v) {
			fe = append(fe, bulwark.FieldError{Field: f.name, Message: "must not contain control characters"})
		}
	}
	f := bulwark.AlertFilter{MinSeverity: bulwark.Severity(in.Severity), Proxy: in.Proxy, RuleID: in.Rule,
		Since: in.Since, Until: in.Until, Query: in.Q, Sort: in.Sort}
	for i, c := range in.Category {
		if c == "" || len(c) > 64 || bulwark.ContainsControl(c) {
			fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("category[%d]", i), Message: "is not a valid category"})
		}
		f.Categories = append(f.Categories, c)
	}
	for i, st := range in.Status {
		if !bulwark.AlertStatus(st).Valid() {
			fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("status[%d]", i), Message: fmt.Sprintf("%q is not an alert status", st)})
		}
		f.Statuses = append(f.Statuses, bulwark.AlertStatus(st))
	}
	if !in.Since.IsZero() && !in.Until.IsZero() && !in.Until.After(in.Since) {
		fe = append(fe, bulwark.FieldError{Field: "until", Message: "must be after since"})
	}
	return f, bulwark.ValidationError(fe)
}

type alertListInput struct {
	AlertQuery
	Limit  int `query:"limit" minimum:"1" maximum:"500" default:"50"`
	Offset int `query:"offset" minimum:"0" maximum:"1000000" default:"0"`
}

type alertListOutput struct {
	Body struct {
		Items  []Alert `json:"items"`
		Total  int     `json:"total" doc:"Alerts matching the filters"`
		Limit  int     `json:"limit"`
		Offset int     `json:"offset"`
	}
}

type alertIDInput struct {
	ID string `path:"id" minLength:"1" maxLength:"64"`
}

type alertOutput struct {
	Body Alert
}

type alertStatusBody struct {
	Status string `json:"status" enum:"acknowledged,in_progress,resolved,false_positive" doc:"The new status"`
	Note   string `json:"note,omitempty" maxLength:"4000" doc:"Optional note added to each alert"`
}

type alertStatusInput struct {
	ID   string `path:"id" minLength:"1" maxLength:"64"`
	Body alertStatusBody
}

type alertBulkStatusInput struct {
	Body struct {
		IDs    []string `json:"ids" minItems:"1" maxItems:"500" doc:"The alerts to change; all or none change"`
		Status string   `json:"status" enum:"acknowledged,in_progress,resolved,false_positive" doc:"The new status"`
		Note   string   `json:"note,omitempty" maxLength:"4000" doc:"Optional note added to each alert"`
	}
}

type alertBulkStatusOutput struct {
	Body struct {
		Items []Alert `json:"items" doc:"The changed alerts, in the order of ids"`
	}
}

type alertNoteInput struct {
	ID   string `path:"id" minLength:"1" maxLength:"64"`
	Body struct {
		Text string `json:"text" minLength:"1" maxLength:"4000"`
	}
}

type alertNoteOutput struct {
	Body AlertNote
}

type alertExportInput struct {
	AlertQuery
	Format string `query:"format" enum:"csv,json" default:"csv" doc:"csv (RFC 4180, header row) or json (an array)"`
	Limit  int    `query:"limit" minimum:"1" maximum:"10000" default:"10000" doc:"At most this many alerts, in the listing's order"`
}

type alertExportOutput struct {
	ContentType        string `header:"Content-Type"`
	ContentDisposition string `header:"Content-Disposition"`
	Body               []byte
}

// alertStore returns the alert store, or a 503.
func (s *Server) alertStore() (AlertStore, error) {
	if s.o.Alerts == nil {
		return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "alerts are not available on this server"}
	}
	return s.o.Alerts, nil
}

func checkAlertID(id string) error {
	if bulwark.ContainsControl(id) {
		return bulwark.ValidationError([]bulwark.FieldError{{Field: "id", Message: "must not contain control characters"}})
	}
	return nil
}

func checkNoteText(field, text string) error {
	if bulwark.ContainsControl(strings.NewReplacer("\n", "", "\t", "", "\r", "").Replace(text)) {
		return bulwark.ValidationError([]bulwark.FieldError{{Field: field, Message: "must not contain control characters other than line breaks and tabs"}})
	}
	return nil
}

func (s *Server) alertRoutes() {
	tags := []string{"Alerts"}

	register(s, huma.Operation{
		OperationID: "alerts.list", Method: http.MethodGet, Path: "/alerts", Tags: tags, Summary: "List alerts",
		Description: "Security alerts, newest first unless sort says otherwise, filtered and paginated. Notes are only on GET /alerts/{id}.",
		Errors:      []int{http.StatusServiceUnavailable},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *alertListInput) (*alertListOutput, error) {
		st, err := s.alertStore()
		if err != nil {
			return nil, err
		}
		f, err := in.filter()
		if err != nil {
			return nil, err
		}
		f.Limit, f.Offset = in.Limit, in.Offset
		page, err := st.ListAlerts(ctx, f)
		if err != nil {
			return nil, err
		}
		out := &alertListOutput{}
		out.Body.Items = make([]Alert, 0, len(page.Items))
		for i := range page.Items {
			out.Body.Items = append(out.Body.Items, toAlert(&page.Items[i]))
		}
		out.Body.Total, out.Body.Limit, out.Body.Offset = page.Total, in.Limit, in.Offset
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "alerts.export", Method: http.MethodGet, Path: "/alerts/export", Tags: tags, Summary: "Export alerts",
		Description: "The alerts matching the same filters as GET /alerts, as a CSV file (RFC 4180 with a header row; cells " +
			"starting with =, +, -, @, tab or carriage return are prefixed with ' so spreadsheets do not run them as formulas) " +
			"or a JSON array. Notes are not included.",
		Errors: []int{http.StatusServiceUnavailable},
		Responses: map[string]*huma.Response{"200": {Description: "The export", Content: map[string]*huma.MediaType{
			"text/csv": {Schema: &huma.Schema{Type: "string"}}, "application/json": {Schema: &huma.Schema{Type: "array", Items: &huma.Schema{Ref: "#/components/schemas/Alert"}}},
		}}},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *alertExportInput) (*alertExportOutput, error) {
		st, err := s.alertStore()
		if err != nil {
			return nil, err
		}
		f, err := in.filter()
		if err != nil {
			return nil, err
		}
		limit := in.Limit
		if limit <= 0 || limit > maxExportAlerts {
			limit = maxExportAlerts
		}
		items := make([]Alert, 0)
		for len(items) < limit {
			f.Offset, f.Limit = len(items), min(500, limit-len(items))
			page, err := st.ListAlerts(ctx, f)
			if err != nil {
				return nil, err
			}
			for i := range page.Items {
				items = append(items, toAlert(&page.Items[i]))
			}
			if len(page.Items) < f.Limit {
				break
			}
		}
		stamp := s.now().UTC().Format("20060102-150405")
		out := &alertExportOutput{}
		if in.Format == "json" {
			out.ContentType = "application/json"
			out.ContentDisposition = `attachment; filename="alerts-` + stamp + `.json"`
			out.Body, err = json.Marshal(items)
			return out, err
		}
		out.ContentType = "text/csv; charset=utf-8"
		out.ContentDisposition = `attachment; filename="alerts-` + stamp + `.csv"`
		out.Body, err = alertsCSV(items)
		return out, err
	})

	register(s, huma.Operation{
		OperationID: "alerts.get", Method: http.MethodGet, Path: "/alerts/{id}", Tags: tags, Summary: "Get an alert",
		Description: "The alert with its notes, oldest first.",
		Errors:      []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *alertIDInput) (*alertOutput, error) {
		st, err := s.alertStore()
		if err != nil {
			return nil, err
		}
		if err := checkAlertID(in.ID); err != nil {
			return nil, err
		}
		a, err := st.GetAlert(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &alertOutput{Body: toAlert(a)}, nil
	})

	register(s, huma.Operation{
		OperationID: "alerts.set_status", Method: http.MethodPut, Path: "/alerts/{id}/status", Tags: tags, Summary: "Change an alert's status",
		Description: "Moves the alert along new → acknowledged → in_progress → resolved | false_positive (steps may be skipped); " +
			"resolved and false_positive may be swapped or reopened to in_progress. Any other move, including to the current " +
			"status, is refused with 409. The note, when given, is added to the alert. Audited as alert.status.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *alertStatusInput) (*alertOutput, error) {
		st, err := s.alertStore()
		if err != nil {
			return nil, err
		}
		if err := checkAlertID(in.ID); err != nil {
			return nil, err
		}
		if err := checkNoteText("note", in.Body.Note); err != nil {
			return nil, err
		}
		if _, err := s.setAlertStatus(ctx, st, pr, []string{in.ID}, in.Body.Status, in.Body.Note); err != nil {
			return nil, err
		}
		a, err := st.GetAlert(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &alertOutput{Body: toAlert(a)}, nil
	})

	register(s, huma.Operation{
		OperationID: "alerts.bulk_status", Method: http.MethodPost, Path: "/alerts/status", Tags: tags, Summary: "Change the status of several alerts",
		Description: "Moves every listed alert to the status in one transaction, following the moves of PUT /alerts/{id}/status: " +
			"when one alert is unknown (404) or may not make the move (409), none changes. Audited as one alert.status per alert.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *alertBulkStatusInput) (*alertBulkStatusOutput, error) {
		st, err := s.alertStore()
		if err != nil {
			return nil, err
		}
		var fe []bulwark.FieldError
		seen := map[string]bool{}
		for i, id := range in.Body.IDs {
			switch {
			case id == "" || len(id) > 64 || bulwark.ContainsControl(id):
				fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("ids[%d]", i), Message: "is not a valid alert id"})
			case seen[id]:
				fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("ids[%d]", i), Message: fmt.Sprintf("alert %q is listed twice", id)})
			}
			seen[id] = true
		}
		if len(in.Body.IDs) > maxBulkAlerts {
			fe = append(fe, bulwark.FieldError{Field: "ids", Message: fmt.Sprintf("at most %d alerts at once", maxBulkAlerts)})
		}
		if err := bulwark.ValidationError(fe); err != nil {
			return nil, err
		}
		if err := checkNoteText("note", in.Body.Note); err != nil {
			return nil, err
		}
		changed, err := s.setAlertStatus(ctx, st, pr, in.Body.IDs, in.Body.Status, in.Body.Note)
		if err != nil {
			return nil, err
		}
		out := &alertBulkStatusOutput{}
		out.Body.Items = make([]Alert, 0, len(changed))
		for i := range changed {
			out.Body.Items = append(out.Body.Items, toAlert(&changed[i]))
		}
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "alerts.add_note", Method: http.MethodPost, Path: "/alerts/{id}/notes", Tags: tags, Summary: "Add a note to an alert",
		Description: "Appends a note signed with your username. Audited as alert.note.", DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, operator, func(ctx context.Context, pr *auth.Principal, in *alertNoteInput) (*alertNoteOutput, error) {
		st, err := s.alertStore()
		if err != nil {
			return nil, err
		}
		if err := checkAlertID(in.ID); err != nil {
			return nil, err
		}
		if strings.TrimSpace(in.Body.Text) == "" {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "text", Message: "must not be empty"}})
		}
		if err := checkNoteText("text", in.Body.Text); err != nil {
			return nil, err
		}
		n, err := st.AddAlertNote(ctx, in.ID, pr.User.Username, in.Body.Text)
		if err != nil {
			return nil, err
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "alert.note", "alert", in.ID, bulwark.ResultSuccess,
			map[string]any{"length": len(in.Body.Text)})
		return &alertNoteOutput{Body: AlertNote(*n)}, nil
	})
}

// setAlertStatus changes the status and audits one alert.status per alert.
func (s *Server) setAlertStatus(ctx context.Context, st AlertStore, pr *auth.Principal, ids []string, status, note string) ([]bulwark.Alert, error) {
	prev := make(map[string]bulwark.AlertStatus, len(ids))
	for _, id := range ids {
		if a, err := st.GetAlert(ctx, id); err == nil {
			prev[id] = a.Status
		}
	}
	changed, err := st.SetAlertStatus(ctx, ids, bulwark.AlertStatus(status), pr.User.Username, note)
	if err != nil {
		return nil, err
	}
	for _, a := range changed {
		details := map[string]any{"status": a.Status, "note": note != ""}
		if p, ok := prev[a.ID]; ok {
			details["previous_status"] = p
		}
		if len(ids) > 1 {
			details["bulk"] = len(ids)
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "alert.status", "alert", a.ID, bulwark.ResultSuccess, details)
	}
	return changed, nil
}

var alertCSVHeader = []string{"id", "time", "severity", "category", "title", "description", "action", "user", "user_email",
	"group", "source_ip", "proxy", "target", "policy", "rule_id", "evidence", "status", "status_by", "status_at"}

// alertsCSV writes alerts as RFC 4180 CSV (CRLF line ends, quoted where
// needed) with a header row, neutralising spreadsheet formulas.
func alertsCSV(items []Alert) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.Write(alertCSVHeader); err != nil {
		return nil, err
	}
	for _, a := range items {
		statusAt := ""
		if a.StatusAt != nil {
			statusAt = a.StatusAt.UTC().Format(time.RFC3339Nano)
		}
		row := []string{a.ID, a.Time.UTC().Format(time.RFC3339Nano), a.Severity, a.Category, a.Title, a.Description, a.Action,
			a.User, a.UserEmail, a.Group, a.SourceIP, a.Proxy, a.Target, a.Policy, a.RuleID, a.Evidence, a.Status, a.StatusBy, statusAt}
		for i, v := range row {
			row[i] = csvSafe(v)
		}
		if err := w.Write(row); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// csvSafe prefixes a cell a spreadsheet would read as a formula with a quote.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
