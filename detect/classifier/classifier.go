// Package classifier is Bulwark's small learned detector for prompt
// injection, jailbreak and prompt-extraction text. It is a logistic
// regression over hashed features (word unigrams and bigrams, character 3-
// to 5-grams), with no dependencies beyond the standard library. The weights
// are quantised to int8 and embedded in the binary (model.bin); Default
// loads them once.
//
// Scoring streams over the text once without allocating: each feature is
// hashed (FNV-1a) into a table of 2^Bits signed weights, and the score is
// sigmoid(bias + scale * sum(sign*w) / sqrt(count)).
package classifier

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
)

// MaxScoreBytes bounds the text a Score call looks at; the rest is ignored.
// Injections sit early in a message and jailbreak preambles are long, so
// 16 KiB keeps nearly all of the signal with a bounded cost.
const MaxScoreBytes = 16 << 10

// Model is a trained classifier. It is immutable and safe for concurrent use.
type Model struct {
	bits    uint32
	mask    uint32
	bias    float32
	scale   float32
	weights []int8
}

//go:embed model.bin
var embedded []byte

var (
	defaultOnce  sync.Once
	defaultModel *Model
	defaultErr   error
)

// Default returns the embedded model, loaded on first use. It panics if the
// embedded weights are corrupt, which a test guards against.
func Default() *Model {
	defaultOnce.Do(func() {
		defaultModel = new(Model)
		defaultErr = defaultModel.UnmarshalBinary(embedded)
	})
	if defaultErr != nil {
		panic("classifier: embedded model: " + defaultErr.Error())
	}
	return defaultModel
}

// Bits returns the log2 size of the hashed feature table.
func (m *Model) Bits() int { return int(m.bits) }

const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
	// seeds keep the feature families apart in the shared table.
	seedWord   = 0x9e3779b97f4a7c15
	seedBigram = 0x85ebca6b27d4eb2f
	seedChar   = 0xc2b2ae3d165667b1
)

// mix64 hashes a 64-bit key to 32 bits with one multiply (Fibonacci
// hashing of the key xor a family seed; the high half of the product is
// well mixed). The low bits index the weight table and the top bit gives
// the feature's sign.
func mix64(h uint64) uint32 {
	h ^= h >> 29
	return uint32((h * 0x9e3779b97f4a7c15) >> 32)
}

// lower folds ASCII upper case; other bytes pass through (UTF-8 sequences
// stay intact, so non-English words still form n-grams).
func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80
}

// featureBuf is how many hashes one fill call may produce at most.
const featureBuf = 512

// tokenizer walks a text once and produces the hash of every feature: word
// unigrams and bigrams, and character 3-, 4- and 5-grams of the lower-cased
// text with runs of white space squeezed to one space. It is the one
// definition of the feature space, shared by Score and Train.
type tokenizer struct {
	text     string
	i        int
	win      uint64 // last 5 bytes of the squeezed stream, newest lowest
	filled   int
	word     uint32
	wordLen  int
	prevWord uint32
	havePrev bool
	space    bool
	done     bool
}

func newTokenizer(text string) tokenizer {
	if len(text) > MaxScoreBytes {
		text = text[:MaxScoreBytes]
	}
	return tokenizer{text: text, word: fnvOffset, space: true}
}

func (t *tokenizer) flushWord(buf *[featureBuf]uint32, n int) int {
	if t.wordLen == 0 {
		return n
	}
	w := mix64(uint64(t.word) ^ seedWord)
	buf[n] = w
	n++
	if t.havePrev {
		buf[n] = mix64(uint64(t.prevWord)<<32 ^ uint64(w) ^ seedBigram)
		n++
	}
	t.prevWord, t.havePrev = w, true
	t.word, t.wordLen = fnvOffset, 0
	return n
}

// fill writes up to featureBuf hashes into buf and returns how many; 0
// means the text is exhausted.
func (t *tokenizer) fill(buf *[featureBuf]uint32) int {
	n := 0
	text := t.text
	for t.i < len(text) && n <= featureBuf-5 {
		c := lower(text[t.i])
		t.i++
		if c == '\n' || c == '\t' || c == '\r' {
			c = ' '
		}
		if isWordByte(c) {
			t.word = (t.word ^ uint32(c)) * fnvPrime
			t.wordLen++
		} else {
			n = t.flushWord(buf, n)
		}
		if c == ' ' {
			if t.space {
				continue
			}
			t.space = true
		} else {
			t.space = false
		}
		t.win = t.win<<8 | uint64(c)
		if t.filled < 5 {
			t.filled++
		}
		if t.filled >= 3 {
			buf[n] = mix64(t.win&0xffffff ^ seedChar)
			n++
			if t.filled >= 4 {
				buf[n] = mix64(t.win&0xffffffff ^ seedChar ^ 4<<56)
				n++
				if t.filled >= 5 {
					buf[n] = mix64(t.win&0xffffffffff ^ seedChar ^ 5<<56)
					n++
				}
			}
		}
	}
	if t.i >= len(text) && !t.done && n <= featureBuf-2 {
		t.done = true
		n = t.flushWord(buf, n)
	}
	return n
}

