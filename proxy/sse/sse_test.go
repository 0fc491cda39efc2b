package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

type want struct {
	Event, Data, ID string
	Retry           int
	Raw             string
}

func readAll(t testing.TB, r *Reader) ([]want, error) {
	t.Helper()
	var out []want
	for {
		e, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, want{e.Event, e.Data, e.ID, e.Retry, string(e.Raw)})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []want
		err  error
	}{
		{"single", "data: hello\n\n", []want{{Data: "hello", Raw: "data: hello\n\n"}}, nil},
		{"no space after colon", "data:hello\n\n", []want{{Data: "hello", Raw: "data:hello\n\n"}}, nil},
		{"only one space stripped", "data:  two\n\n", []want{{Data: " two", Raw: "data:  two\n\n"}}, nil},
		{"named", "event: message_start\ndata: {\"a\":1}\n\n", []want{{Event: "message_start", Data: `{"a":1}`, Raw: "event: message_start\ndata: {\"a\":1}\n\n"}}, nil},
		{"multi-line data", "data: a\ndata: b\ndata:\n\n", []want{{Data: "a\nb\n", Raw: "data: a\ndata: b\ndata:\n\n"}}, nil},
		{"crlf", "event: x\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", []want{
			{Event: "x", Data: "1", Raw: "event: x\r\ndata: 1\r\n\r\n"},
			{Data: "2", Raw: "data: 2\r\n\r\n"},
		}, nil},
		{"cr", "data: 1\rdata: 2\r\r", []want{{Data: "1\n2", Raw: "data: 1\rdata: 2\r\r"}}, nil},
		{"mixed endings", "data: 1\r\ndata: 2\rdata: 3\n\r\n", []want{{Data: "1\n2\n3", Raw: "data: 1\r\ndata: 2\rdata: 3\n\r\n"}}, nil},
		{"comments", ": keep-alive\n\n: hi\ndata: x\n: bye\n\n", []want{
			{Raw: ": keep-alive\n\n"},
			{Data: "x", Raw: ": hi\ndata: x\n: bye\n\n"},
		}, nil},
		{"bom", "\xEF\xBB\xBFdata: x\n\n", []want{{Data: "x", Raw: "\xEF\xBB\xBFdata: x\n\n"}}, nil},
		{"bom only once", "\xEF\xBB\xBFdata: x\n\n\xEF\xBB\xBFdata: y\n\n", []want{
			{Data: "x", Raw: "\xEF\xBB\xBFdata: x\n\n"},
			{Raw: "\xEF\xBB\xBFdata: y\n\n"}, // field name "\uFEFFdata" is unknown
		}, nil},
		{"id persists", "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", []want{
			{ID: "7", Data: "a", Raw: "id: 7\ndata: a\n\n"},
			{ID: "7", Data: "b", Raw: "data: b\n\n"},
			{Data: "c", Raw: "id\ndata: c\n\n"},
		}, nil},
		{"id with NUL ignored", "id: 1\n\nid: a\x00b\ndata: x\n\n", []want{
			{ID: "1", Raw: "id: 1\n\n"},
			{ID: "1", Data: "x", Raw: "id: a\x00b\ndata: x\n\n"},
		}, nil},
		{"retry", "retry: 3000\ndata: x\n\nretry: 12a\ndata: y\n\n", []want{
			{Retry: 3000, Data: "x", Raw: "retry: 3000\ndata: x\n\n"},
			{Data: "y", Raw: "retry: 12a\ndata: y\n\n"},
		}, nil},
		{"unknown field and no colon", "foo: bar\ndata\n\n", []want{{Raw: "foo: bar\ndata\n\n"}}, nil},
		{"stray blank lines belong to the next event", "\n\n\ndata: x\n\n\n", []want{{Data: "x", Raw: "\n\n\ndata: x\n\n"}}, nil},
		{"done sentinel", "data: [DONE]\n\n", []want{{Data: "[DONE]", Raw: "data: [DONE]\n\n"}}, nil},
		{"empty stream", "", nil, nil},
		{"cut inside an event", "data: a\n\ndata: b\n", []want{{Data: "a", Raw: "data: a\n\n"}}, io.ErrUnexpectedEOF},
		{"cut inside a line", "data: a\n\ndata: b", []want{{Data: "a", Raw: "data: a\n\n"}}, io.ErrUnexpectedEOF},
		{"event without data", "event: ping\n\n", []want{{Event: "ping", Raw: "event: ping\n\n"}}, nil},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+err": iotest.DataErrReader,
	}
	for _, tt := range tests {
		for rname, wrap := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				got, err := readAll(t, NewReader(wrap(strings.NewReader(tt.in))))
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if rname != "whole" {
					// A CR that ends one read cannot wait for the LF of a
					// CRLF: the LF then opens the next event's Raw. Compare
					// the fields, and the Raw bytes as a whole.
					var gotRaw, wantRaw string
					for i := range got {
						gotRaw += got[i].Raw
						got[i].Raw = ""
					}
					want := slices.Clone(tt.want)
					for i := range want {
						wantRaw += want[i].Raw
						want[i].Raw = ""
					}
					// A final CRLF may lose its LF: it belongs to no event.
					if !strings.HasPrefix(wantRaw, gotRaw) || len(wantRaw)-len(gotRaw) > 1 {
						t.Fatalf("raw %q, want %q", gotRaw, wantRaw)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("got  %+v\nwant %+v", got, want)
					}
					return
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got  %+v\nwant %+v", got, tt.want)
				}
			})
		}
	}
}

