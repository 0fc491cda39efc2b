package inspect_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

type stage struct {
	name string
	err  error
	ran  *[]string
}

func (s stage) Name() string { return s.name }
func (s stage) Request(_ context.Context, _ *inspect.Exchange) error {
	*s.ran = append(*s.ran, s.name)
	return s.err
}

func TestChainOrderBlockAndFailClosed(t *testing.T) {
	block := &inspect.Block{Status: 400, Code: "policy_violation", RuleID: "PI-001", Message: "no"}
	deny := &inspect.Block{Status: 401, Code: "invalid_api_key", Message: "no"}
	for _, tc := range []struct {
		name    string
		errs    []error
		ran     []string
		verdict bulwark.Verdict
		isBlock bool
		isStage bool
	}{
		{"all pass", []error{nil, nil, nil}, []string{"a", "b", "c"}, bulwark.VerdictAllow, false, false},
		{"block stops", []error{nil, block, nil}, []string{"a", "b"}, bulwark.VerdictBlock, true, false},
		{"deny is not a policy block", []error{deny, nil, nil}, []string{"a"}, bulwark.VerdictDeny, true, false},
		{"failure fails closed", []error{errors.New("db down"), nil, nil}, []string{"a"}, bulwark.VerdictError, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			c := inspect.NewChain(stage{"a", tc.errs[0], &ran}, stage{"b", tc.errs[1], &ran}, stage{"c", tc.errs[2], &ran})
			x := &inspect.Exchange{}
			err := c.Request(context.Background(), x)
			if len(ran) != len(tc.ran) {
				t.Fatalf("ran %v, want %v", ran, tc.ran)
			}
			for i := range ran {
				if ran[i] != tc.ran[i] {
					t.Fatalf("ran %v, want %v", ran, tc.ran)
				}
			}
			if x.Verdict != tc.verdict {
				t.Errorf("verdict %q, want %q", x.Verdict, tc.verdict)
			}
			var b *inspect.Block
			if errors.As(err, &b) != tc.isBlock {
				t.Errorf("block = %v, err %v", !tc.isBlock, err)
			}
			if errors.Is(err, inspect.ErrStage) != tc.isStage {
				t.Errorf("ErrStage = %v, err %v", !tc.isStage, err)
			}
			if tc.isBlock && x.Blocked == nil {
				t.Errorf("Blocked not recorded")
			}
			if len(x.Timings) != len(tc.ran) {
				t.Errorf("timings %d, want %d", len(x.Timings), len(tc.ran))
			}
		})
	}
}

func TestFinishRunsOnceInReverse(t *testing.T) {
	x := &inspect.Exchange{}
	var got []int
	x.OnFinish(func(inspect.Outcome) { got = append(got, 1) })
	x.OnFinish(func(inspect.Outcome) { got = append(got, 2) })
	x.Finish(inspect.Outcome{})
	x.Finish(inspect.Outcome{})
	if len(got) != 2 || got[0] != 2 || got[1] != 1 {
		t.Fatalf("finish order %v", got)
	}
}

func TestAddFindingsVerdict(t *testing.T) {
	x := &inspect.Exchange{Verdict: bulwark.VerdictAllow}
	x.AddFindings([]bulwark.Finding{{Action: bulwark.ActionMonitor}})
	if x.Verdict != bulwark.VerdictMonitor {
		t.Fatalf("verdict %q", x.Verdict)
	}
	x.AddFindings([]bulwark.Finding{{Action: bulwark.ActionRedact}})
	if x.Verdict != bulwark.VerdictRedact {
		t.Fatalf("verdict %q", x.Verdict)
	}
	x.AddFindings([]bulwark.Finding{{Action: bulwark.ActionMonitor}})
	if x.Verdict != bulwark.VerdictRedact {
		t.Fatalf("monitor after redact lowered verdict to %q", x.Verdict)
	}
}
