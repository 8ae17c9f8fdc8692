// Package fsstat reads what the caches of renders and discovery key files by, besides size and
// time: the inode, as git's index does, so a file replaced by another of the same size and time
// is noticed.
package fsstat

import (
	"os"
	"time"
)

// Inode is fi's inode number, or 0 where the system has none.
func Inode(fi os.FileInfo) uint64 { return inode(fi) }

// Ctime is fi's status change time in nanoseconds, or 0 where the system does not report it.
// Unlike the modification time it cannot be set back: a directory's changes when an entry is
// added, removed or renamed even if its modification time is restored afterwards.
func Ctime(fi os.FileInfo) int64 { return ctime(fi) }

// RacyWindow: a file changed this close to its stat may change again within the same
// timestamp, so its stat does not vouch for its content.
const RacyWindow = 2 * time.Second

// Stat is what os.Lstat reports that the caches use.
type Stat struct {
	Type         os.FileMode // the type bits: os.ModeDir, os.ModeSymlink, 0 for a regular file…
	Size         int64
	Mtime, Ctime int64 // nanoseconds; Ctime as Ctime reports it
	Ino          uint64
}

// Lstat is os.Lstat's Stat, without allocating a FileInfo where the system allows (a scan of a
// large repository stats every file).
func Lstat(path string) (Stat, error) { return lstat(path) }
