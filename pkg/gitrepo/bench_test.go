package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// BenchmarkCommit commits a one-line change in a repository of 5,000 files, next to `git commit`
// of the same change by the git executable as the anchor.
func BenchmarkCommit(b *testing.B) {
	files := map[string]string{}
	for i := range 5000 {
		files[fmt.Sprintf("apps/app%02d/resource%03d.yaml", i/100, i%100)] = fmt.Sprintf("name: r%d\nreplicas: 1\n", i)
	}
	const target = "apps/app42/resource042.yaml"
	content := func(i int) []byte { return fmt.Appendf(nil, "name: r4242\nreplicas: %d\n", i+2) }
	ctx := context.Background()

	b.Run("kubectl-gitops", func(b *testing.B) {
		tr := newTestRepo(b, files)
		r := tr.open()
		for i := 0; b.Loop(); i++ {
			if _, err := r.Commit(ctx, CommitRequest{Message: "scale r4242",
				Changes: []Change{{Path: target, Content: content(i)}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("git-commit", func(b *testing.B) {
		tr := newTestRepo(b, files)
		path := filepath.Join(tr.dir, filepath.FromSlash(target))
		for i := 0; b.Loop(); i++ {
			if err := os.WriteFile(path, content(i), 0o644); err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command("git", "commit", "-q", "-m", "scale r4242", "--", target)
			cmd.Dir = tr.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	})
}

// BenchmarkLog reads the history of one path in a repository of 10,000 commits with Log (git
// log). With GITREPO_BENCH_GOGIT=1 it also times go-git's path-filtered log, which Log does not
// use: it takes minutes (see Log's comment).
func BenchmarkLog(b *testing.B) {
	tr := newTestRepo(b, nil)
	var stream bytes.Buffer
	for i := range 10000 {
		// Every commit changes one of 200 files; every second one also bumps a shared file.
		path := fmt.Sprintf("apps/app%02d/resource%03d.yaml", i%200/10, i%200)
		msg := fmt.Sprintf("change %d\n\nGitops-Object: v1 ConfigMap ns/c%d\n", i, i%200)
		fmt.Fprintf(&stream, "commit refs/heads/main\ncommitter T <t@example.com> %d +0000\ndata %d\n%s", 1700000000+i, len(msg), msg)
		data := fmt.Sprintf("value: %d\n", i)
		fmt.Fprintf(&stream, "M 100644 inline %s\ndata %d\n%s\n", path, len(data), data)
		if i%2 == 0 {
			fmt.Fprintf(&stream, "M 100644 inline clusters/prod/version.yaml\ndata %d\n%s\n", len(data), data)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = tr.dir
	cmd.Stdin = &stream
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("fast-import: %v\n%s", err, out)
	}
	r := tr.open()
	ctx := context.Background()
	for _, c := range []struct {
		name, path string
		commits    int
	}{{"rare-path", "apps/app07/resource077.yaml", 50}, {"busy-path", "clusters/prod/version.yaml", 5000}} {
		b.Run(c.name+"/git-log", func(b *testing.B) {
			for b.Loop() {
				got, err := r.Log(ctx, []string{c.path}, 0)
				if err != nil || len(got) != c.commits {
					b.Fatalf("%d commits, %v", len(got), err)
				}
			}
		})
		b.Run(c.name+"/go-git", func(b *testing.B) {
			if os.Getenv("GITREPO_BENCH_GOGIT") == "" {
				b.Skip("set GITREPO_BENCH_GOGIT=1 to time go-git's log")
			}
			repo, err := git.PlainOpen(tr.dir)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				iter, err := repo.Log(&git.LogOptions{PathFilter: func(p string) bool { return p == c.path }})
				if err != nil {
					b.Fatal(err)
				}
				var got []CommitInfo
				err = iter.ForEach(func(cm *object.Commit) error {
					got = append(got, CommitInfo{Hash: cm.Hash.String(), Author: cm.Author.Name, Trailers: Trailers(cm.Message)})
					return nil
				})
				if err != nil || len(got) != c.commits {
					b.Fatalf("%d commits, %v", len(got), err)
				}
			}
		})
	}
}
