package routing

import (
	"fmt"
	"testing"
)

// bigTable is 200 rules of every kind: per account, user and department, by country,
// prefix, length and pattern; the catch-all is last.
func bigTable(b *testing.B) *Table {
	var rules []Rule
	for i := range 199 {
		id := int64(i + 1)
		var r Rule
		switch i % 5 {
		case 0:
			r = allowRule(id, i, Who{Kind: WhoAccount, Value: fmt.Sprintf("agent-%d", i)}, anywhere, number(numSales), 1, 2)
		case 1:
			r = allowRule(id, i, Who{Kind: WhoUser, Value: fmt.Sprint(1000 + i)}, Dest{CountryCodes: []string{"44", "49"}}, userDefault, 1)
		case 2:
			r = allowRule(id, i, Who{Kind: WhoDepartment, Value: fmt.Sprintf("team %d", i)}, Dest{Prefixes: []string{"0700", "+4870"}}, withheld, 3)
		case 3:
			r = denyRule(id, i, anyone, Dest{Prefixes: []string{fmt.Sprintf("09%02d", i%100)}, MinLength: 10}, 0, "")
		case 4:
			r = denyRule(id, i, anyone, Dest{Pattern: fmt.Sprintf("_0[5-8]%02dXXXX.", i%100)}, 603, "")
		}
		rules = append(rules, r)
	}
	rules = append(rules, allowRule(200, 200, anyone, anywhere, userDefault, 1, 2))
	o := testOptions()
	for i := range 100 {
		o.ProjectNumbers = append(o.ProjectNumbers, fmt.Sprintf("+4822100%04d", 1000+i))
	}
	tab, err := NewTable(rules, o)
	if err != nil {
		b.Fatal(err)
	}
	return tab
}

// BenchmarkRoute: the target is well under 10 µs per decision with 200 rules.
func BenchmarkRoute(b *testing.B) {
	tab := bigTable(b)
	cases := []struct {
		name    string
		caller  Caller
		dialled string
	}{
		{"last rule of 200", ann, "0221234567"},
		{"last rule of 200, E.164 dialled", ann, "+48 22 123 45 67"},
		{"first rule", Caller{Account: "agent-0", UserID: 1, MayDialAny: true}, "0221234567"},
		{"emergency", eve, "112"},
		{"blocked", eve, "0221234567"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d := tab.Route(c.caller, c.dialled); d.Reason == "" {
					b.Fatal("no decision")
				}
			}
		})
	}
}

func BenchmarkExplain(b *testing.B) {
	tab := bigTable(b)
	b.ReportAllocs()
	for b.Loop() {
		if ex := tab.Explain(ann, "0221234567"); len(ex.Trace) != 200 {
			b.Fatalf("trace of %d steps", len(ex.Trace))
		}
	}
}

func BenchmarkNewTable(b *testing.B) {
	tab := bigTable(b)
	rules := tab.Rules()
	o := testOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewTable(rules, o); err != nil {
			b.Fatal(err)
		}
	}
}
