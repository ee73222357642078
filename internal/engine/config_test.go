package engine

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	a := pc("a", 1, 2, 0)
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; nil means valid
	}{
		{"one partition", Config{MaxConns: 2, Parts: []PartConfig{a}}, nil},
		{"guarantees fill MaxConns", Config{MaxConns: 2, Parts: []PartConfig{pc("a", 1, 2, 3), pc("b", 1, 1, 0)}}, nil},
		{"no guarantees", Config{MaxConns: 1, Parts: []PartConfig{pc("a", 0, 1, 0), pc("b", 0, 1, 0)}}, nil},
		{"MaxConns zero", Config{MaxConns: 0, Parts: []PartConfig{a}}, []string{"MaxConns is 0", "at least 1"}},
		{"MaxConns negative", Config{MaxConns: -3, Parts: []PartConfig{a}}, []string{"MaxConns is -3", "at least 1"}},
		{"MaxConns above what ids can name", Config{MaxConns: MaxSlots + 1, Parts: []PartConfig{a}}, []string{"MaxConns is 16777215", "at most 16777214"}},
		{"no partitions", Config{MaxConns: 1}, []string{"no partitions", "configure at least one"}},
		{"no name", Config{MaxConns: 2, Parts: []PartConfig{pc("", 0, 1, 0)}}, []string{"no name", "unique name"}},
		{"duplicate name", Config{MaxConns: 4, Parts: []PartConfig{a, a}}, []string{`"a"`, "twice", "must be unique"}},
		{"negative guarantee", Config{MaxConns: 2, Parts: []PartConfig{pc("a", -1, 1, 0)}}, []string{`"a"`, "Guaranteed is -1", "0 or more"}},
		{"Max zero", Config{MaxConns: 2, Parts: []PartConfig{pc("a", 0, 0, 0)}}, []string{`"a"`, "Max is 0", "at least 1"}},
		{"Max above MaxConns", Config{MaxConns: 2, Parts: []PartConfig{pc("a", 0, 3, 0)}}, []string{`"a"`, "Max 3", "MaxConns 2", "lower Max or raise MaxConns"}},
		{"guarantee above Max", Config{MaxConns: 4, Parts: []PartConfig{pc("a", 3, 2, 0)}}, []string{`"a"`, "Guaranteed 3", "Max 2", "lower Guaranteed or raise Max"}},
		{"negative MaxWaiting", Config{MaxConns: 2, Parts: []PartConfig{pc("a", 0, 1, -1)}}, []string{`"a"`, "MaxWaiting is -1", "0 or more"}},
		{"guarantees above MaxConns", Config{MaxConns: 3, Parts: []PartConfig{pc("a", 2, 2, 0), pc("b", 2, 3, 0)}}, []string{"add up to 4", "MaxConns 3", "lower a Guaranteed or raise MaxConns"}},
		{"second partition reported", Config{MaxConns: 2, Parts: []PartConfig{a, pc("b", 0, 5, 0)}}, []string{`"b"`, "Max 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			_, newErr := New[*fakeRes](tt.cfg)
			if tt.want == nil {
				if err != nil || newErr != nil {
					t.Fatalf("Validate = %v, New = %v; want both nil", err, newErr)
				}
				return
			}
			if err == nil || newErr == nil {
				t.Fatalf("Validate = %v, New = %v; want errors", err, newErr)
			}
			if newErr.Error() != err.Error() {
				t.Errorf("New error %q differs from Validate error %q", newErr, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestAdmissible(t *testing.T) {
	tests := []struct {
		name     string
		maxConns int
		parts    []PartConfig
		held     []int
		want     []bool // per partition
	}{
		{"empty", 2, []PartConfig{pc("a", 1, 2, 0), pc("b", 0, 2, 0)}, []int{0, 0}, []bool{true, true}},
		{"at Max", 3, []PartConfig{pc("a", 1, 1, 0), pc("b", 0, 2, 0)}, []int{1, 2}, []bool{false, false}},
		{"within guarantee though the pool is full", 2, []PartConfig{pc("a", 1, 2, 0), pc("b", 0, 2, 0)}, []int{0, 1}, []bool{true, false}},
		{"borrowing free capacity", 3, []PartConfig{pc("a", 1, 3, 0), pc("b", 1, 3, 0)}, []int{1, 0}, []bool{true, true}},
		{"borrowing would take a guarantee", 3, []PartConfig{pc("a", 1, 3, 0), pc("b", 1, 3, 0)}, []int{2, 0}, []bool{false, true}},
		{"Max equals MaxConns yet a guarantee is reserved", 3, []PartConfig{pc("a", 0, 3, 0), pc("b", 1, 1, 0)}, []int{2, 0}, []bool{false, true}},
		{"used guarantee reserves nothing", 3, []PartConfig{pc("a", 0, 3, 0), pc("b", 1, 1, 0)}, []int{1, 1}, []bool{true, false}},
		{"no guarantees, full", 2, []PartConfig{pc("a", 0, 2, 0), pc("b", 0, 2, 0)}, []int{1, 1}, []bool{false, false}},
		{"partly used guarantee", 4, []PartConfig{pc("a", 3, 4, 0), pc("b", 0, 4, 0)}, []int{1, 1}, []bool{true, false}},
		{"over guarantee counts once", 5, []PartConfig{pc("a", 1, 5, 0), pc("b", 1, 5, 0), pc("c", 1, 2, 0)}, []int{3, 0, 0}, []bool{false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, tt.maxConns, tt.parts...)
			for i, n := range tt.held {
				e.parts[i].held.Store(int64(n))
			}
			for i, p := range e.parts {
				if got := e.admissible(p); got != tt.want[i] {
					t.Errorf("partition %s with held %v: admissible = %v, want %v", p.cfg.Name, tt.held, got, tt.want[i])
				}
				// The fast path counts no lease the rule refuses, but where
				// no other partition has a guarantee: there the idle slot
				// its caller takes is the lease's place.
				if p.reserveFast() {
					if !tt.want[i] && (!p.solo || tt.held[i] >= p.cfg.Max) {
						t.Errorf("partition %s with held %v: reserveFast counted a lease admissible refuses", p.cfg.Name, tt.held)
					}
					p.held.Add(-1)
				}
			}
		})
	}
}
