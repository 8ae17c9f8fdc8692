package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// The GitHub and GitLab tests run the providers' client libraries against recorded exchanges:
// each request the client must make (method, path, the query and JSON body fields that matter,
// the token's header) and the answer the forge gives, written after each provider's published
// REST API description (GitHub: docs.github.com/rest/pulls, /rest/issues/labels; GitLab:
// docs.gitlab.com/api/merge_requests, /api/users). A request out of order or not recorded
// fails the test.

const testToken = "tok-0123456789abcdef"

type exchange struct {
	method, path string
	// query holds the query parameters that must be there, with these values.
	query url.Values
	// body holds the JSON body's fields that must be there, with these values.
	body map[string]any
	// status and reply are the forge's answer.
	status int
	reply  string
}

// recorder serves the exchanges in order.
type recorder struct {
	t        *testing.T
	header   string // the header that carries the token
	want     string // its value
	mu       sync.Mutex
	script   *[]exchange // set after the server starts: the answers hold its address
	served   int
	failures []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fail := func(format string, args ...any) {
		r.failures = append(r.failures, req.Method+" "+req.URL.String()+": "+strings.TrimSpace(sprintf(format, args...)))
		w.WriteHeader(http.StatusTeapot)
	}
	if r.served >= len(*r.script) {
		fail("not recorded (after %d exchanges)", r.served)
		return
	}
	e := (*r.script)[r.served]
	r.served++
	path := req.URL.EscapedPath()
	if req.Method != e.method || path != e.path {
		fail("want %s %s", e.method, e.path)
		return
	}
	if got := req.Header.Get(r.header); got != r.want {
		fail("header %s is %q, want the token", r.header, got)
		return
	}
	for k, vs := range e.query {
		if got := req.URL.Query()[k]; !reflect.DeepEqual(got, vs) {
			fail("query %s=%v, want %v", k, got, vs)
			return
		}
	}
	if e.body != nil {
		b, _ := io.ReadAll(req.Body)
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			// An array body (GitHub's labels) is checked under the key "".
			var arr any
			if json.Unmarshal(b, &arr) != nil {
				fail("body is not JSON: %s", b)
				return
			}
			got = map[string]any{"": arr}
		}
		for k, v := range e.body {
			if !reflect.DeepEqual(got[k], v) {
				fail("body field %s is %#v, want %#v (body %s)", k, got[k], v, b)
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, e.reply)
}

func sprintf(format string, args ...any) string {
	return strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
}

// serve starts a recorded forge playing script and checks at the end that every exchange was
// made.
func serve(t *testing.T, header, want string, script *[]exchange) string {
	t.Helper()
	r := &recorder{t: t, header: header, want: want, script: script}
	s := httptest.NewServer(r)
	t.Cleanup(func() {
		s.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, f := range r.failures {
			t.Error(f)
		}
		if r.served != len(*r.script) {
			t.Errorf("%d of %d recorded exchanges made", r.served, len(*r.script))
		}
	})
	return s.URL
}

func remoteAt(t *testing.T, provider, web, project string) Remote {
	t.Helper()
	r, err := ParseRemote(web+"/"+project+".git", target.ReviewConfig{Provider: provider, URL: web})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var baseRequest = Request{Title: "scale deployment shop/web to 5 replicas (staging)", Body: "the body", Head: "gitops/scale-deployment-web-abc123", Base: "main"}

// GitHub's answers, as its REST API documents them (trimmed to the fields read).
const (
	ghPR7        = `{"number":7,"state":"open","html_url":"%s/o/r/pull/7","head":{"ref":"gitops/scale-deployment-web-abc123"},"base":{"ref":"main"}}`
	ghBadCreds   = `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`
	ghNotFound   = `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/pulls/pulls#list-pull-requests","status":"404"}`
	ghExists     = `{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:gitops/scale-deployment-web-abc123."}],"documentation_url":"https://docs.github.com/rest/pulls/pulls#create-a-pull-request","status":"422"}`
	ghListPath   = "/api/v3/repos/o/r/pulls"
	ghLabelsPath = "/api/v3/repos/o/r/issues/7/labels"
)

func ghList(reply string) exchange {
	return exchange{method: "GET", path: ghListPath, query: url.Values{"state": {"open"}, "head": {"o:gitops/scale-deployment-web-abc123"}, "base": {"main"}}, status: 200, reply: reply}
}

func TestGitHubRecorded(t *testing.T) {
	var web string
	pr7 := func() string { return fmt.Sprintf(ghPR7, web) }
	for _, tc := range []struct {
		name   string
		req    func(Request) Request
		script func() []exchange
		want   Result
		err    []string // substrings of the error
		status int
	}{
		{name: "create", script: func() []exchange {
			return []exchange{ghList("[]"),
				{method: "POST", path: ghListPath, body: map[string]any{"title": baseRequest.Title, "head": baseRequest.Head, "base": "main", "body": "the body", "draft": false}, status: 201, reply: pr7()}}
		}, want: Result{Provider: GitHub, Action: Created, Number: 7, URL: "/o/r/pull/7"}},
		{name: "draft, reviewers and labels", req: func(r Request) Request {
			r.Draft, r.Reviewers, r.Labels = true, []string{"alice", "acme/platform"}, []string{"gitops", "needs-review"}
			return r
		}, script: func() []exchange {
			return []exchange{ghList("[]"),
				{method: "POST", path: ghListPath, body: map[string]any{"draft": true}, status: 201, reply: pr7()},
				{method: "POST", path: "/api/v3/repos/o/r/pulls/7/requested_reviewers", body: map[string]any{"reviewers": []any{"alice"}, "team_reviewers": []any{"platform"}}, status: 201, reply: pr7()},
				{method: "POST", path: ghLabelsPath, body: map[string]any{"": []any{"gitops", "needs-review"}}, status: 200, reply: `[{"id":1,"name":"gitops"},{"id":2,"name":"needs-review"}]`}}
		}, want: Result{Provider: GitHub, Action: Created, Number: 7, URL: "/o/r/pull/7"}},
		{name: "update", req: func(r Request) Request {
			r.Labels = []string{"gitops"}
			return r
		}, script: func() []exchange {
			return []exchange{ghList("[" + pr7() + "]"),
				{method: "PATCH", path: "/api/v3/repos/o/r/pulls/7", body: map[string]any{"body": "the body"}, status: 200, reply: pr7()},
				{method: "POST", path: ghLabelsPath, body: map[string]any{"": []any{"gitops"}}, status: 200, reply: `[{"id":1,"name":"gitops"}]`}}
		}, want: Result{Provider: GitHub, Action: Updated, Number: 7, URL: "/o/r/pull/7"}},
		{name: "401", script: func() []exchange {
			return []exchange{{method: "GET", path: ghListPath, status: 401, reply: ghBadCreds}}
		}, status: 401, err: []string{"GitHub answered 401 Unauthorized: Bad credentials", "the token was refused", "GITHUB_TOKEN or GH_TOKEN"}},
		{name: "404", script: func() []exchange {
			return []exchange{{method: "GET", path: ghListPath, status: 404, reply: ghNotFound}}
		}, status: 404, err: []string{"GitHub answered 404 Not Found", "o/r does not exist on 127.0.0.1", "or the token cannot see it"}},
		{name: "422 already exists", script: func() []exchange {
			return []exchange{ghList("[]"), {method: "POST", path: ghListPath, status: 422, reply: ghExists}}
		}, status: 422, err: []string{"opening a pull request from gitops/scale-deployment-web-abc123 into main", "422 Unprocessable Entity: Validation Failed: A pull request already exists for o:gitops/scale-deployment-web-abc123.", "exists and is not open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var script []exchange
			web = serve(t, "Authorization", "Bearer "+testToken, &script)
			script = tc.script()
			req := baseRequest
			if tc.req != nil {
				req = tc.req(req)
			}
			res, err := Open(context.Background(), Options{Remote: remoteAt(t, GitHub, web, "o/r"), Token: testToken}, req)
			check(t, web, res, err, tc.want, tc.status, tc.err)
		})
	}
}

// GitLab's answers, as its REST API documents them (trimmed to the fields read).
const (
	glMR3      = `{"id":103,"iid":3,"state":"opened","source_branch":"gitops/scale-deployment-web-abc123","target_branch":"main","web_url":"%s/group/sub/repo/-/merge_requests/3","reviewers":[{"id":7,"username":"bob"}]}`
	glProject  = "/api/v4/projects/group%2Fsub%2Frepo/merge_requests"
	glUnauth   = `{"message":"401 Unauthorized"}`
	glNotFound = `{"message":"404 Project Not Found"}`
	glExists   = `{"message":["Another open merge request already exists for this source branch: !3"]}`
)

func glList(reply string) exchange {
	return exchange{method: "GET", path: glProject, query: url.Values{"state": {"opened"}, "source_branch": {baseRequest.Head}, "target_branch": {"main"}}, status: 200, reply: reply}
}

func TestGitLabRecorded(t *testing.T) {
	var web string
	mr3 := func() string { return fmt.Sprintf(glMR3, web) }
	alice := exchange{method: "GET", path: "/api/v4/users", query: url.Values{"username": {"alice"}}, status: 200, reply: `[{"id":42,"username":"alice"}]`}
	for _, tc := range []struct {
		name   string
		req    func(Request) Request
		script func() []exchange
		want   Result
		err    []string
		status int
	}{
		{name: "create", script: func() []exchange {
			return []exchange{glList("[]"),
				{method: "POST", path: glProject, body: map[string]any{"title": baseRequest.Title, "description": "the body", "source_branch": baseRequest.Head, "target_branch": "main"}, status: 201, reply: mr3()}}
		}, want: Result{Provider: GitLab, Action: Created, Number: 3, URL: "/group/sub/repo/-/merge_requests/3"}},
		{name: "draft, reviewers and labels", req: func(r Request) Request {
			r.Draft, r.Reviewers, r.Labels = true, []string{"@alice"}, []string{"gitops", "needs-review"}
			return r
		}, script: func() []exchange {
			return []exchange{glList("[]"), alice,
				{method: "POST", path: glProject, body: map[string]any{"title": "Draft: " + baseRequest.Title, "labels": "gitops,needs-review", "reviewer_ids": []any{42.0}}, status: 201, reply: mr3()}}
		}, want: Result{Provider: GitLab, Action: Created, Number: 3, URL: "/group/sub/repo/-/merge_requests/3"}},
		{name: "update", req: func(r Request) Request {
			r.Reviewers, r.Labels = []string{"alice"}, []string{"gitops"}
			return r
		}, script: func() []exchange {
			return []exchange{glList("[" + mr3() + "]"),
				{method: "GET", path: glProject + "/3", status: 200, reply: mr3()}, alice,
				{method: "PUT", path: glProject + "/3", body: map[string]any{"description": "the body", "add_labels": "gitops", "reviewer_ids": []any{42.0, 7.0}}, status: 200, reply: mr3()}}
		}, want: Result{Provider: GitLab, Action: Updated, Number: 3, URL: "/group/sub/repo/-/merge_requests/3"}},
		{name: "401", script: func() []exchange {
			return []exchange{{method: "GET", path: glProject, status: 401, reply: glUnauth}}
		}, status: 401, err: []string{"GitLab answered 401 Unauthorized", "the token was refused", "GITLAB_TOKEN"}},
		{name: "404", script: func() []exchange {
			return []exchange{{method: "GET", path: glProject, status: 404, reply: glNotFound}}
		}, status: 404, err: []string{"GitLab answered 404 Not Found", "group/sub/repo does not exist on 127.0.0.1"}},
		{name: "409 already exists", script: func() []exchange {
			return []exchange{glList("[]"), {method: "POST", path: glProject, status: 409, reply: glExists}}
		}, status: 409, err: []string{"opening a merge request", "409 Conflict", "Another open merge request already exists for this source branch: !3", "a merge request for this branch exists"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var script []exchange
			web = serve(t, "PRIVATE-TOKEN", testToken, &script)
			script = tc.script()
			req := baseRequest
			if tc.req != nil {
				req = tc.req(req)
			}
			res, err := Open(context.Background(), Options{Remote: remoteAt(t, GitLab, web, "group/sub/repo"), Token: testToken}, req)
			check(t, web, res, err, tc.want, tc.status, tc.err)
		})
	}
}

// check compares Open's answer with the expected result (URL relative to the forge's address)
// or error, which must be an *APIError with the status and never quote the token.
func check(t *testing.T, web string, res *Result, err error, want Result, status int, msgs []string) {
	t.Helper()
	if status != 0 {
		var api *APIError
		if !errors.As(err, &api) || api.Status != status {
			t.Fatalf("error %v, want an *APIError with status %d", err, status)
		}
		for _, m := range msgs {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("error %q lacks %q", err, m)
			}
		}
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("error quotes the token: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	want.URL = web + want.URL
	if *res != want {
		t.Errorf("result %+v, want %+v", *res, want)
	}
}
