package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

const (
	gitServerName = "git-server"
	// gitURLFile in the cluster's directory holds GitURL while the Git server runs.
	gitURLFile = "git-url"
)

// gitBackend serves the bare repositories under projectRoot, below the URL path prefix ("" for
// /), through git http-backend (gitPath is git's): fetch, and push without authentication.
func gitBackend(gitPath, projectRoot, prefix string) http.Handler {
	return &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Root: prefix,
		Env: []string{
			"GIT_PROJECT_ROOT=" + projectRoot,
			"GIT_HTTP_EXPORT_ALL=1",
			// Pushes come without authentication, which http-backend refuses unless told.
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0=true",
		},
		InheritEnv: []string{"PATH"},
		Stderr:     &bytes.Buffer{}, // http-backend's complaints reach the client; keep test output clean
	}
}

// ServeGit serves the bare repositories under root over HTTP on listen (host:port), fetch and
// push, until ctx ends: the repository ROOT/NAME.git is http://LISTEN/NAME.git. It is the body
// of the program that StartGitServer runs (hack/devcluster serve-git).
func ServeGit(ctx context.Context, listen, root string) error {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("serving Git repositories: %w", err)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening for the Git server: %w", err)
	}
	srv := &http.Server{Handler: gitBackend(gitPath, root, ""), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// StartGitServer serves the bare repositories under root over HTTP on loopback, fetch and push,
// from a process of the cluster's own: recorded with its other processes, stopped by Stop, and,
// for a Detached cluster, outliving this program, so that source-controller keeps fetching what
// ServeRepo's in-process server would stop serving when the program ends. serveGit is the
// command line of a program that calls ServeGit with the --listen HOST:PORT and --root DIR
// appended to it. StartGitServer returns once the server answers, with its URL in GitURL (the
// repository ROOT/NAME.git is GitURL/NAME.git) and in DIR/git-url. It does nothing if the cluster
// runs a Git server already; its log is DIR/git-server.log.
func (c *Cluster) StartGitServer(ctx context.Context, root string, serveGit []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.GitURL != "" {
		return nil
	}
	if len(serveGit) == 0 {
		return errors.New("starting the Git server: no command")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("creating the Git server's root: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	listen := "127.0.0.1:" + strconv.Itoa(ports[0])
	args := append(serveGit[1:len(serveGit):len(serveGit)], "--listen", listen, "--root", root)
	proc, err := c.startProcess(gitServerName, serveGit[0], args, nil)
	if err != nil {
		return err
	}
	url := "http://" + listen
	// Any answer will do: http-backend has nothing to say about / itself.
	if err := waitUntil(ctx, c.opts.Timeout, proc, "waiting for the Git server", func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}); err != nil {
		return errors.Join(err, c.forget(proc))
	}
	if err := writeFileAtomic(filepath.Join(c.Dir, gitURLFile), []byte(url), 0o644); err != nil {
		return err
	}
	c.GitURL = url
	return nil
}
