package bulwark

import (
	"context"
	"time"
)

// Delivery statuses of an outbox row.
const (
	DeliveryPending   = "pending"   // queued or waiting for a retry
	DeliveryDelivered = "delivered" // accepted by the receiver (the newest are kept for inspection)
	DeliveryDead      = "dead"      // dead letter: refused, kept until retried
)

// DeliveryStatuses lists every delivery status.
var DeliveryStatuses = []string{DeliveryPending, DeliveryDelivered, DeliveryDead}

// Delivery is one outbox row of an integration with a summary of its event.
type Delivery struct {
	ID          int64 // outbox row
	EventID     string
	EventTime   time.Time
	Type        EventType
	Action      string
	Severity    Severity
	Subject     string
	Status      string // DeliveryPending, DeliveryDelivered or DeliveryDead
	Attempts    int
	LastError   string
	NextAttempt time.Time // pending: when it is due
	CreatedAt   time.Time // queued
	UpdatedAt   time.Time
}

// DeliveryFilter selects one sink's deliveries; "" Status means all.
type DeliveryFilter struct {
	Sink   string
	Status string
	Limit  int
	Offset int
}

// DeliveryStore inspects and retries an integration's outbox.
type DeliveryStore interface {
	// ListDeliveries returns f.Sink's outbox rows, newest first.
	ListDeliveries(ctx context.Context, f DeliveryFilter) (Page[Delivery], error)
	// RetryDeadDeliveries puts sink's dead letters with ids (all of them
	// when ids is empty) back in the queue, due now with no attempts, and
	// returns how many it moved. Ids that are not sink's dead letters are
	// ignored.
	RetryDeadDeliveries(ctx context.Context, sink string, ids []int64) (int, error)
	// OldestPendingOutbox is when sink's oldest pending row was queued
	// (ok false when none is pending).
	OldestPendingOutbox(ctx context.Context, sink string) (queued time.Time, ok bool, err error)
}