// Score returns the probability, from 0 to 1, that text is a prompt
// injection, jailbreak or prompt-extraction attempt.
//
// It computes exactly the features of tokenizer.fill (which training
// uses), in one pass with the state in registers and the weights summed
// as they are hashed; TestScoreMatchesTokenizer holds the two together.
func (m *Model) Score(text string) float64 {
	if m == nil || len(m.weights) == 0 {
		return 0
	}
	if len(text) > MaxScoreBytes {
		text = text[:MaxScoreBytes]
	}
	w, mask := m.weights, m.mask
	var (
		sum      int64
		count    int
		win      uint64
		filled   int
		word     uint32 = fnvOffset
		wordLen  int
		prevWord uint32
		havePrev bool
		space    = true
	)
	for i := 0; i < len(text); i++ {
		c := lower(text[i])
		if c == '\n' || c == '\t' || c == '\r' {
			c = ' '
		}
		if isWordByte(c) {
			word = (word ^ uint32(c)) * fnvPrime
			wordLen++
		} else if wordLen > 0 {
			h := mix64(uint64(word) ^ seedWord)
			sum += weight(w, mask, h)
			count++
			if havePrev {
				sum += weight(w, mask, mix64(uint64(prevWord)<<32^uint64(h)^seedBigram))
				count++
			}
			prevWord, havePrev = h, true
			word, wordLen = fnvOffset, 0
		}
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		win = win<<8 | uint64(c)
		if filled < 5 {
			filled++
			if filled < 3 {
				continue
			}
		}
		sum += weight(w, mask, mix64(win&0xffffff^seedChar))
		count++
		if filled >= 4 {
			sum += weight(w, mask, mix64(win&0xffffffff^seedChar^4<<56))
			count++
			if filled >= 5 {
				sum += weight(w, mask, mix64(win&0xffffffffff^seedChar^5<<56))
				count++
			}
		}
	}
	if wordLen > 0 {
		h := mix64(uint64(word) ^ seedWord)
		sum += weight(w, mask, h)
		count++
		if havePrev {
			sum += weight(w, mask, mix64(uint64(prevWord)<<32^uint64(h)^seedBigram))
			count++
		}
	}
	if count == 0 {
		return sigmoid(float64(m.bias))
	}
	z := float64(m.bias) + float64(m.scale)*float64(sum)/math.Sqrt(float64(count))
	return sigmoid(z)
}

// weight is the signed weight of feature hash h: the table entry, negated
// when the top bit is set (without a branch: the sign is random).
func weight(w []int8, mask, h uint32) int64 {
	v := int64(w[h&mask])
	s := int64(int32(h) >> 31) // 0 or -1
	return (v ^ s) - s
}

func sigmoid(z float64) float64 {
	if z < -40 {
		return 0
	}
	if z > 40 {
		return 1
	}
	return 1 / (1 + math.Exp(-z))
}

var magic = []byte("BWPI")

const formatVersion = 1

// MarshalBinary encodes the model: "BWPI", version, bits (uint32 LE),
// bias and scale (float32 LE), then 2^bits int8 weights.
func (m *Model) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.Write(magic)
	for _, v := range []any{uint32(formatVersion), m.bits, m.bias, m.scale} {
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			return nil, err
		}
	}
	for _, w := range m.weights {
		b.WriteByte(byte(w))
	}
	return b.Bytes(), nil
}

// UnmarshalBinary decodes a model written by MarshalBinary.
func (m *Model) UnmarshalBinary(data []byte) error {
	const header = 4 + 4 + 4 + 4 + 4
	if len(data) < header || !bytes.Equal(data[:4], magic) {
		return errors.New("not a classifier model (bad magic)")
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[4:]); v != formatVersion {
		return fmt.Errorf("unsupported model version %d", v)
	}
	bits := le.Uint32(data[8:])
	if bits < 8 || bits > 24 {
		return fmt.Errorf("bad feature bits %d", bits)
	}
	if want := header + (1 << bits); len(data) != want {
		return fmt.Errorf("model is %d bytes, want %d", len(data), want)
	}
	bias := math.Float32frombits(le.Uint32(data[12:]))
	scale := math.Float32frombits(le.Uint32(data[16:]))
	if math.IsNaN(float64(bias)) || math.IsInf(float64(bias), 0) || math.IsNaN(float64(scale)) || math.IsInf(float64(scale), 0) || scale < 0 {
		return errors.New("bad bias or scale")
	}
	w := make([]int8, 1<<bits)
	for i := range w {
		w[i] = int8(data[header+i])
	}
	*m = Model{bits: bits, mask: 1<<bits - 1, bias: bias, scale: scale, weights: w}
	return nil
}
