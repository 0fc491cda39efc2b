package usage

import (
	"testing"
	"time"
	_ "time/tzdata" // the same zone rules on every machine
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestPeriodBoundaries(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	tokyo := mustLoc(t, "Asia/Tokyo")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name             string
		now              time.Time
		loc              *time.Location
		start, next, key string // RFC 3339 instants, compared as instants
	}{
		{"utc mid month", utc("2026-11-22T02:27:45Z"), nil, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11"},
		{"utc first instant", utc("2026-11-01T00:00:00Z"), time.UTC, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11"},
		{"utc last instant", utc("2026-11-30T23:59:59.999999999Z"), nil, "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2026-11"},
		{"dec to jan", utc("2026-12-31T23:59:59Z"), nil, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", "2026-12"},
		{"new year", utc("2027-01-01T00:00:00Z"), nil, "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z", "2027-01"},
		{"leap february", utc("2028-02-29T12:00:00Z"), nil, "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z", "2028-02"},
		// 23:30 UTC on 31 Dec is already January in Berlin (UTC+1).
		{"berlin already january", utc("2026-12-31T23:30:00Z"), berlin, "2026-12-31T23:00:00Z", "2027-01-31T23:00:00Z", "2027-01"},
		// 03:00 UTC on 1 Jan is still December in New York (UTC-5).
		{"new york still december", utc("2027-01-01T03:00:00Z"), ny, "2026-12-01T05:00:00Z", "2027-01-01T05:00:00Z", "2026-12"},
		// Berlin's March has 23 hours on the 29th (CET→CEST): April starts at UTC+2.
		{"berlin across dst", utc("2026-03-15T12:00:00Z"), berlin, "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z", "2026-03"},
		{"new york november", utc("2026-11-22T02:27:45Z"), ny, "2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z", "2026-11"},
		{"tokyo", utc("2026-06-30T15:00:00Z"), tokyo, "2026-06-30T15:00:00Z", "2026-07-31T15:00:00Z", "2026-07"},
	}
	for _, tt := range tests {
		start, next := PeriodStart(tt.now, tt.loc), NextReset(tt.now, tt.loc)
		if !start.Equal(utc(tt.start)) {
			t.Errorf("%s: PeriodStart = %s, want %s", tt.name, start.UTC().Format(time.RFC3339), tt.start)
		}
		if !next.Equal(utc(tt.next)) {
			t.Errorf("%s: NextReset = %s, want %s", tt.name, next.UTC().Format(time.RFC3339), tt.next)
		}
		if got := PeriodKey(tt.now, tt.loc); got != tt.key {
			t.Errorf("%s: PeriodKey = %s, want %s", tt.name, got, tt.key)
		}
		wantLoc := tt.loc
		if wantLoc == nil {
			wantLoc = time.UTC
		}
		if start.Location() != wantLoc || next.Location() != wantLoc {
			t.Errorf("%s: results in %v/%v, want %v", tt.name, start.Location(), next.Location(), wantLoc)
		}
	}
}

// A daylight-saving change at midnight on the 1st: Paraguay moved its clocks
// from 00:00 to 01:00 on Sunday 1 October 2017, so that day began at 01:00.
func TestPeriodStartMidnightGap(t *testing.T) {
	asu := mustLoc(t, "America/Asuncion")
	now := time.Date(2017, 10, 15, 12, 0, 0, 0, asu)
	start := PeriodStart(now, asu)
	if start.Day() != 1 || start.Month() != time.October {
		t.Fatalf("PeriodStart = %s, want 1 October", start)
	}
	if before := start.Add(-time.Nanosecond); before.Month() != time.September {
		t.Fatalf("PeriodStart = %s is not the first instant of October (%s is too)", start, before)
	}
	if next := NextReset(time.Date(2017, 9, 20, 0, 0, 0, 0, asu), asu); !next.Equal(start) {
		t.Fatalf("NextReset from September = %s, want %s", next, start)
	}
}

// The invariants hold in every zone, every month, for 30 years: the period
// starts on the 1st, contains now, and its first instant is the first
// instant of the month (the instant before is in the previous month).
func TestPeriodInvariants(t *testing.T) {
	zones := []string{
		"UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Sao_Paulo",
		"America/Santiago", "America/Asuncion", "America/Havana", "Asia/Tehran", "Asia/Kolkata",
		"Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Apia", "Pacific/Chatham", "Africa/Casablanca",
	}
	for _, z := range zones {
		loc := mustLoc(t, z)
		for y := 2000; y < 2030; y++ {
			for m := time.January; m <= time.December; m++ {
				for _, d := range []int{1, 15, 28} {
					now := time.Date(y, m, d, 0, 30, 0, 0, loc)
					start, next := PeriodStart(now, loc), NextReset(now, loc)
					if start.After(now) || !next.After(now) {
						t.Fatalf("%s %s: start %s, next %s do not contain now", z, now, start, next)
					}
					if start.Day() != 1 || next.Day() != 1 {
						t.Fatalf("%s %s: start %s or next %s not on the 1st", z, now, start, next)
					}
					if prev := start.Add(-time.Nanosecond); prev.Month() == start.Month() {
						t.Fatalf("%s %s: %s is not the first instant of the month", z, now, start)
					}
					if got := PeriodStart(next, loc); !got.Equal(next) {
						t.Fatalf("%s %s: next period starts %s, not at the reset %s", z, now, got, next)
					}
				}
			}
		}
	}
}
