package history

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
)

// zeroHash is git's name for "no blob": the side of a change where the file does not exist.
const zeroHash = "0000000000000000000000000000000000000000"

// gitCmd is git with the options that keep the output machine-readable whatever the user's
// configuration says, and literal pathspecs.
func gitCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	full := append([]string{"--literal-pathspecs", "-c", "log.showSignature=false", "-c", "log.follow=false",
		"-c", "core.quotePath=false", "-c", "diff.renames=false"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	return cmd
}

// gitOutput runs git and returns its standard output.
func gitOutput(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := gitCmd(ctx, dir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// treeEntry is one file of a tree: its blob.
type treeEntry struct {
	path string
	blob string
}

// lsTree lists the regular files below paths in commit. Symbolic links and submodules are
// left out: a render does not follow them into the repository.
func lsTree(ctx context.Context, dir, commit string, paths []string) ([]treeEntry, error) {
	args := append([]string{"ls-tree", "-r", "-z", "--full-tree", commit, "--"}, paths...)
	out, err := gitOutput(ctx, dir, args...)
	if err != nil {
		return nil, err
	}
	var entries []treeEntry
	for _, rec := range bytes.Split(out, []byte{0}) {
		meta, path, ok := bytes.Cut(rec, []byte{'\t'})
		if !ok {
			continue
		}
		f := strings.Fields(string(meta))
		if len(f) != 3 || f[1] != "blob" || (f[0] != "100644" && f[0] != "100755") {
			continue
		}
		entries = append(entries, treeEntry{path: string(path), blob: f[2]})
	}
	return entries, nil
}

// blobReader reads blobs through one `git cat-file --batch`, caching what it read: consecutive
// states of a history share almost every blob.
type blobReader struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	cache map[string][]byte
}

func newBlobReader(ctx context.Context, dir string) (*blobReader, error) {
	cmd := gitCmd(ctx, dir, "cat-file", "--batch")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting git cat-file: %w", err)
	}
	return &blobReader{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16), cache: map[string][]byte{}}, nil
}

func (b *blobReader) read(hash string) ([]byte, error) {
	data, err := b.peek(hash)
	if err == nil {
		b.cache[hash] = data
	}
	return data, err
}

// peek reads a blob without keeping it: most versions of most files are looked at once.
func (b *blobReader) peek(hash string) ([]byte, error) {
	if data, ok := b.cache[hash]; ok {
		return data, nil
	}
	if _, err := io.WriteString(b.in, hash+"\n"); err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", hash, err)
	}
	header, err := b.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", hash, err)
	}
	f := strings.Fields(header)
	if len(f) != 3 || f[1] != "blob" {
		return nil, fmt.Errorf("reading blob %s: git cat-file answered %q", hash, strings.TrimSpace(header))
	}
	size, err := strconv.Atoi(f[2])
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", hash, err)
	}
	data := make([]byte, size+1) // the content and git's newline after it
	if _, err := io.ReadFull(b.out, data); err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", hash, err)
	}
	return data[:size], nil
}

func (b *blobReader) close() {
	_ = b.in.Close()
	_ = b.cmd.Wait()
}

// logEntry is one commit of the first-parent history with its changes to the followed paths.
type logEntry struct {
	info    gitrepo.CommitInfo
	parent  string // first parent, "" for a root commit
	changes []fileChange
}

// fileChange is one file a commit changed: its blob before (in the first parent) and after it
// (zeroHash where the file does not exist).
type fileChange struct {
	path          string
	before, after string
}

// logStream reads `git log --first-parent --raw` from a commit down, limited to paths.
type logStream struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	r      *bufio.Reader
	stderr bytes.Buffer
}

func startLog(ctx context.Context, dir, from string, paths []string) (*logStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	args := []string{"log", "-z", "--raw", "--no-abbrev", "--no-renames", "--first-parent", "--no-color",
		"--format=%x1e%H%x00%P%x00%an%x00%ae%x00%aI%x00%B%x00", from, "--"}
	cmd := gitCmd(ctx, dir, append(args, paths...)...)
	s := &logStream{cmd: cmd, cancel: cancel}
	cmd.Stderr = &s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting git log: %w", err)
	}
	s.r = bufio.NewReaderSize(out, 1<<16)
	// Skip up to the first record separator.
	if _, err := s.r.ReadBytes(0x1e); err != nil && !errors.Is(err, io.EOF) {
		s.close()
		return nil, err
	}
	return s, nil
}

// next returns the next commit, or nil at the end of the history.
func (s *logStream) next() (*logEntry, error) {
	rec, err := s.r.ReadBytes(0x1e)
	if errors.Is(err, io.EOF) {
		if len(bytes.TrimSpace(rec)) == 0 {
			if werr := s.cmd.Wait(); werr != nil {
				return nil, fmt.Errorf("git log: %v: %s", werr, strings.TrimSpace(s.stderr.String()))
			}
			return nil, nil
		}
	} else if err != nil {
		return nil, err
	} else {
		rec = rec[:len(rec)-1]
	}
	fields := bytes.Split(rec, []byte{0})
	if len(fields) < 6 {
		return nil, fmt.Errorf("git log: unexpected record %q", rec)
	}
	when, err := time.Parse(time.RFC3339, string(fields[4]))
	if err != nil {
		return nil, fmt.Errorf("git log: date %q: %w", fields[4], err)
	}
	msg := string(fields[5])
	subject, body := splitMessage(msg)
	e := &logEntry{info: gitrepo.CommitInfo{
		Hash: string(fields[0]), Author: string(fields[2]), Email: string(fields[3]), When: when,
		Subject: subject, Body: body, Trailers: gitrepo.Trailers(msg),
	}}
	if parents := strings.Fields(string(fields[1])); len(parents) > 0 {
		e.parent = parents[0]
	}
	rest := fields[6:]
	for i := 0; i < len(rest); i++ {
		tok := strings.TrimLeft(string(rest[i]), "\n")
		if !strings.HasPrefix(tok, ":") || i+1 >= len(rest) {
			continue
		}
		// :oldmode newmode oldblob newblob status
		meta := strings.Fields(tok[1:])
		i++
		if len(meta) < 5 {
			continue
		}
		old, nw := meta[2], meta[3]
		if !regularMode(meta[0]) {
			old = zeroHash
		}
		if !regularMode(meta[1]) {
			nw = zeroHash
		}
		e.changes = append(e.changes, fileChange{path: string(rest[i]), before: old, after: nw})
	}
	return e, nil
}

func regularMode(m string) bool { return m == "100644" || m == "100755" }

func (s *logStream) close() {
	s.cancel()
	_ = s.cmd.Wait()
}

// splitMessage splits a commit message into its subject (the first paragraph on one line, as
// git's %s) and the rest.
func splitMessage(msg string) (subject, body string) {
	msg = strings.TrimLeft(strings.ReplaceAll(msg, "\r\n", "\n"), "\n")
	first, rest, _ := strings.Cut(msg, "\n\n")
	subject = strings.Join(strings.Fields(first), " ")
	return subject, strings.Trim(rest, "\n")
}
