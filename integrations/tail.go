package integrations

import (
	"context"
	"errors"
	"reflect"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/langfuse"
)

// tailKind is what Build returns for a kind that follows the request log
// instead of receiving events (Langfuse): its validated configuration,
// ready to start. The Manager runs it as a tailer and never hands it to
// the dispatcher or the bus, so it gets no route and no outbox rows; it is
// an events.Sink only to fit the kinds registry.
type tailKind struct {
	name  string
	start func(o langfuse.TailOptions) (*langfuse.Tailer, error)
}

func (t *tailKind) Name() string  { return t.name }
func (t *tailKind) MaxBatch() int { return 1 }

func (t *tailKind) Deliver(context.Context, []bulwark.Event) error {
	return &events.DeliveryError{Permanent: true, Err: errors.New("integration " + t.name + " follows the request log and takes no events")}
}

// langfuseTail is the Langfuse kind's constructor: strict decoding and
// Validate as for sinks, then a tailer waiting for the Manager's options.
var langfuseTail = constructor{config: reflect.TypeFor[langfuse.Config](), fn: func(raw []byte) (events.Sink, error) {
	var c langfuse.Config
	if err := decode(raw, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &tailKind{name: c.Name, start: func(o langfuse.TailOptions) (*langfuse.Tailer, error) { return langfuse.NewTailer(c, o) }}, nil
}}
