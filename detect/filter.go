package detect

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	re2 "github.com/wasilibs/go-re2"
)

// valueFilter drops matches that are not real values: documentation
// placeholders, examples and low-entropy filler. It runs on rules with
// min_entropy or allowlist set, after a pattern has matched.
type valueFilter struct {
	minEntropy float64
	// allow runs on RE2 (a DFA): an allowlisted match is checked against
	// up to 2*lineContext bytes, often several times per text, which the
	// stdlib NFA makes cost milliseconds.
	allow []interface{ MatchString(string) bool }
}

// secretGroup is the capture group whose text min_entropy measures; a
// pattern without it is measured on the whole match.
const secretGroup = "secret"

func newValueFilter(minEntropy float64, allow []string, maxInsts int) (*valueFilter, error) {
	if minEntropy == 0 && len(allow) == 0 {
		return nil, nil
	}
	f := &valueFilter{minEntropy: minEntropy}
	var std []interface{ MatchString(string) bool }
	groups := make([]string, len(allow))
	for i, a := range allow {
		re, err := compilePattern(a, maxInsts)
		if err != nil {
			return nil, fmt.Errorf("allowlist[%d] %q: %w", i, a, err)
		}
		std = append(std, re)
		groups[i] = "(?:" + a + ")" // flags such as (?i) stay inside the group
	}
	// One RE2 alternation checks the whole allowlist in a single pass.
	if len(allow) > 0 {
		if fast, err := re2.Compile(strings.Join(groups, "|")); err == nil {
			f.allow = append(f.allow, fast)
		} else {
			f.allow = std
		}
	}
	return f, nil
}

// lineContext bounds how far the allowlist looks around a match for the
// start and end of its line.
const lineContext = 256

// needsGroups reports whether accept reads submatches of re: only for
// min_entropy on a pattern with a secret group. Otherwise the cheaper
// match-only search is enough.
func (f *valueFilter) needsGroups(re *regexp.Regexp) bool {
	return f.minEntropy > 0 && re.SubexpIndex(secretGroup) > 0
}

// accept reports whether the match at loc (match or submatch indexes of re)
// is a real value: no allowlist pattern matches its line, and its value
// has at least the minimum entropy.
func (f *valueFilter) accept(re *regexp.Regexp, text string, loc []int) bool {
	whole := text[loc[0]:loc[1]]
	if len(f.allow) > 0 {
		start, end := max(0, loc[0]-lineContext), min(len(text), loc[1]+lineContext)
		if i := strings.LastIndexByte(text[start:loc[0]], '\n'); i >= 0 {
			start += i + 1
		}
		if i := strings.IndexByte(text[loc[1]:end], '\n'); i >= 0 {
			end = loc[1] + i
		}
		line := text[start:end]
		for _, a := range f.allow {
			if a.MatchString(line) {
				return false
			}
		}
	}
	if f.minEntropy > 0 {
		value := whole
		if g := re.SubexpIndex(secretGroup); g > 0 && 2*g+1 < len(loc) && loc[2*g] >= 0 {
			value = text[loc[2*g]:loc[2*g+1]]
		}
		if ShannonEntropy(value) < f.minEntropy {
			return false
		}
	}
	return true
}

// ShannonEntropy returns the entropy of s in bits per byte: 0 for a
// repeated character, about 3 for English words, 4 and more for random
// base64 or hex of a few dozen characters.
func ShannonEntropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
