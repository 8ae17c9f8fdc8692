package reconciler

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	same := [][]string{
		{
			"https://git.example.com/platform/fleet.git",
			"https://git.example.com/platform/fleet",
			"https://git.example.com/platform/fleet/",
			"http://git.example.com/platform/fleet.git/",
			"ssh://git@git.example.com/platform/fleet.git",
			"ssh://git@git.example.com:2222/platform/fleet",
			"git@git.example.com:platform/fleet.git",
			"git.example.com:platform/fleet",
			"https://user:token@GIT.example.com/platform/fleet.git",
			" git+ssh://git@git.example.com/platform/fleet ",
		},
		{"https://github.com/Org/Repo", "git@github.com:org/repo.git"},
	}
	for _, group := range same {
		for _, u := range group[1:] {
			if !SameRepository(group[0], u) {
				t.Errorf("SameRepository(%q, %q) = false (%q vs %q)", group[0], u, NormalizeURL(group[0]), NormalizeURL(u))
			}
		}
	}

	different := [][2]string{
		{"https://git.example.com/platform/fleet", "https://git.example.com/platform/fleet-two"},
		{"https://git.example.com/platform/fleet", "https://other.example.com/platform/fleet"},
		{"https://gitea.example.com/Org/Repo", "https://gitea.example.com/org/repo"},
		{"/srv/git/fleet", "git.example.com:srv/git/fleet"},
	}
	for _, d := range different {
		if SameRepository(d[0], d[1]) {
			t.Errorf("SameRepository(%q, %q) = true", d[0], d[1])
		}
	}

	dir := t.TempDir()
	bare := filepath.Join(dir, "fleet.git")
	if err := os.Mkdir(bare, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, u := range []string{"file://" + bare, bare, bare + "/", "fleet.git", "./fleet", "file://" + filepath.Join(link, "fleet.git")} {
		if !SameRepository(bare, u) {
			t.Errorf("SameRepository(%q, %q) = false (%q vs %q)", bare, u, NormalizeURL(bare), NormalizeURL(u))
		}
	}
}
