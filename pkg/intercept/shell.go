package intercept

import (
	"fmt"
	"strings"
)

// Shells are the shells Script knows.
var Shells = []string{"bash", "zsh", "fish"}

// The function stays small: the decision is kubectl-gitops __intercept's, which runs kubectl (or
// kubectl gitops) itself, so arguments pass as the shell split them and nothing is quoted twice.
// Without kubectl-gitops on the PATH, or with KUBECTL_GITOPS_BYPASS set, kubectl runs directly.

const posixScript = `# kubectl gitops: kubectl edit, scale, set, label, annotate, patch, apply, delete and rollout
# undo on an object a GitOps target manages are made in Git, as a commit (kubectl gitops);
# everything else runs kubectl. KUBECTL_GITOPS_BYPASS=1 or kubectl --gitops=off runs kubectl.
# Load it with:  eval "$(kubectl-gitops shell-init %[1]s)"
kubectl() {
  case "${KUBECTL_GITOPS_BYPASS:-0}" in
    0|false|no|off) ;;
    *) command kubectl "$@"; return ;;
  esac
  if command -v kubectl-gitops >/dev/null 2>&1; then
    command kubectl-gitops __intercept -- "$@"
  else
    command kubectl "$@"
  fi
}
`

const fishScript = `# kubectl gitops: kubectl edit, scale, set, label, annotate, patch, apply, delete and rollout
# undo on an object a GitOps target manages are made in Git, as a commit (kubectl gitops);
# everything else runs kubectl. KUBECTL_GITOPS_BYPASS=1 or kubectl --gitops=off runs kubectl.
# Load it with:  kubectl-gitops shell-init fish | source
function kubectl --wraps kubectl --description 'kubectl; changes to GitOps-managed objects become commits'
    if contains -- "$KUBECTL_GITOPS_BYPASS" '' 0 false no off; and command -s kubectl-gitops >/dev/null
        command kubectl-gitops __intercept -- $argv
    else
        command kubectl $argv
    end
end
`

// Script is the shell function for shell, to add to its profile.
func Script(shell string) (string, error) {
	switch shell {
	case "bash", "zsh":
		return fmt.Sprintf(posixScript, shell), nil
	case "fish":
		return fishScript, nil
	}
	return "", fmt.Errorf("no shell function for %q: choose one of %s", shell, strings.Join(Shells, ", "))
}
