package gitrepo

import (
	"context"
	"reflect"
	"testing"
)

func TestLog(t *testing.T) {
	tr := newTestRepo(t, baseFiles())
	r := tr.open()
	ctx := context.Background()
	commit := func(path, content, subject, object string) string {
		t.Helper()
		res, err := r.Commit(ctx, CommitRequest{
			Message: FormatMessage(subject, []string{"changed " + path},
				[][2]string{{"Gitops-Object", object}, {"Gitops-Target", "staging"}}),
			Changes: []Change{{Path: path, Content: []byte(content)}}, Now: fixedNow,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Hash
	}
	a := commit("apps/web/deployment.yaml", "replicas: 4\n", "scale web to 4", "apps/v1 Deployment shop/web")
	commit("apps/db/statefulset.yaml", "replicas: 2\n", "scale db to 2", "apps/v1 StatefulSet shop/db")
	c := commit("apps/web/deployment.yaml", "replicas: 5\n", "scale web to 5", "apps/v1 Deployment shop/web")
	d := commit("apps/web/service.yaml", "port: 81\n", "set web port", "v1 Service shop/web")

	got, err := r.Log(ctx, []string{"apps/web/deployment.yaml"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Hash != c || got[1].Hash != a || got[2].Subject != "initial" {
		t.Fatalf("Log = %+v", got)
	}
	first := got[0]
	if first.Author != "Test User" || first.Email != "test@example.com" || !first.When.Equal(fixedNow()) ||
		first.Subject != "scale web to 5" {
		t.Errorf("commit info %+v", first)
	}
	want := map[string][]string{"Gitops-Object": {"apps/v1 Deployment shop/web"}, "Gitops-Target": {"staging"}}
	if !reflect.DeepEqual(first.Trailers, want) {
		t.Errorf("trailers %v", first.Trailers)
	}
	if first.Body != "changed apps/web/deployment.yaml\n\nGitops-Object: apps/v1 Deployment shop/web\nGitops-Target: staging" {
		t.Errorf("body %q", first.Body)
	}
	if got, _ := r.Log(ctx, []string{"apps/web/service.yaml", "apps/db"}, 2); len(got) != 2 || got[0].Hash != d {
		t.Errorf("two paths, max 2: %+v", got)
	}
	if got, _ := r.Log(ctx, []string{"apps/web"}, 0); len(got) != 4 {
		t.Errorf("directory: %d commits, want 4", len(got))
	}
	if got, _ := r.Log(ctx, nil, 0); len(got) != 5 {
		t.Errorf("all: %d commits, want 5", len(got))
	}
	if got, err := newTestRepo(t, nil).open().Log(ctx, nil, 0); err != nil || len(got) != 0 {
		t.Errorf("empty repository: %v %v", got, err)
	}
}

func TestTrailers(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want map[string][]string
	}{
		{"subject\n\nbody\n\nGitops-Object: apps/v1 Deployment a/b\nGitops-Target: prod\nGitops-Target: staging\n",
			map[string][]string{"Gitops-Object": {"apps/v1 Deployment a/b"}, "Gitops-Target": {"prod", "staging"}}},
		{"subject\n\nSigned-off-by: A <a@x>\n  continued\n(cherry picked from commit 123)\n",
			map[string][]string{"Signed-off-by": {"A <a@x> continued"}}},
		{"Gitops-Object: only a subject\n", map[string][]string{}},
		{"subject\n\nbody that is prose\nGitops-Object: x\n", map[string][]string{}},
		{"subject\n\nGitops-Object: x\n\nmore prose after\n", map[string][]string{}},
	} {
		if got := Trailers(c.msg); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Trailers(%q) = %v, want %v", c.msg, got, c.want)
		}
	}
}

func TestFormatMessage(t *testing.T) {
	got := FormatMessage("scale deployment shop/web to 5 replicas (staging)",
		[]string{"spec.replicas: 3 -> 5", "in apps/web/deployment.yaml"},
		[][2]string{{"Gitops-Object", "apps/v1 Deployment shop/web"}, {"Gitops-Target", "staging"}})
	want := "scale deployment shop/web to 5 replicas (staging)\n\nspec.replicas: 3 -> 5\nin apps/web/deployment.yaml\n\n" +
		"Gitops-Object: apps/v1 Deployment shop/web\nGitops-Target: staging\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := FormatMessage("subject\nsecond line", nil, nil); got != "subject second line\n" {
		t.Errorf("subject only: %q", got)
	}
	if got := FormatMessage("s", nil, [][2]string{{"K", "v"}}); got != "s\n\nK: v\n" || Trailers(got)["K"][0] != "v" {
		t.Errorf("trailers only: %q", got)
	}
}
