package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// recorder writes request records in batches off the request path, and
// publishes events that arise where publishing inline is not possible
// (under a lock, or from a status change). Nothing is dropped: when the
// queue is full the caller writes synchronously.
type recorder struct {
	g      *Gateway
	recs   chan *bulwark.RequestRecord
	events chan bulwark.Event
	quit   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

const (
	recordBatch = 256
	recordEvery = 200 * time.Millisecond
)

func newRecorder(g *Gateway) *recorder {
	return &recorder{g: g, recs: make(chan *bulwark.RequestRecord, 8192), events: make(chan bulwark.Event, 1024), quit: make(chan struct{})}
}

func (r *recorder) start() {
	r.wg.Add(2)
	go r.recordLoop()
	go r.eventLoop()
}

// add queues a record.
func (r *recorder) add(rec *bulwark.RequestRecord) {
	select {
	case r.recs <- rec:
	default:
		r.write([]*bulwark.RequestRecord{rec})
	}
}

// publish queues an event; it never blocks the caller for long.
func (r *recorder) publish(ev bulwark.Event) {
	if r.g.o.Events == nil {
		return
	}
	select {
	case r.events <- ev:
	default:
		go r.publishNow(ev)
	}
}

func (r *recorder) recordLoop() {
	defer r.wg.Done()
	t := time.NewTicker(recordEvery)
	defer t.Stop()
	batch := make([]*bulwark.RequestRecord, 0, recordBatch)
	flush := func() {
		if len(batch) > 0 {
			r.write(batch)
			batch = make([]*bulwark.RequestRecord, 0, recordBatch)
		}
	}
	for {
		select {
		case rec := <-r.recs:
			batch = append(batch, rec)
			if len(batch) >= recordBatch {
				flush()
			}
		case <-t.C:
			flush()
		case <-r.quit:
			for {
				select {
				case rec := <-r.recs:
					batch = append(batch, rec)
				default:
					flush()
					return
				}
			}
		}
	}
}

// write stores a batch, retrying a few times: the request log feeds
// budgets, so it is not given up lightly.
func (r *recorder) write(batch []*bulwark.RequestRecord) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.g.o.Store.RecordRequests(ctx, batch)
		cancel()
		if err == nil {
			for _, rec := range batch {
				if rec.GroupID != 0 && !rec.BudgetPeriod.IsZero() && rec.CostUSD != 0 {
					r.g.ledger.Stored(rec.GroupID, rec.BudgetPeriod, rec.CostUSD)
				}
			}
			return
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	r.g.metrics.recordErrors.Add(float64(len(batch)))
	r.g.log.Error("request records could not be stored", "records", len(batch), "err", err)
}

// batchPublisher stores several events in one transaction (*events.Bus).
type batchPublisher interface {
	PublishBatch(ctx context.Context, evs []bulwark.Event) ([]bulwark.Event, error)
}

// eventBatch bounds how many queued events one transaction stores.
const eventBatch = 256

func (r *recorder) eventLoop() {
	defer r.wg.Done()
	batch := make([]bulwark.Event, 0, eventBatch)
	// take adds what else is queued right now, so a burst of alerts is
	// stored in a few transactions rather than one each.
	take := func(first bulwark.Event) []bulwark.Event {
		batch = append(batch[:0], first)
		for len(batch) < eventBatch {
			select {
			case ev := <-r.events:
				batch = append(batch, ev)
			default:
				return batch
			}
		}
		return batch
	}
	for {
		select {
		case ev := <-r.events:
			r.publishAll(take(ev))
		case <-r.quit:
			for {
				select {
				case ev := <-r.events:
					r.publishAll(take(ev))
				default:
					return
				}
			}
		}
	}
}

// publishAll stores evs together when the publisher can, retrying a few
// times; alerts are not given up lightly.
func (r *recorder) publishAll(evs []bulwark.Event) {
	bp, ok := r.g.o.Events.(batchPublisher)
	if !ok || len(evs) == 1 {
		for _, ev := range evs {
			r.publishNow(ev)
		}
		return
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = bp.PublishBatch(ctx, evs)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	// One bad event must not take the others down with it.
	r.g.log.Warn("events could not be stored together; storing them one by one", "count", len(evs), "err", err)
	for _, ev := range evs {
		r.publishNow(ev)
	}
}

func (r *recorder) publishNow(ev bulwark.Event) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = r.g.o.Events.Publish(ctx, ev)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	r.g.log.Error("event could not be stored", "action", ev.Action, "subject", ev.Subject, "err", err)
}

// stop flushes what is queued.
func (r *recorder) stop(ctx context.Context) error {
	r.once.Do(func() { close(r.quit) })
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
