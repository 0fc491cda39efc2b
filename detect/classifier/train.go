package classifier

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// Sample is one labelled training text.
type Sample struct {
	Text   string
	Attack bool
}

// TrainOptions control training. Zero fields take the defaults.
type TrainOptions struct {
	Bits         int     // log2 of the hashed feature table; default 18
	Epochs       int     // passes over the data; default 12
	LearningRate float64 // AdaGrad base rate; default 0.2
	L2           float64 // L2 penalty per example; default 1e-6
	Seed         uint64  // shuffling seed; default 1
}

func (o *TrainOptions) defaults() {
	if o.Bits == 0 {
		o.Bits = 18
	}
	if o.Epochs == 0 {
		o.Epochs = 12
	}
	if o.LearningRate == 0 {
		o.LearningRate = 0.2
	}
	if o.L2 == 0 {
		o.L2 = 1e-6
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// HeldOut reports whether the record with this id belongs to the 20%
// evaluation split: a deterministic hash of the id, so the split never
// changes between runs or machines.
func HeldOut(id string) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%5 == 0
}

type sparse struct {
	idx  []uint32
	sign []float64
	norm float64
}

// Train fits a logistic regression with L2 regularisation by AdaGrad SGD
// over the hashed features, classes weighted to balance. It is
// deterministic for a given input order and seed.
func Train(samples []Sample, opts TrainOptions) *Model {
	opts.defaults()
	size := 1 << opts.Bits
	mask := uint32(size - 1)
	data := make([]sparse, len(samples))
	var pos, neg float64
	for i, s := range samples {
		var sp sparse
		var buf [featureBuf]uint32
		tk := newTokenizer(s.Text)
		for k := tk.fill(&buf); k > 0; k = tk.fill(&buf) {
			for _, h := range buf[:k] {
				sp.idx = append(sp.idx, h&mask)
				if h>>31 != 0 {
					sp.sign = append(sp.sign, -1)
				} else {
					sp.sign = append(sp.sign, 1)
				}
			}
		}
		if len(sp.idx) > 0 {
			sp.norm = 1 / math.Sqrt(float64(len(sp.idx)))
		}
		data[i] = sp
		if s.Attack {
			pos++
		} else {
			neg++
		}
	}
	wPos, wNeg := 1.0, 1.0
	if pos > 0 && neg > 0 {
		wPos, wNeg = (pos+neg)/(2*pos), (pos+neg)/(2*neg)
	}
	w := make([]float64, size)
	g2 := make([]float64, size)
	var bias, biasG2 float64
	order := make([]int, len(samples))
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	for epoch := 0; epoch < opts.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			sp := &data[k]
			z := bias
			for j, ix := range sp.idx {
				z += w[ix] * sp.sign[j] * sp.norm
			}
			p := 1 / (1 + math.Exp(-z))
			y, cw := 0.0, wNeg
			if samples[k].Attack {
				y, cw = 1, wPos
			}
			g := (p - y) * cw
			for j, ix := range sp.idx {
				gi := g*sp.sign[j]*sp.norm + opts.L2*w[ix]
				g2[ix] += gi * gi
				w[ix] -= opts.LearningRate * gi / (math.Sqrt(g2[ix]) + 1e-8)
			}
			biasG2 += g * g
			bias -= opts.LearningRate * g / (math.Sqrt(biasG2) + 1e-8)
		}
	}
	return quantise(w, bias, uint32(opts.Bits))
}

func quantise(w []float64, bias float64, bits uint32) *Model {
	maxAbs := 0.0
	for _, v := range w {
		maxAbs = math.Max(maxAbs, math.Abs(v))
	}
	scale := maxAbs / 127
	if scale == 0 {
		scale = 1
	}
	q := make([]int8, len(w))
	for i, v := range w {
		q[i] = int8(math.Round(v / scale))
	}
	return &Model{bits: bits, mask: 1<<bits - 1, bias: float32(bias), scale: float32(scale), weights: q}
}
