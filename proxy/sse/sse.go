// Package sse reads and writes Server-Sent Events streams as specified by
// the WHATWG HTML standard (§9.2 "Server-sent events").
//
// It owns the framing only: splitting a byte stream into events, keeping
// each event's exact bytes so a proxy can forward what it does not change,
// and encoding events it does change. What the data means (OpenAI or
// Anthropic chunks) belongs to proxy/llm.
package sse

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// DefaultMaxEventSize is the default limit on the raw size of one event.
const DefaultMaxEventSize = 1 << 20

// ErrEventTooLarge is returned when one event (its raw bytes, terminating
// blank line included) grows beyond the reader's limit. The reader is
// unusable afterwards: the rest of the stream cannot be framed reliably.
var ErrEventTooLarge = errors.New("sse: event exceeds the maximum event size")

// Event is one event of a stream.
type Event struct {
	// Event is the value of the event field ("" when the event has none;
	// a browser would dispatch it as "message").
	Event string
	// Data is the data buffer: the values of all data fields joined with
	// "\n".
	Data string
	// ID is the last event ID as the spec defines it: the value of the most
	// recent id field in the stream so far, this event's or an earlier one's.
	ID string
	// Retry is the reconnection time in milliseconds from a retry field of
	// this event, 0 when it has none (so "retry: 0" is only kept in Raw).
	Retry int
	// Raw holds the exact bytes the event was read from, from the end of the
	// previous event up to and including the terminating blank line: comments,
	// stray blank lines and the byte order mark of the first event included.
	// Concatenating the Raw of every event gives back the stream. Raw is
	// owned by the Event; the Reader does not reuse it.
	Raw []byte
}

// Reader reads events from a stream.
//
// Next returns an event as soon as its terminating blank line has been
// read, without reading further: a proxy that forwards event by event never
// delays an event until the next one arrives. A CR at the end of the bytes
// read so far ends the line at once; an LF that follows it in a later read
// is taken as the rest of that CRLF.
//
// Unlike a browser, Next also returns blocks that carry no data field, such
// as ": keep-alive" comments, with an empty Data, so that forwarding Raw
// keeps the upstream's keep-alives flowing to the client.
type Reader struct {
	r   io.Reader
	max int

	buf        []byte // read buffer; buf[start:end] is unconsumed
	start, end int
	rerr       error // error from r, reported once the buffer is drained
	scanned    int   // bytes after start known to hold no line break

	raw      []byte // bytes of the event being read
	data     []byte // data buffer
	event    string
	lastID   string
	retry    int
	inEvent  bool // a non-blank line of the current event has been read
	skipLF   bool // the previous line ended with CR: a leading LF belongs to it
	bomDone  bool
	err      error // sticky error
	lastName string
}

// NewReader returns a Reader of r with the default maximum event size.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r, max: DefaultMaxEventSize, buf: make([]byte, 4096)}
}

// SetMaxEventSize sets the maximum raw size of one event; n <= 0 restores
// the default.
func (r *Reader) SetMaxEventSize(n int) {
	if n <= 0 {
		n = DefaultMaxEventSize
	}
	r.max = n
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// Next returns the next event. At the end of the stream it returns io.EOF,
// or io.ErrUnexpectedEOF when the stream ended inside an event (the spec
// discards such an event; the error lets a proxy tell a cut stream from a
// finished one). Errors are sticky.
func (r *Reader) Next() (*Event, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		line, ok, err := r.readLine()
		if err != nil {
			r.err = err
			return nil, err
		}
		if !ok {
			continue
		}
		if len(line) == 0 {
			if !r.inEvent {
				continue // a stray blank line: nothing to dispatch
			}
			return r.dispatch(), nil
		}
		r.inEvent = true
		r.field(line)
	}
}

