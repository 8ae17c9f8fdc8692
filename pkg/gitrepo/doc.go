// Package gitrepo turns a set of file changes into one commit of a Git repository, and pushes it.
//
// The commit is built from the objects of HEAD's tree plus exactly the requested changes; the
// user's index and working tree are touched only at the changed paths, so staged and unstaged
// work elsewhere survives untouched. Objects are read and written with go-git; references,
// the index and the working tree files are updated in place with Git's own lock-file protocol
// (a "<file>.lock" created exclusively, then renamed over the file), so a concurrently running
// git sees either the old or the new state. The git executable is used only for signing
// commits, for network operations (with the ancestry check of a push retry) and for
// path-limited history.
//
// Callers serialise work on one repository with Lock; Commit and Push expect it to be held.
package gitrepo
