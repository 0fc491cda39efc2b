package detect

import (
	"regexp/syntax"
	"unicode/utf8"
)

// patternCost estimates the size of the byte-level automaton RE2 builds for
// a pattern: a character class with non-ASCII ranges turns into a UTF-8
// byte automaton about as large as its range count, and a counted
// repetition copies its body max times. Patterns above MaxPatternCost
// make the matcher slow to build and large, and are refused.
func patternCost(re *syntax.Regexp) int {
	const capCost = 1 << 30
	switch re.Op {
	case syntax.OpCharClass:
		ranges := len(re.Rune) / 2
		if ranges == 0 || re.Rune[len(re.Rune)-1] < utf8.RuneSelf {
			return 1
		}
		return 1 + ranges
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 4
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return 2 * len(re.Rune)
		}
		return len(re.Rune)
	case syntax.OpRepeat:
		body := 0
		for _, s := range re.Sub {
			body += patternCost(s)
		}
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		return min(capCost, body*max(n, 1))
	default:
		c := 1
		for _, s := range re.Sub {
			c = min(capCost, c+patternCost(s))
		}
		return c
	}
}

// MaxPatternCost is the largest patternCost accepted for one pattern.
const MaxPatternCost = 20000
