package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// `git add` does not always store a file's bytes: a filter driver (git-crypt, Git LFS), ident
// or working-tree-encoding rewrites them, and end-of-line conversion turns CRLF into LF. A
// commit must hold the blobs git would store, or it commits what the repository means to keep
// encrypted or elsewhere, and the files read as modified afterwards. So the paths whose
// attributes ask for a conversion that can change their content get their blobs from git
// (`hash-object -w --path`); every other blob, in almost every repository all of them, is made
// in process. Asking git costs a process, so it is asked only when a source of attributes
// exists: a .gitattributes on the way to a changed file, info/attributes, the global or system
// file, or core.autocrlf for content holding a carriage return.

// convertAttrs are the attributes that can make git store other bytes than the file's.
var convertAttrs = []string{"filter", "ident", "working-tree-encoding", "text", "eol", "crlf"}

// converted returns the paths of files (changes with content, no links) whose blobs git must
// make.
func (r *Repo) converted(ctx context.Context, cfg commitConfig, files []Change) (map[string]bool, error) {
	var paths []string
	content := map[string][]byte{}
	for _, c := range files {
		paths = append(paths, c.Path)
		content[c.Path] = c.Content
	}
	if len(paths) == 0 {
		return nil, nil
	}
	out := map[string]bool{}
	if cfg.autocrlf {
		for _, p := range paths {
			if bytes.IndexByte(content[p], '\r') >= 0 {
				out[p] = true
			}
		}
	}
	if !r.hasAttributes(cfg, paths) {
		return out, nil
	}
	var stdin bytes.Buffer
	for _, p := range paths {
		stdin.WriteString(p)
		stdin.WriteByte(0)
	}
	args := append([]string{"check-attr", "-z", "--stdin"}, convertAttrs...)
	b, err := runGit(ctx, r.root, nil, &stdin, args...)
	if err != nil {
		return nil, fmt.Errorf("failed to read the attributes of the changed files: %w", err)
	}
	fields := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	for i := 0; i+2 < len(fields); i += 3 {
		p, attr, value := fields[i], fields[i+1], fields[i+2]
		if value == "unspecified" || value == "unset" {
			continue
		}
		switch attr {
		case "text", "eol", "crlf":
			// Only a carriage return is converted.
			if bytes.IndexByte(content[p], '\r') >= 0 {
				out[p] = true
			}
		default:
			out[p] = true
		}
	}
	return out, nil
}

// hasAttributes tells whether git may find attributes for one of paths: a .gitattributes in the
// working tree's root or a directory on the way to one, the repository's info/attributes,
// core.attributesFile or the global file it defaults to, or the system's /etc/gitattributes.
func (r *Repo) hasAttributes(cfg commitConfig, paths []string) bool {
	exists := func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	}
	global := cfg.attributesFile
	if global == "" {
		if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
			global = filepath.Join(x, "git", "attributes")
		} else if home, err := os.UserHomeDir(); err == nil {
			global = filepath.Join(home, ".config", "git", "attributes")
		}
	}
	if (global != "" && exists(global)) || exists(filepath.Join(r.commonDir, "info", "attributes")) ||
		(os.Getenv("GIT_ATTR_NOSYSTEM") == "" && exists("/etc/gitattributes")) {
		return true
	}
	seen := map[string]bool{}
	for _, p := range paths {
		for d := path.Dir(p); !seen[d]; d = path.Dir(d) {
			seen[d] = true
			if exists(filepath.Join(r.root, filepath.FromSlash(d), ".gitattributes")) {
				return true
			}
			if d == "." {
				break
			}
		}
	}
	return false
}

// gitBlob stores content as the blob git makes of it at p, conversions applied.
func (r *Repo) gitBlob(ctx context.Context, p string, content []byte) (plumbing.Hash, error) {
	out, err := runGit(ctx, r.root, nil, bytes.NewReader(content), "hash-object", "-w", "--stdin", "--path="+p)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("failed to store %s as git converts it: %w", p, err)
	}
	h := strings.TrimSpace(string(out))
	if !plumbing.IsHash(h) {
		return plumbing.ZeroHash, fmt.Errorf("failed to store %s: git hash-object printed %q", p, h)
	}
	return plumbing.NewHash(h), nil
}
