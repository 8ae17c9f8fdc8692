package target

import (
	"bytes"
	"encoding/gob"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fsstat"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitrepo"
)

// scanMemo remembers, between commands, what discovery found in each file of a repository,
// keyed by the file's size, time and inode (as git's index does): a command in a large
// repository then reads only the files changed since the last one. It lives in the git
// directory beside the render cache; a file whose stat changed, or was taken too close to a
// write to vouch for its content, is read again.
type scanMemo struct {
	file  string
	old   map[string]scannedFile
	now   map[string]scannedFile
	dirty bool
}

// scanMemoFormat changes whenever what a scan records changes.
const scanMemoFormat = "kubectl-gitops scan memo 1"

type scannedFile struct {
	Size    int64
	ModTime int64
	Ino     uint64
	// A manifest file: whether it holds a Kubernetes object, and its reconciler objects.
	Manifests bool
	Objects   []memoObject
	// A kustomization file: the paths it names.
	Refs []string
}

type memoObject struct{ Source, Name, Path, Namespace string }

type scanMemoFile struct {
	Format string
	Files  map[string]scannedFile
}

// openScanMemo reads the memo of the repository at repoDir; nil (no memo) outside a repository.
func openScanMemo(repoDir string) *scanMemo {
	repo, err := gitrepo.Open(repoDir)
	if err != nil {
		return nil
	}
	m := &scanMemo{file: filepath.Join(repo.CacheDir(), "scan.gob"), old: map[string]scannedFile{}, now: map[string]scannedFile{}}
	if b, err := os.ReadFile(m.file); err == nil {
		var f scanMemoFile
		if gob.NewDecoder(bytes.NewReader(b)).Decode(&f) == nil && f.Format == scanMemoFormat {
			m.old = f.Files
		}
	}
	return m
}

func statKey(fi fs.FileInfo) (size, mtime int64, ino uint64) {
	return fi.Size(), fi.ModTime().UnixNano(), fsstat.Inode(fi)
}

// lookup returns what the file rel held when it had this stat.
func (m *scanMemo) lookup(rel string, fi fs.FileInfo) (scannedFile, bool) {
	if m == nil {
		return scannedFile{}, false
	}
	f, ok := m.old[rel]
	size, mtime, ino := statKey(fi)
	if !ok || f.Size != size || f.ModTime != mtime || f.Ino != ino {
		return scannedFile{}, false
	}
	m.now[rel] = f
	return f, true
}

// record notes what the file rel with this stat holds.
func (m *scanMemo) record(rel string, fi fs.FileInfo, f scannedFile) {
	if m == nil {
		return
	}
	m.dirty = true
	if time.Since(fi.ModTime()) < fsstat.RacyWindow {
		return // read again next time
	}
	f.Size, f.ModTime, f.Ino = statKey(fi)
	m.now[rel] = f
}

// save writes the memo of the files this scan saw, if anything changed; errors only cost time.
func (m *scanMemo) save() {
	if m == nil || (!m.dirty && len(m.now) == len(m.old)) {
		return
	}
	var buf bytes.Buffer
	if gob.NewEncoder(&buf).Encode(scanMemoFile{Format: scanMemoFormat, Files: m.now}) != nil {
		return
	}
	if os.MkdirAll(filepath.Dir(m.file), 0o755) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(m.file), ".scan-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(buf.Bytes())
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), m.file) != nil {
		os.Remove(tmp.Name())
	}
}
