// Package fsstat reads what the caches of renders and discovery key files by, and holds the one
// rule by which every cache trusts a stat instead of reading the file again: git's index rule.
package fsstat

import (
	"os"
	"path/filepath"

	"github.com/kubectl-gitops/kubectl-gitops/internal/binenc"
)

// Inode is fi's inode number, or 0 where the system has none.
func Inode(fi os.FileInfo) uint64 { return inode(fi) }

// Ctime is fi's status change time in nanoseconds, or 0 where the system does not report it.
// Unlike the modification time it cannot be set back: a directory's changes when an entry is
// added, removed or renamed even if its modification time is restored afterwards.
func Ctime(fi os.FileInfo) int64 { return ctime(fi) }

// Stat is what os.Lstat reports that the caches use.
type Stat struct {
	Type         os.FileMode // the type bits: os.ModeDir, os.ModeSymlink, 0 for a regular file…
	Perm         os.FileMode // the permission bits
	Size         int64
	Mtime, Ctime int64 // nanoseconds; Ctime as Ctime reports it
	Ino          uint64
}

// Lstat is os.Lstat's Stat, without allocating a FileInfo where the system allows (a scan of a
// large repository stats every file).
func Lstat(path string) (Stat, error) { return lstat(path) }

// StatOf is fi's Stat.
func StatOf(fi os.FileInfo) Stat {
	return Stat{Type: fi.Mode().Type(), Perm: fi.Mode().Perm(), Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Ctime: Ctime(fi), Ino: Inode(fi)}
}

// Key is what git's index compares to tell that a file has not changed without reading it:
// size, modification and status change times, inode, type and permissions. A file rewritten
// with its size and modification time restored has another status change time; one replaced
// by a rename has another inode.
type Key struct {
	Size, Mtime, Ctime int64
	Ino                uint64
	Mode               uint32 // os.FileMode's type and permission bits
}

// Key is the stat's Key.
func (s Stat) Key() Key {
	return Key{Size: s.Size, Mtime: s.Mtime, Ctime: s.Ctime, Ino: s.Ino, Mode: uint32(s.Type | s.Perm)}
}

// Vouches is the racy-git rule, the one every cache applies: a stat vouches for the content read
// after it only when the file's modification and status change times are older than clock, the
// file system's time (Clock, or the modification time of a cache file written) read before the
// content was. Any later change of the file gives it a status change time of at least clock, so
// while the file's key stays this one its content stays the one read. A file changed within the
// clock's tick may change again within that tick without another time: its stat vouches for
// nothing, and a cache reads it again next time. The process's clock is not the file system's
// (another granularity, another machine for a network file system) and is never used.
func (k Key) Vouches(clock int64) bool {
	return clock > 0 && k.Mtime < clock && k.Ctime < clock
}

// clockFile is the file Clock writes in a cache directory.
const clockFile = "clock"

// Clock reads the file system's clock: the modification time a file written now in dir gets
// (dir is created if missing). A cache reads it before the stats and contents it records, and
// records it with them: a stat older than it then vouches for those contents (Key.Vouches).
func Clock(dir string) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(filepath.Join(dir, clockFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.ModTime().UnixNano(), nil
}

// Write writes the key in the memos' binary form.
func (k Key) Write(w *binenc.Writer) {
	w.Int(k.Size)
	w.Int(k.Mtime)
	w.Int(k.Ctime)
	w.Uint(k.Ino)
	w.Uint(uint64(k.Mode))
}

// ReadKey reads a key Write wrote.
func ReadKey(r *binenc.Reader) Key {
	return Key{Size: r.Int(), Mtime: r.Int(), Ctime: r.Int(), Ino: r.Uint(), Mode: uint32(r.Uint())}
}