// readLine returns the next line without its terminator and appends the
// line with its terminator to r.raw. ok is false when it had to read more
// input first (the caller loops).
func (r *Reader) readLine() (line []byte, ok bool, err error) {
	b := r.buf[r.start:r.end]
	if !r.bomDone {
		if len(b) < len(bom) && bytes.HasPrefix(bom, b) && r.rerr == nil {
			return nil, false, r.fill()
		}
		r.bomDone = true
		if bytes.HasPrefix(b, bom) {
			r.raw = append(r.raw, bom...)
			r.start += len(bom)
			b = b[len(bom):]
		}
	}
	if r.skipLF && len(b) > 0 {
		r.skipLF = false
		if b[0] == '\n' {
			r.raw = append(r.raw, '\n')
			r.start++
			b = b[1:]
		}
	}
	// Remember how far a partial line was searched, so that a long line
	// arriving in small reads is not searched again from its start.
	i := bytes.IndexAny(b[min(r.scanned, len(b)):], "\r\n")
	if i < 0 {
		if len(r.raw)+len(b) > r.max {
			return nil, false, ErrEventTooLarge
		}
		r.scanned = len(b)
		return nil, false, r.fill()
	}
	i += min(r.scanned, len(b))
	r.scanned = 0
	n := i + 1
	if b[i] == '\r' {
		if i+1 < len(b) {
			if b[i+1] == '\n' {
				n++
			}
		} else {
			r.skipLF = true
		}
	}
	if len(r.raw)+n > r.max {
		return nil, false, ErrEventTooLarge
	}
	r.raw = append(r.raw, b[:n]...)
	r.start += n
	// The line is returned from r.raw, which holds it until the next dispatch.
	l := r.raw[len(r.raw)-n : len(r.raw)-n+i]
	return l, true, nil
}

// fill reads more input into the buffer, growing it when full.
func (r *Reader) fill() error {
	if r.rerr != nil {
		if r.rerr != io.EOF { //nolint:errorlint // io.EOF is returned unwrapped by contract
			return r.rerr
		}
		if r.inEvent || r.end > r.start {
			return io.ErrUnexpectedEOF
		}
		return io.EOF
	}
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if r.end == len(r.buf) {
		nb := make([]byte, 2*len(r.buf))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	r.read()
	return nil
}

// read reads once into the free end of the buffer. A read error is kept
// in r.rerr until the bytes read with it have been handed out.
func (r *Reader) read() {
	// Retry empty reads, which io.Reader allows (0, nil), a few times.
	for range 100 {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		r.rerr = err
		if n > 0 || err != nil {
			return
		}
	}
	r.rerr = io.ErrNoProgress
}

// field interprets one non-blank line.
func (r *Reader) field(line []byte) {
	if line[0] == ':' {
		return // comment
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		// Streams repeat a few event names; reuse the last string.
		if string(value) != r.lastName {
			r.lastName = string(value)
		}
		r.event = r.lastName
	case "data":
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			r.lastID = string(value)
		}
	case "retry":
		if len(value) > 0 && allDigits(value) {
			if n, err := strconv.Atoi(string(value)); err == nil {
				r.retry = n
			}
		}
	}
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (r *Reader) dispatch() *Event {
	data := r.data
	if len(data) > 0 {
		data = data[:len(data)-1] // the spec drops the last LF
	}
	e := &Event{
		Event: r.event,
		Data:  string(data),
		ID:    r.lastID,
		Retry: r.retry,
		Raw:   bytes.Clone(r.raw),
	}
	r.raw = r.raw[:0]
	r.data = r.data[:0]
	r.event = ""
	r.retry = 0
	r.inEvent = false
	return e
}

// Encode returns e in wire form, terminated by a blank line. Raw is ignored.
func Encode(e Event) []byte { return AppendEncode(nil, e) }

// AppendEncode appends e in wire form to dst. Line breaks in Data become
// separate data fields; a line break in Event or ID would start a new field,
// so those values are cut at the first one.
func AppendEncode(dst []byte, e Event) []byte {
	if e.Event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, firstLine(e.Event)...)
		dst = append(dst, '\n')
	}
	if e.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, firstLine(e.ID)...)
		dst = append(dst, '\n')
	}
	if e.Retry > 0 {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, int64(e.Retry), 10)
		dst = append(dst, '\n')
	}
	if e.Data != "" {
		d := e.Data
		for {
			i := indexLineBreak(d)
			dst = append(dst, "data: "...)
			if i < 0 {
				dst = append(dst, d...)
				dst = append(dst, '\n')
				break
			}
			dst = append(dst, d[:i]...)
			dst = append(dst, '\n')
			if d[i] == '\r' && i+1 < len(d) && d[i+1] == '\n' {
				i++
			}
			d = d[i+1:]
		}
	}
	return append(dst, '\n')
}

func indexLineBreak(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return i
		}
	}
	return -1
}

func firstLine(s string) string {
	if i := indexLineBreak(s); i >= 0 {
		return s[:i]
	}
	return s
}
