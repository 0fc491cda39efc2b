package api

import (
	"context"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/danielgtaylor/huma/v2"
)

type integrationKindsOutput struct {
	Body struct {
		Items []integrations.KindInfo `json:"items"`
	}
}

// Delivery is one queued, delivered or dead-lettered event of an
// integration.
type Delivery struct {
	ID          int64      `json:"id" doc:"Outbox row; the id to retry"`
	EventID     string     `json:"event_id"`
	EventTime   time.Time  `json:"event_time"`
	Type        string     `json:"type"`
	Action      string     `json:"action"`
	Severity    string     `json:"severity"`
	Subject     string     `json:"subject"`
	Status      string     `json:"status" enum:"pending,delivered,dead" doc:"pending: queued or waiting for a retry; delivered: accepted by the receiver; dead: refused, kept until retried"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty" doc:"The receiver's last error"`
	NextAttempt *time.Time `json:"next_attempt,omitempty" doc:"When a pending delivery is due"`
	CreatedAt   time.Time  `json:"created_at" doc:"Queued"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

type deliveryListInput struct {
	ID     int64  `path:"id" minimum:"1"`
	Status string `query:"status" enum:"pending,delivered,dead," doc:"Only deliveries in this state; empty: all"`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50"`
	Offset int    `query:"offset" minimum:"0" maximum:"1000000" default:"0"`
}

type deliveryListOutput struct {
	Body struct {
		Items  []Delivery `json:"items"`
		Total  int        `json:"total"`
		Limit  int        `json:"limit"`
		Offset int        `json:"offset"`
	}
}

type deliveryRetryInput struct {
	ID   int64 `path:"id" minimum:"1"`
	Body struct {
		IDs []int64 `json:"ids,omitempty" maxItems:"1000" doc:"Dead letters to retry (ids from the deliveries listing)"`
		All bool    `json:"all,omitempty" doc:"Retry every dead letter of the integration"`
	}
}

type deliveryRetryOutput struct {
	Body struct {
		Retried int `json:"retried" doc:"Dead letters queued again"`
	}
}

func toDelivery(d *bulwark.Delivery) Delivery {
	out := Delivery{ID: d.ID, EventID: d.EventID, EventTime: d.EventTime, Type: string(d.Type), Action: d.Action,
		Severity: string(d.Severity), Subject: d.Subject, Status: d.Status, Attempts: d.Attempts, LastError: d.LastError,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if d.Status == bulwark.DeliveryPending {
		out.NextAttempt = timePtr(d.NextAttempt)
	}
	return out
}

func (s *Server) deliveryStore() (bulwark.DeliveryStore, error) {
	if s.o.Deliveries == nil {
		return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "delivery records are not available on this server"}
	}
	return s.o.Deliveries, nil
}

func (s *Server) deliveryRoutes() {
	tags := []string{"Integrations"}

	register(s, huma.Operation{
		OperationID: "integrations.kinds", Method: http.MethodGet, Path: "/integrations/kinds", Tags: tags, Summary: "Integration kinds",
		Description: "Every kind with its settings and secret fields (name, type, required, options, help), read from the sink's " +
			"configuration: what the console's forms are drawn from. Dotted names are fields of nested objects.",
	}, viewer, func(_ context.Context, _ *auth.Principal, _ *struct{}) (*integrationKindsOutput, error) {
		out := &integrationKindsOutput{}
		out.Body.Items = integrations.Describe()
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "integrations.deliveries", Method: http.MethodGet, Path: "/integrations/{id}/deliveries", Tags: tags,
		Summary: "List an integration's deliveries",
		Description: "The integration's queued (pending), recently delivered (the newest 100 are kept) and dead-lettered events, " +
			"newest first, with attempts and the receiver's last error. Admins only: the subjects describe security events.",
		Errors: []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}, admin, func(ctx context.Context, _ *auth.Principal, in *deliveryListInput) (*deliveryListOutput, error) {
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		ds, err := s.deliveryStore()
		if err != nil {
			return nil, err
		}
		i, err := st.GetIntegration(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		page, err := ds.ListDeliveries(ctx, bulwark.DeliveryFilter{Sink: i.Name, Status: in.Status, Limit: in.Limit, Offset: in.Offset})
		if err != nil {
			return nil, err
		}
		out := &deliveryListOutput{}
		out.Body.Items = make([]Delivery, 0, len(page.Items))
		for n := range page.Items {
			out.Body.Items = append(out.Body.Items, toDelivery(&page.Items[n]))
		}
		out.Body.Total, out.Body.Limit, out.Body.Offset = page.Total, in.Limit, in.Offset
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "integrations.retry", Method: http.MethodPost, Path: "/integrations/{id}/deliveries/retry", Tags: tags,
		Summary: "Retry dead letters",
		Description: "Queues the integration's dead letters with the given ids (or all of them with all: true) again, due now with " +
			"the attempts reset; the dispatcher delivers them within a second when the integration is enabled. Ids that are not " +
			"this integration's dead letters are ignored. Audited as integration.retry.",
		Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, admin, func(ctx context.Context, pr *auth.Principal, in *deliveryRetryInput) (*deliveryRetryOutput, error) {
		if in.Body.All == (len(in.Body.IDs) > 0) {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "ids", Message: "send the ids of dead letters, or all: true, not both"}})
		}
		st, err := s.integrationStore()
		if err != nil {
			return nil, err
		}
		ds, err := s.deliveryStore()
		if err != nil {
			return nil, err
		}
		i, err := st.GetIntegration(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		n, err := ds.RetryDeadDeliveries(ctx, i.Name, in.Body.IDs)
		if err != nil {
			return nil, err
		}
		details := map[string]any{"kind": i.Kind, "retried": n, "all": in.Body.All}
		if !in.Body.All {
			details["ids"] = in.Body.IDs
		}
		s.audit(ctx, pr.User.Username, pr.User.ID, "integration.retry", "integration", i.Name, bulwark.ResultSuccess, details)
		out := &deliveryRetryOutput{}
		out.Body.Retried = n
		return out, nil
	})
}
