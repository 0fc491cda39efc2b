package usage

import "time"

// PeriodStart returns the first instant of the calendar month that contains
// now, in loc (UTC when loc is nil). Monthly budgets count spend from this
// instant. The result is in loc.
func PeriodStart(now time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	n := now.In(loc)
	return monthStart(n.Year(), n.Month(), loc)
}

// NextReset returns the first instant of the calendar month after the one
// that contains now, in loc (UTC when loc is nil): when a monthly budget
// resets. PeriodStart(now) <= now < NextReset(now) always holds.
func NextReset(now time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	n := now.In(loc)
	return monthStart(n.Year(), n.Month()+1, loc) // time.Date turns month 13 into January
}

// PeriodKey names the month that contains now in loc (UTC when nil), as
// "YYYY-MM": a stable key for storing a budget period's spend.
func PeriodKey(now time.Time, loc *time.Location) string {
	return PeriodStart(now, loc).Format("2006-01")
}

// monthStart is the first instant of the first day of the month in loc.
// That is midnight, except in the few zones that move their clocks at
// midnight: when a daylight-saving gap swallows midnight the day starts at
// the end of the gap, and when midnight happens twice it starts at the
// first one. time.Date does not promise either, so both are handled here.
func monthStart(year int, month time.Month, loc *time.Location) time.Time {
	t := time.Date(year, month, 1, 0, 0, 0, 0, loc)
	if t.Day() != 1 {
		// Landed before a gap, on the last day of the previous month: the
		// 1st begins where that zone period ends.
		if _, end := t.ZoneBounds(); !end.IsZero() {
			t = end
		}
	}
	for range 4 {
		p := t.Add(-time.Nanosecond)
		if p.Day() != 1 {
			break
		}
		// An earlier instant is still on the 1st (a repeated midnight): go
		// back to its midnight.
		t = p.Add(-(time.Duration(p.Hour())*time.Hour + time.Duration(p.Minute())*time.Minute +
			time.Duration(p.Second())*time.Second + time.Duration(p.Nanosecond())))
	}
	return t
}
