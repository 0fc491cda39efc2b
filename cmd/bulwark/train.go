package main

import (
	"fmt"
	"io"
	"os"

	"github.com/bulwarkhq/bulwark/detect/classifier"
	"github.com/spf13/cobra"
)

// classifierCategories are the attack categories the learned detector is
// trained on; every other attack category is left out of its training set.
var classifierCategories = map[string]bool{
	"prompt_injection": true, "jailbreak": true, "prompt_extraction": true,
}

// classifierSplit selects the training rows of a corpus (llm_prompt rows,
// attacks of the classifier's categories against every benign row) and
// splits them by classifier.HeldOut.
func classifierSplit(recs []corpusRecord) (train, test []classifier.Sample) {
	for _, r := range recs {
		if r.Context != "llm_prompt" {
			continue
		}
		attack := r.Label == "attack"
		if attack && !classifierCategories[r.Category] {
			continue
		}
		s := classifier.Sample{Text: r.Text, Attack: attack}
		if classifier.HeldOut(r.ID) {
			test = append(test, s)
		} else {
			train = append(train, s)
		}
	}
	return train, test
}

type binaryMetrics struct {
	Threshold         float64
	TP, FP, TN, FN    int
	Precision, Recall float64
	FalsePositiveRate float64
}

func evaluateClassifier(m *classifier.Model, samples []classifier.Sample, threshold float64) binaryMetrics {
	r := binaryMetrics{Threshold: threshold}
	for _, s := range samples {
		hit := m.Score(s.Text) >= threshold
		switch {
		case hit && s.Attack:
			r.TP++
		case hit:
			r.FP++
		case s.Attack:
			r.FN++
		default:
			r.TN++
		}
	}
	if r.TP+r.FP > 0 {
		r.Precision = float64(r.TP) / float64(r.TP+r.FP)
	}
	if r.TP+r.FN > 0 {
		r.Recall = float64(r.TP) / float64(r.TP+r.FN)
	}
	if r.FP+r.TN > 0 {
		r.FalsePositiveRate = float64(r.FP) / float64(r.FP+r.TN)
	}
	return r
}

func newTrainClassifierCmd() *cobra.Command {
	var corpus, out string
	var opts classifier.TrainOptions
	cmd := &cobra.Command{
		Use:    "train-classifier",
		Short:  "Train the learned prompt-injection detector from a labelled JSONL corpus",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			recs, err := readCorpus(corpus)
			if err != nil {
				return err
			}
			train, test := classifierSplit(recs)
			if len(train) == 0 {
				return fmt.Errorf("%s: no llm_prompt rows to train on", corpus)
			}
			m := classifier.Train(train, opts)
			data, err := m.MarshalBinary()
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "trained on %d rows (%d held out), 2^%d features, wrote %s (%d bytes)\n",
				len(train), len(test), m.Bits(), out, len(data))
			printClassifierMetrics(w, "held-out", m, test)
			printClassifierMetrics(w, "training", m, train)
			return nil
		},
	}
	cmd.Flags().StringVar(&corpus, "corpus", "../shared/eval/tuning.jsonl", "labelled JSONL corpus")
	cmd.Flags().StringVar(&out, "out", "detect/classifier/model.bin", "where to write the model")
	cmd.Flags().IntVar(&opts.Bits, "bits", 18, "log2 of the hashed feature table")
	cmd.Flags().IntVar(&opts.Epochs, "epochs", 12, "training epochs")
	cmd.Flags().Uint64Var(&opts.Seed, "seed", 1, "shuffling seed")
	cmd.Flags().Float64Var(&opts.L2, "l2", 1e-6, "L2 penalty")
	return cmd
}

func printClassifierMetrics(w io.Writer, name string, m *classifier.Model, samples []classifier.Sample) {
	for _, t := range []float64{0.5, 0.7, 0.85} {
		r := evaluateClassifier(m, samples, t)
		fmt.Fprintf(w, "%-8s threshold %.2f: precision %.3f recall %.3f FPR %.3f (tp %d fp %d tn %d fn %d)\n",
			name, t, r.Precision, r.Recall, r.FalsePositiveRate, r.TP, r.FP, r.TN, r.FN)
	}
}
