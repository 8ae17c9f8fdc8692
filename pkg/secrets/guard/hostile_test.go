package guard

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostileDeadline is how long the guard may take on one hostile file. It finishes each in
// about a second on an idle machine; the margin is for a loaded CI runner.
const hostileDeadline = 30 * time.Second

// checkWithin runs the guard on one file and fails the test unless it returns before the
// deadline.
func checkWithin(t *testing.T, f File) Report {
	t.Helper()
	done := make(chan Report, 1)
	start := time.Now()
	go func() { done <- Check([]File{f}, Options{}) }()
	timer := time.NewTimer(hostileDeadline)
	defer timer.Stop()
	select {
	case rep := <-done:
		t.Logf("%s (%d bytes): %v, %d findings", f.Path, len(f.Data), time.Since(start).Round(time.Millisecond), len(rep.Findings))
		return rep
	case <-timer.C:
		t.Fatalf("the guard did not finish %s (%d bytes) in %v", f.Path, len(f.Data), hostileDeadline)
		return Report{}
	}
}

func repeatLines(n int, line func(i int) string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(line(i))
	}
	return b.String()
}

// TestHostileInput feeds the guard files made to exhaust it: each ends, well within the
// deadline, in findings that name the file, and never in a hang.
func TestHostileInput(t *testing.T) {
	bigValue := strings.Repeat("x", 16<<20)
	for _, tc := range []struct {
		name, data string
		// want is the reason of the finding the file must get, "" for none.
		want string
		// findings is how many findings there must be, the line for those not listed included.
		findings int
	}{{
		name:     "single-line.yaml",
		data:     "apiVersion: v1\nkind: Secret\nmetadata: {name: big}\nstringData: {password: " + bigValue + "}\n",
		want:     "more than the 8 MiB the guard parses, and looks like a Secret",
		findings: 1,
	}, {
		name:     "single-line.json",
		data:     `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"big"},"stringData":{"password":"` + bigValue + `"}}`,
		want:     "more than the 8 MiB the guard parses, and looks like a Secret",
		findings: 1,
	}, {
		name: "single-line-not-a-secret.json",
		data: `{"apiVersion":"v1","kind":"ConfigMap","data":{"blob":"` + bigValue + `"}}`,
	}, {
		// Just under the limit: parsed, with a million values on one line.
		name:     "many-keys.json",
		data:     `{"apiVersion":"v1","kind":"Secret","stringData":{` + repeatLines(7<<20/16, func(i int) string { return fmt.Sprintf(`"k%08d":"%s",`, i, marker[:3]) }) + `"z":"y"}}`,
		want:     "value is not encrypted",
		findings: maxFindingsPerFile + 1,
	}, {
		name: "100k-lines.yaml",
		data: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n" + repeatLines(100000, func(i int) string {
			return fmt.Sprintf("  key-%d: value number %d of a large but harmless ConfigMap\n", i, i)
		}),
	}, {
		name: "100k-lines-of-secrets.yaml",
		data: "apiVersion: v1\nkind: List\nitems:\n" + repeatLines(25000, func(i int) string {
			return fmt.Sprintf("- kind: Secret\n  apiVersion: v1\n  metadata: {name: s%d}\n  stringData: {password: %s-%d}\n", i, marker, i)
		}),
		want:     "value is not encrypted",
		findings: maxFindingsPerFile + 1,
	}, {
		name:     "100k-keys.txt",
		data:     repeatLines(100000, func(int) string { return "AGE-SECRET-KEY-1" + strings.Repeat("Q", 58) + "\n" }),
		want:     "age identity",
		findings: maxFindingsPerFile + 1,
	}, {
		name:     "deep-flow.yaml",
		data:     "apiVersion: v1\nkind: Secret\nstringData: " + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + "\n",
		want:     "does not parse as YAML or JSON (line 3) and looks like a Secret",
		findings: 1,
	}, {
		name:     "deep-json.json",
		data:     `{"kind":"Secret","stringData":` + strings.Repeat(`{"a":`, 200000) + "1" + strings.Repeat("}", 200001),
		want:     "nested more than 100 levels deep",
		findings: 1,
	}, {
		// Billion laughs: nine levels of nine aliases, a few hundred bytes.
		name: "billion-laughs.yaml",
		data: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\nextra:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + repeatLines(9, func(i int) string {
			return fmt.Sprintf("  l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i+1, i+1, i, i, i, i, i, i, i, i, i)
		}),
		want:     "its YAML aliases expand to more than 1000000 values (an alias bomb)",
		findings: 1,
	}, {
		name: "deep-block.yaml",
		data: "apiVersion: v1\nkind: ConfigMap\ndata:\n" + repeatLines(5000, func(i int) string { return strings.Repeat(" ", i+1) + "a:\n" }),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			rep := checkWithin(t, File{Path: "hostile/" + tc.name, Data: []byte(tc.data)})
			if len(rep.Findings) != tc.findings {
				t.Fatalf("%d findings, want %d: %v", len(rep.Findings), tc.findings, first(rep.Findings, 3))
			}
			if tc.want == "" {
				return
			}
			if f := rep.Findings[0]; f.File != "hostile/"+tc.name || !strings.Contains(f.Reason, tc.want) {
				t.Errorf("finding %+v, want one for hostile/%s saying %q", f, tc.name, tc.want)
			}
			if unsafe := strings.Contains(tc.want, "alias bomb"); unsafe != (len(rep.Unsafe) == 1) {
				t.Errorf("unsafe files %v", rep.Unsafe)
			}
			if tc.findings > maxFindingsPerFile {
				if last := rep.Findings[len(rep.Findings)-1]; !strings.HasSuffix(last.Reason, "more findings not listed") {
					t.Errorf("last finding %+v, want the count of those not listed", last)
				}
			}
			if strings.Contains(fmt.Sprint(rep.Findings), marker) {
				t.Error("a finding holds a value")
			}
		})
	}
}

func first(fs []Finding, n int) []Finding {
	return fs[:min(n, len(fs))]
}
