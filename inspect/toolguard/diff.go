package toolguard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Diff bounds.
const (
	// DiffContext is the number of unchanged lines shown around a change.
	DiffContext = 3
	// MaxDiffLines is the most lines Diff returns before "… N more lines".
	MaxDiffLines = 200
	// maxEdits bounds the work of the line diff: beyond this many edits the
	// differing middle is shown as removed and added whole.
	maxEdits = 1000
)

// Diff returns a unified-style line diff from old to new: both are
// pretty-printed with sorted keys and a two-space indent, and each hunk
// starts with an "@@ -a,n +b,m @@" header followed by lines prefixed with
// "-" (only in old), "+" (only in new) or " " (context). It returns "" when
// the two are the same JSON. The diff is bounded to MaxDiffLines lines; the
// rest is summarised as "… N more lines". A side that is not valid JSON is
// compared as plain text, and an empty side as no lines at all.
func Diff(old, new json.RawMessage) string {
	a, b := prettyLines(old), prettyLines(new)
	ops := diffLines(a, b)
	return formatHunks(ops)
}

func prettyLines(data json.RawMessage) []string {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	text := string(data)
	if canon, err := canonicalValue(data); err == nil {
		var buf bytes.Buffer
		if json.Indent(&buf, canon, "", "  ") == nil {
			text = buf.String()
		}
	}
	return strings.Split(strings.TrimRight(text, "\n"), "\n")
}

// op is one line of an edit script: ' ' kept, '-' deleted, '+' inserted,
// with its 0-based line numbers in old (ai) and new (bi).
type op struct {
	kind   byte
	text   string
	ai, bi int
}

// diffLines returns an edit script turning a into b: common prefix and
// suffix first, then Myers' O(ND) algorithm on the middle.
func diffLines(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ops := make([]op, 0, len(a)+len(b))
	for i := 0; i < pre; i++ {
		ops = append(ops, op{' ', a[i], i, i})
	}
	am, bm := a[pre:len(a)-suf], b[pre:len(b)-suf]
	mid, ok := myers(am, bm)
	if !ok {
		mid = mid[:0]
		for i, s := range am {
			mid = append(mid, op{'-', s, i, 0})
		}
		for j, s := range bm {
			mid = append(mid, op{'+', s, len(am), j})
		}
	}
	for _, o := range mid {
		o.ai += pre
		o.bi += pre
		ops = append(ops, o)
	}
	for i := 0; i < suf; i++ {
		ai, bi := len(a)-suf+i, len(b)-suf+i
		ops = append(ops, op{' ', a[ai], ai, bi})
	}
	return ops
}

// myers computes a shortest edit script, or reports false when it needs
// more than maxEdits edits.
func myers(a, b []string) ([]op, bool) {
	n, m := len(a), len(b)
	if n == 0 && m == 0 {
		return nil, true
	}
	maxD := n + m
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	// trace[d] is v[-d-1 … d+1] as it was when round d started.
	var trace [][]int
	for d := 0; d <= maxD; d++ {
		if d > maxEdits {
			return nil, false
		}
		trace = append(trace, append([]int(nil), v[off-d-1:off+d+2]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[off+k-1] < v[off+k+1] {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(a, b, trace), true
			}
		}
	}
	return nil, false
}

func backtrack(a, b []string, trace [][]int) []op {
	x, y := len(a), len(b)
	var rev []op
	for d := len(trace) - 1; d >= 0; d-- {
		w := trace[d]
		at := func(k int) int { return w[k+d+1] }
		k := x - y
		var prevK int
		if k == -d || k != d && at(k-1) < at(k+1) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := at(prevK)
		prevY := prevX - prevK
		if d == 0 {
			prevX, prevY = 0, 0
		}
		for x > prevX && y > prevY {
			x--
			y--
			rev = append(rev, op{' ', a[x], x, y})
		}
		if d > 0 {
			if x == prevX {
				y--
				rev = append(rev, op{'+', b[y], x, y})
			} else {
				x--
				rev = append(rev, op{'-', a[x], x, y})
			}
		}
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// formatHunks renders the changes of an edit script with DiffContext lines
// of context, bounded to MaxDiffLines.
func formatHunks(ops []op) string {
	keep := make([]bool, len(ops))
	changed := false
	for i, o := range ops {
		if o.kind == ' ' {
			continue
		}
		changed = true
		for j := max(0, i-DiffContext); j <= min(len(ops)-1, i+DiffContext); j++ {
			keep[j] = true
		}
	}
	if !changed {
		return ""
	}
	var lines []string
	for i := 0; i < len(ops); {
		if !keep[i] {
			i++
			continue
		}
		j := i
		for j < len(ops) && keep[j] {
			j++
		}
		var na, nb int
		for _, o := range ops[i:j] {
			if o.kind != '+' {
				na++
			}
			if o.kind != '-' {
				nb++
			}
		}
		lines = append(lines, fmt.Sprintf("@@ -%s +%s @@", hunkRange(ops[i].ai, na), hunkRange(ops[i].bi, nb)))
		for _, o := range ops[i:j] {
			lines = append(lines, string(o.kind)+o.text)
		}
		i = j
	}
	if len(lines) > MaxDiffLines {
		more := len(lines) - MaxDiffLines
		lines = append(lines[:MaxDiffLines], fmt.Sprintf("… %d more lines", more))
	}
	return strings.Join(lines, "\n") + "\n"
}

// hunkRange renders a 0-based start and a line count the way unified diffs
// do: 1-based, and the line before the hunk when it is empty.
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
