package gitrepo

import (
	"os"
	"syscall"
)

func fillStat(e *indexEntry, fi os.FileInfo) {
	fillStatCommon(e, fi)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s, ns := st.Ctim.Unix()
		e.ctimeS, e.ctimeN = uint32(s), uint32(ns)
		e.dev, e.ino, e.uid, e.gid = uint32(st.Dev), uint32(st.Ino), st.Uid, st.Gid
	}
}
