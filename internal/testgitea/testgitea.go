// Package testgitea runs a real Gitea on 127.0.0.1 for the tests of --pr: built by `make
// testbin` from the version pinned in hack/testbin/gitea, with sqlite, an admin user and an
// access token, in a directory of the test's that is removed with the process stopped.
package testgitea

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testbinEnv names the directory of the test binaries when they are not in bin/testbin (as
// internal/testcluster reads it).
const testbinEnv = "KUBECTL_GITOPS_TESTBIN"

// e2eEnv, when set, makes a missing binary fail the test instead of skipping it.
const e2eEnv = "KUBECTL_GITOPS_E2E"

const (
	modulePath = "github.com/kubectl-gitops/kubectl-gitops"
	giteaMod   = "code.gitea.io/gitea"
	// startTimeout bounds the start: migrate, the admin user, the token and the server
	// answering (seconds on an idle machine).
	startTimeout = 2 * time.Minute
	stopGrace    = 10 * time.Second
)

// Server is a running Gitea.
type Server struct {
	// URL is its web and API address, http://127.0.0.1:PORT.
	URL string
	// User and Password are the admin's; Token is an access token of the admin's with every
	// scope.
	User, Password, Token string

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// ErrBinaryMissing says the gitea binary has not been built.
var ErrBinaryMissing = errors.New("gitea binary missing")

// Start runs a Gitea for the test and stops it (and removes its files) when the test ends.
// It skips the test under -short, and when the binary is not built unless $KUBECTL_GITOPS_E2E
// is set, when it fails instead.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the test that needs a Gitea")
	}
	s, err := start(t.TempDir())
	if errors.Is(err, ErrBinaryMissing) && os.Getenv(e2eEnv) == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func start(dir string) (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	static, err := staticRoot()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), User: "gitops", Password: "gitops-test-password", dir: dir, done: make(chan struct{})}
	conf := filepath.Join(dir, "app.ini")
	if err := os.WriteFile(conf, []byte(appIni(dir, static, u.Username, port)), 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--config", conf, "--work-path", dir)...)
		cmd.Env = s.env()
		cmd.Dir = dir
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("gitea %s: %v: %s%s", args[0], err, errOut.String(), out.String())
		}
		return out.String(), nil
	}
	if _, err := run("migrate"); err != nil {
		return nil, err
	}
	if _, err := run("admin", "user", "create", "--admin", "--username", s.User, "--password", s.Password,
		"--email", "gitops@example.com", "--must-change-password=false"); err != nil {
		return nil, err
	}
	tok, err := run("admin", "user", "generate-access-token", "--username", s.User, "--token-name", "tests", "--scopes", "all", "--raw")
	if err != nil {
		return nil, err
	}
	// --raw prints the token alone on its last line; log lines may come before it.
	lines := strings.Fields(tok)
	if len(lines) == 0 {
		return nil, errors.New("gitea admin user generate-access-token printed no token")
	}
	s.Token = lines[len(lines)-1]

	logFile, err := os.Create(filepath.Join(dir, "gitea.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	s.cmd = exec.Command(bin, "web", "--config", conf, "--work-path", dir)
	s.cmd.Env, s.cmd.Dir = s.env(), dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Killed with the test binary, whatever ends it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting gitea: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.logTail())
	}
	return s, nil
}

func (s *Server) env() []string {
	return append(os.Environ(),
		"GITEA_WORK_DIR="+s.dir,
		"GITEA_CUSTOM="+filepath.Join(s.dir, "custom"),
		"HOME="+s.dir,
		// Gitea refuses to run as root otherwise; CI runs as root.
		"GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true")
}

// appIni is the configuration: sqlite, no SSH, no mail, no registration, offline, the
// installation done, templates and locales read from the module's sources (the binary is built
// without bindata).
func appIni(dir, static, runUser string, port int) string {
	return fmt.Sprintf(`APP_NAME = kubectl-gitops tests
RUN_USER = %[3]s
RUN_MODE = prod
WORK_PATH = %[1]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[4]d
ROOT_URL = http://127.0.0.1:%[4]d/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = %[2]s
APP_DATA_PATH = %[1]s/data

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db

[repository]
ROOT = %[1]s/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = kubectl-gitops-tests-secret-key
PASSWORD_HASH_ALGO = pbkdf2_hi

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = %[1]s/log
`, dir, static, runUser, port)
}

// waitReady waits until the API answers, the process ends, or ctx's deadline.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/version", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return errors.New("gitea web exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("gitea web did not answer within %s", startTimeout)
		case <-tick.C:
		}
	}
}

// Stop ends the server: SIGTERM, then SIGKILL after a grace period.
func (s *Server) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(stopGrace):
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
		return nil
	case <-time.After(stopGrace):
		return fmt.Errorf("gitea (pid %d) still runs after SIGKILL", s.cmd.Process.Pid)
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "gitea.log"))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// Do calls the API as the admin (with the token): method, path below /api/v1, a JSON body
// (nil for none); it decodes the JSON answer into out (nil to ignore it) and fails on a
// status of 300 or more.
func (s *Server) Do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+"/api/v1"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "token "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// CreateRepo makes an empty repository NAME of the admin's and returns its clone URL.
func (s *Server) CreateRepo(name string) (string, error) {
	var repo struct {
		CloneURL string `json:"clone_url"`
	}
	err := s.Do(http.MethodPost, "/user/repos", map[string]any{"name": name, "default_branch": "main", "private": false}, &repo)
	return repo.CloneURL, err
}

// CredentialEnv is the environment that lets git push to the server as the admin (a
// credential helper given in GIT_CONFIG_* variables): nothing is written to a repository's
// configuration.
func (s *Server) CredentialEnv() []string {
	helper := fmt.Sprintf("!f() { test \"$1\" = get && printf 'username=%%s\\npassword=%%s\\n' %s %s; }; f", s.User, s.Password)
	return []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=credential." + s.URL + ".helper", "GIT_CONFIG_VALUE_0=" + helper}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// binary is bin/testbin/gitea (or $KUBECTL_GITOPS_TESTBIN/gitea).
func binary() (string, error) {
	dir := os.Getenv(testbinEnv)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin", "testbin")
	}
	p := filepath.Join(dir, "gitea")
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s not found; build it with `make testbin` (hack/testbin/gitea) or point $%s at it", ErrBinaryMissing, p, testbinEnv)
	}
	return p, nil
}

// modCache is the Go module cache as the environment says when the test binary starts: tests
// give themselves another HOME (testrepo.Env), where go would look for an empty one.
var modCache = func() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	if p := os.Getenv("GOPATH"); p != "" {
		return filepath.Join(filepath.SplitList(p)[0], "pkg", "mod")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go", "pkg", "mod")
}()

// staticRoot is the Gitea module's source directory, at the version hack/testbin/gitea pins:
// the binary is built without bindata and reads its templates and locales there.
func staticRoot() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", giteaMod)
	cmd.Dir = filepath.Join(root, "hack", "testbin", "gitea")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOMODCACHE="+modCache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the %s module from %s: %w: %s", giteaMod, cmd.Dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	dir := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(dir, "templates")); err != nil {
		return "", fmt.Errorf("gitea's templates are not in %s (run `make testbin` to download the module): %w", dir, err)
	}
	return dir, nil
}

// repoRoot is the project's root, from this file's place.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the project root")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.Contains(string(b), "module "+modulePath+"\n") {
		return "", fmt.Errorf("%s is not the %s repository", root, modulePath)
	}
	return root, nil
}
