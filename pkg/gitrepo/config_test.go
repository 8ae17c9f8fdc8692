package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseConfigLikeGit parses awkward syntax and compares with `git config --list`.
func TestParseConfigLikeGit(t *testing.T) {
	src := "\uFEFF# comment\n; other comment\n[user]\n\tname = \"  Quoted  Name \" # trailing comment\n" +
		"\temail=a@b.c;comment\n[core]\n\tbare\n\tlogAllRefUpdates = false\n" +
		"[Section \"Sub \\\"quoted\\\" \\\\ part\"]\n\tKey = value with \\\"escapes\\\" and \\t tab \\\\ end\n" +
		"[old.Style]\n\tkey = continued \\\n  line\n[a-b]\n\tx-y = 1 2   3   \n\tempty =\n\twin = crlf\r\n"
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "config", "--file", p, "--list", "-z").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	var got []string
	err = parseConfig([]byte(src), func(e configEntry) error {
		key := e.section + "."
		if e.subsection != "" {
			key += e.subsection + "."
		}
		key += e.name
		if !e.noValue {
			key += "\n" + e.value
		}
		got = append(got, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\ngit says\n%q", got, want)
	}
	for _, bad := range []string{"[user\nname = x\n", "name = x\n", "[user]\nname = \"open\n", "[user]\nname = bad \\q\n"} {
		if err := parseConfig([]byte(bad), func(configEntry) error { return nil }); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}

func TestWildmatch(t *testing.T) {
	for _, c := range []struct {
		pattern, text string
		fold, want    bool
	}{
		{"**/work/**", "/home/u/work/repo/.git", false, true},
		{"/home/u/work/**", "/home/u/work/a/b/.git", false, true},
		{"/home/u/*/.git", "/home/u/a/b/.git", false, false},
		{"/home/u/*/.git", "/home/u/a/.git", false, true},
		{"/Home/U/**", "/home/u/x", true, true},
		{"/Home/U/**", "/home/u/x", false, false},
		{"ma?n", "main", false, true},
		{"release/[0-9]*", "release/1.2", false, true},
		{"release/[!0-9]*", "release/1.2", false, false},
	} {
		if got := wildmatch(c.pattern, c.text, c.fold); got != c.want {
			t.Errorf("wildmatch(%q, %q, %v) = %v", c.pattern, c.text, c.fold, got)
		}
	}
}
