package gitrepo

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// treeFile is a file of a tree made with git mktree: any mode a tree may hold, old ones included.
type treeFile struct {
	mode    string
	content string // a gitlink's commit hash
}

// mkTree writes the tree holding files with `git mktree`, which keeps their modes as given.
func mkTree(t *testing.T, dir string, files map[string]treeFile) string {
	t.Helper()
	var lines []string
	subdirs := map[string]map[string]treeFile{}
	for p, f := range files {
		if first, rest, ok := strings.Cut(p, "/"); ok {
			if subdirs[first] == nil {
				subdirs[first] = map[string]treeFile{}
			}
			subdirs[first][rest] = f
			continue
		}
		switch f.mode {
		case "160000":
			lines = append(lines, fmt.Sprintf("160000 commit %s\t%s", f.content, p))
		default:
			lines = append(lines, fmt.Sprintf("%s blob %s\t%s", f.mode, hashObject(t, dir, f.content), p))
		}
	}
	for name, sub := range subdirs {
		lines = append(lines, fmt.Sprintf("040000 tree %s\t%s", mkTree(t, dir, sub), name))
	}
	return strings.TrimSpace(gitInput(t, dir, strings.Join(lines, "\n")+"\n", "mktree", "--missing"))
}

func hashObject(t *testing.T, dir, content string) string {
	t.Helper()
	return strings.TrimSpace(gitInput(t, dir, content, "hash-object", "-w", "--stdin"))
}

func gitInput(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	out, err := gitCmd{dir: dir, stdin: strings.NewReader(stdin)}.run(context.Background(), args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// buildTree makes the tree git's read-tree --reset, update-index --index-info and write-tree
// make, hash for hash: new directories several levels deep, directories emptied, executables,
// symbolic links, gitlinks, names that sort differently as files and as directories, and old
// 100664 modes, both beside a change and in a directory left alone.
func TestBuildTreeAsGit(t *testing.T) {
	tr := newTestRepo(t, nil)
	dir := tr.dir
	base := map[string]treeFile{
		"README.md":                     {"100644", "readme\n"},
		"apps/web/deployment.yaml":      {"100644", "replicas: 1\n"},
		"apps/web/old-mode.yaml":        {"100664", "old: mode\n"},
		"apps/web/service.yaml":         {"100644", "port: 80\n"},
		"apps/web-ui/deployment.yaml":   {"100644", "ui: 1\n"},
		"apps/web.yaml":                 {"100644", "file beside the directory\n"},
		"apps/web0":                     {"100644", "sorts after web/\n"},
		"apps/db/only.yaml":             {"100644", "db: 1\n"},
		"apps/db/deep/er/last.yaml":     {"100644", "last\n"},
		"untouched/old-mode.yaml":       {"100664", "left alone\n"},
		"untouched/group-exec.sh":       {"100610", "#!/bin/sh\n"},
		"hack/run.sh":                   {"100755", "#!/bin/sh\necho\n"},
		"hack/link":                     {"120000", "run.sh"},
		"vendor/lib":                    {"160000", "0123456789abcdef0123456789abcdef01234567"},
		"vendor/lib.yaml":               {"100644", "beside a gitlink\n"},
		"clusters/prod/kustomization.y": {"100644", "resources: []\n"},
	}
	baseTree := mkTree(t, dir, base)
	blob := func(s string) plumbing.Hash { return plumbing.NewHash(hashObject(t, dir, s)) }
	cases := map[string][]delta{
		"change a file":            {{path: "apps/web/deployment.yaml", to: entry{filemode.Regular, blob("replicas: 5\n")}}},
		"beside an old mode":       {{path: "apps/web/service.yaml", to: entry{filemode.Regular, blob("port: 81\n")}}},
		"new nested directories":   {{path: "apps/web/hpa/x/y/hpa.yaml", to: entry{filemode.Regular, blob("min: 2\n")}}},
		"new top directory":        {{path: "zz/new/file.yaml", to: entry{filemode.Regular, blob("new\n")}}},
		"names sorting around web": {{path: "apps/web-", to: entry{filemode.Regular, blob("a\n")}}, {path: "apps/web/a", to: entry{filemode.Regular, blob("b\n")}}, {path: "apps/web.a/x", to: entry{filemode.Regular, blob("c\n")}}},
		"empty a directory":        {{path: "apps/db/only.yaml"}, {path: "apps/db/deep/er/last.yaml"}},
		"empty a deep directory":   {{path: "apps/db/deep/er/last.yaml"}},
		"delete what is absent":    {{path: "nothing/here.yaml"}, {path: "apps/none.yaml"}},
		"executable":               {{path: "hack/run.sh", to: entry{filemode.Regular, blob("#!/bin/sh\necho\n")}}, {path: "hack/new.sh", to: entry{filemode.Executable, blob("#!/bin/sh\n")}}},
		"symbolic links":           {{path: "hack/link", to: entry{filemode.Symlink, blob("other.sh")}}, {path: "apps/web/link", to: entry{filemode.Symlink, blob("../db")}}},
		"beside a gitlink":         {{path: "vendor/lib.yaml", to: entry{filemode.Regular, blob("changed\n")}}},
		"in an old-mode directory": {{path: "untouched/new.yaml", to: entry{filemode.Regular, blob("new\n")}}},
		"many at once": {
			{path: "README.md", to: entry{filemode.Regular, blob("readme 2\n")}},
			{path: "apps/web/old-mode.yaml"},
			{path: "clusters/prod/kustomization.y", to: entry{filemode.Regular, blob("resources: [a]\n")}},
			{path: "clusters/staging/kustomization.yaml", to: entry{filemode.Regular, blob("resources: []\n")}},
		},
	}
	var all []delta
	for p := range base {
		all = append(all, delta{path: p})
	}
	cases["delete everything"] = all

	r := tr.open()
	s := r.storage()
	tree, err := object.GetTree(s, plumbing.NewHash(baseTree))
	if err != nil {
		t.Fatal(err)
	}
	baseTrees := map[string]bool{}
	for _, line := range strings.Split(gitIn(t, dir, "ls-tree", "-r", "-t", baseTree), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "tree" {
			baseTrees[f[2]] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		deltas := cases[name]
		t.Run(name, func(t *testing.T) {
			index := filepath.Join(t.TempDir(), "index")
			env := []string{"GIT_INDEX_FILE=" + index}
			ctx := context.Background()
			for _, args := range [][]string{{"read-tree", "--reset", baseTree}, {"update-index", "-z", "--index-info"}} {
				if _, err := (gitCmd{dir: dir, env: env, stdin: indexInfo(deltas, nil)}).run(ctx, args...); err != nil {
					t.Fatal(err)
				}
			}
			out, err := gitCmd{dir: dir, env: env}.run(ctx, "write-tree")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimSpace(string(out))
			mem := memory.NewStorage()
			got, err := buildTree(s, mem, tree, deltas)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != want {
				t.Errorf("tree %s, git writes %s:\n%s", got, want, gitIn(t, dir, "ls-tree", "-r", "-t", want))
			}
			// Each tree of it is one buildTree made, or one of the base.
			for _, line := range strings.Split(strings.TrimSpace(gitIn(t, dir, "ls-tree", "-r", "-t", want)), "\n") {
				if f := strings.Fields(line); len(f) > 3 && f[1] == "tree" && mem.HasEncodedObject(plumbing.NewHash(f[2])) != nil && !baseTrees[f[2]] {
					t.Errorf("tree %s (%s) was not made", f[2], f[3])
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "index")); err == nil {
		t.Error("the repository's index was written")
	}
}