func TestReaderMaxEventSize(t *testing.T) {
	in := "data: small\n\ndata: " + strings.Repeat("x", 100) + "\n\ndata: after\n\n"
	r := NewReader(strings.NewReader(in))
	r.SetMaxEventSize(64)
	if e, err := r.Next(); err != nil || e.Data != "small" {
		t.Fatalf("first = %v, %v", e, err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("error is not sticky: %v", err)
	}

	// Many short lines add up too.
	r = NewReader(strings.NewReader(strings.Repeat("data: x\n", 20) + "\n"))
	r.SetMaxEventSize(64)
	if _, err := r.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}

	// The limit counts the whole raw event: exactly at the limit is fine.
	ev := "data: " + strings.Repeat("y", 56) + "\n\n" // 64 bytes
	r = NewReader(strings.NewReader(ev))
	r.SetMaxEventSize(64)
	if e, err := r.Next(); err != nil || len(e.Raw) != 64 {
		t.Fatalf("at the limit: %v, %v", e, err)
	}

	// Lines longer than the initial buffer are read whole.
	long := strings.Repeat("z", 20000)
	r = NewReader(strings.NewReader("data: " + long + "\n\n"))
	if e, err := r.Next(); err != nil || e.Data != long {
		t.Fatalf("long line: err %v", err)
	}
}

