// Package gitrepo turns a set of file changes into one commit of a Git repository, and pushes it.
//
// # Commits as git makes them
//
// Commit makes the commit `git commit --only PATHS` would make of the changed files, with git's
// own plumbing: its tree is the parent's plus exactly the changes, made in process as
// read-tree --reset, update-index --index-info and write-tree make it (or by them, in a
// temporary index (GIT_INDEX_FILE), when a hook reads the commit's index), `git commit-tree`
// makes the commit (identity, dates, configuration includes and, with commit.gpgSign, the
// signature, all as git resolves them) and `git update-ref` moves the branch if it still has
// the old value, writing the reflogs. go-git reads references and objects and stores the
// changed files' blobs and the new trees, once the clean check passed: a refused commit leaves
// no objects. The user's other staged and unstaged work is
// neither committed nor touched: the user's index gets new entries for the changed paths only,
// written by `git update-index` on a copy that replaces the index.
//
// The repository's hooks run through `git hook run` as git commit runs them (core.hooksPath
// included): pre-commit, prepare-commit-msg (source "message") and commit-msg with the commit's
// index as GIT_INDEX_FILE, so they see HEAD plus the changes and not the user's staged work,
// then post-commit. While pre-commit runs, the working tree holds the new files next to the
// user's other unstaged work, as under git commit; a tree a pre-commit hook stages more into
// (a formatter) is the tree committed. NoVerify skips pre-commit and commit-msg. A failing hook
// is a *HookError and leaves the repository as it was. The hooks of a commit to a branch that
// is not checked out run in a checkout of the commit's tree inside the git directory.
//
// # Crash safety
//
// Commits are made under Lock, and under git's index.lock for the checked-out branch, held from
// before the clean check until the new index is in place, as git commit holds it. The steps, in
// order, with what a kill after each leaves:
//
//  1. The transaction directory .git/kubectl-gitops/commit and its journal (phase "prepare").
//  2. index.lock appears at once with our token in it (a hard link), so a lock left by a kill
//     is known to be ours. After the clean check, the new objects and the commit's index (with
//     hooks): files inside .git only.
//  3. The journal lists the working tree files to write, with their state at HEAD (phase
//     "worktree"); each file is then written beside its destination and renamed into place,
//     deletions remove the file and the directories it empties. With a pre-commit hook this
//     happens before the hooks run, otherwise after step 5.
//  4. Hooks; `git commit-tree`; the new index is written beside the index.
//  5. The journal records the new commit (phase "commit"); `git update-ref` moves the branch.
//  6. The new index is renamed over the index; index.lock and the transaction go.
//
// Until step 5 the branch has the old commit; from it on, the new one. The next Lock (the next
// command) reads a journal left behind and, before anything else, finishes the commit if its
// branch moved (the new index into place, the lock and journal removed: the working tree is
// already new) or else undoes it (the working tree files get their HEAD state back, created
// directories go, then the lock and the journal). So after a kill the repository has the old
// state or the whole commit, and `git status` shows only the user's own work, once the next
// command ran. Before it, a kill between steps 2 and 6 leaves index.lock, which blocks git
// commands that write the index, and a kill between the first rename of step 3 and step 6
// makes `git status` show the commit's files as uncommitted changes (without a pre-commit hook
// that window is the last renames, the journal write and update-ref: milliseconds). A git
// process runs to its end when its parent is killed; a kill of the whole process group during
// `git update-ref` can leave that ref's lock, as it would under git commit. Hooks still running
// when their parent is killed are not stopped.
//
// Callers serialise work on one repository with Lock; Commit and Push expect it to be held.
package gitrepo