// TestReaderDoesNotWait checks that an event is returned as soon as its
// blank line is written, while the writer keeps the stream open. A CR at
// the end of a write must not wait for a possible LF either.
func TestReaderDoesNotWait(t *testing.T) {
	for _, first := range []string{"data: one\n\n", "data: one\r\n\r\n", "data: one\r\r"} {
		pr, pw := io.Pipe()
		r := NewReader(pr)
		got := make(chan string, 2)
		go func() {
			for {
				e, err := r.Next()
				if err != nil {
					close(got)
					return
				}
				got <- e.Data
			}
		}()
		go pw.Write([]byte(first))
		select {
		case d := <-got:
			if d != "one" {
				t.Fatalf("%q: got %q", first, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: event not returned before more bytes arrived", first)
		}
		go func() {
			pw.Write([]byte("\ndata: two\n\n"))
			pw.Close()
		}()
		if d := <-got; d != "two" {
			t.Fatalf("%q: second = %q", first, d)
		}
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		in   Event
		want string
	}{
		{Event{Data: "x"}, "data: x\n\n"},
		{Event{Event: "error", Data: `{"a":1}`}, "event: error\ndata: {\"a\":1}\n\n"},
		{Event{Data: "a\nb\r\nc\rd"}, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{Event{Data: "a\n"}, "data: a\ndata: \n\n"},
		{Event{ID: "5", Retry: 100, Data: " lead"}, "id: 5\nretry: 100\ndata:  lead\n\n"},
		{Event{Event: "x\ndata: injected", Data: "y"}, "event: x\ndata: y\n\n"},
		{Event{}, "\n"},
	}
	for _, tt := range tests {
		if got := string(Encode(tt.in)); got != tt.want {
			t.Errorf("Encode(%+v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Encoded events read back to themselves.
	for _, tt := range tests[:5] {
		e, err := NewReader(bytes.NewReader(Encode(tt.in))).Next()
		if err != nil {
			t.Fatal(err)
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(tt.in.Data)
		if e.Event != tt.in.Event || e.Data != wantData || e.ID != tt.in.ID || e.Retry != tt.in.Retry {
			t.Errorf("round trip of %+v = %+v", tt.in, e)
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"data: hello\n\n",
		"event: a\r\ndata: 1\r\n\r\n",
		"data: 1\rdata: 2\r\r",
		": c\n\nid: 1\nretry: 10\ndata: x\ndata: y\n\n",
		"\xEF\xBB\xBFdata: x\n\n",
		"data: [DONE]\n\n",
		"\r\n\r\ndata\n\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		read := func(src io.Reader) ([]*Event, error) {
			r := NewReader(src)
			r.SetMaxEventSize(1 << 12)
			var evs []*Event
			for {
				e, err := r.Next()
				if err != nil {
					return evs, err
				}
				evs = append(evs, e)
			}
		}
		evs, err := read(bytes.NewReader(in))
		var src io.Reader = bytes.NewReader(in)
		switch chunk % 3 {
		case 1:
			src = iotest.OneByteReader(src)
		case 2:
			src = iotest.HalfReader(src)
		}
		evs2, err2 := read(src)
		if !errors.Is(err2, err) && !errors.Is(err, err2) {
			t.Fatalf("errors differ by read size: %v vs %v", err, err2)
		}
		if len(evs) != len(evs2) {
			t.Fatalf("events differ by read size: %d vs %d", len(evs), len(evs2))
		}
		var cat []byte
		for i, e := range evs {
			if e.Data != evs2[i].Data || e.Event != evs2[i].Event || e.ID != evs2[i].ID || e.Retry != evs2[i].Retry {
				t.Fatalf("event %d differs by read size: %+v vs %+v", i, e, evs2[i])
			}
			cat = append(cat, e.Raw...)
			// An event read back from its own Raw or from its encoding has
			// the same fields.
			one, err := NewReader(bytes.NewReader(e.Raw)).Next()
			if err != nil {
				t.Fatalf("event %d: reading its Raw %q: %v", i, e.Raw, err)
			}
			if one.Data != e.Data || one.Event != e.Event || one.Retry != e.Retry {
				t.Fatalf("event %d: Raw %q reads as %+v, want %+v", i, e.Raw, one, e)
			}
			if e.Data != "" || e.Event != "" {
				enc, err := NewReader(bytes.NewReader(Encode(*e))).Next()
				if err != nil || enc.Data != e.Data || enc.Event != firstLine(e.Event) {
					t.Fatalf("event %d: encoding %q reads as %+v, %v", i, Encode(*e), enc, err)
				}
			}
		}
		if !bytes.HasPrefix(in, cat) {
			t.Fatalf("concatenated Raw is not a prefix of the input:\n%q\n%q", cat, in)
		}
		if errors.Is(err, io.EOF) && len(bytes.Trim(in[len(cat):], "\r\n")) != 0 && !bytes.Equal(in[len(cat):], bom) {
			t.Fatalf("clean EOF with unread input %q", in[len(cat):])
		}
	})
}

func BenchmarkReader(b *testing.B) {
	var stream bytes.Buffer
	for i := range 64 {
		fmt.Fprintf(&stream, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token %d \"}}\n\n", i)
	}
	in := stream.Bytes()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(in))
		n := 0
		for {
			_, err := r.Next()
			if err != nil {
				break
			}
			n++
		}
		if n != 64 {
			b.Fatalf("read %d events", n)
		}
	}
}
