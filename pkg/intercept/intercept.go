// Package intercept decides, for a kubectl command line typed in a shell where `kubectl gitops
// shell-init` is loaded, whether kubectl runs as it is or `kubectl gitops` makes the change in
// Git instead: the verbs that change an object (edit, scale, set, label, annotate, patch, apply,
// delete, rollout undo), on an object that a GitOps reconciler manages. Everything else, and
// anything with KUBECTL_GITOPS_BYPASS=1 or --gitops=off, goes to kubectl untouched.
package intercept

import (
	"fmt"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/target"
)

// BypassEnv, when set to anything but "" or "0" or "false", sends every command to kubectl.
const BypassEnv = "KUBECTL_GITOPS_BYPASS"

// Flag is the flag the shell function takes out of kubectl's command line: --gitops=off sends
// the command to kubectl, --gitops=on to kubectl gitops whatever manages the object.
const Flag = "--gitops"

// Mode is what --gitops asked for.
type Mode int

// The modes of --gitops.
const (
	Auto Mode = iota // decide from the objects
	Off              // kubectl, always
	On               // kubectl gitops, always
)

// Line is a kubectl command line, read as far as the decision needs.
type Line struct {
	// Args are the command line without --gitops.
	Args []string
	Mode Mode
	// Verb is kubectl's command ("scale"), Sub its subcommand where it has one ("undo" of
	// rollout, "image" of set); both "" when the line has none (kubectl --help).
	Verb, Sub string
}

// changingVerbs are the kubectl commands that change an object and have a kubectl gitops
// equivalent; for those with subcommands, the subcommands that do.
var changingVerbs = map[string][]string{
	"edit": nil, "scale": nil, "label": nil, "annotate": nil, "patch": nil, "apply": nil, "delete": nil,
	"set":     {"image", "env", "resources", "selector", "serviceaccount", "subject"},
	"rollout": {"undo"},
}

// Changes tells whether the line is one of the commands kubectl gitops takes over for managed
// objects.
func (l Line) Changes() bool {
	subs, ok := changingVerbs[l.Verb]
	if !ok {
		return false
	}
	if subs == nil {
		// apply's own subcommands (view-last-applied, ...) are about the cluster's annotation.
		return !(l.Verb == "apply" && l.Sub != "")
	}
	for _, s := range subs {
		if s == l.Sub {
			return true
		}
	}
	return false
}

// globalValueFlags are kubectl's global flags that take a value in the next argument (kubectl
// options, v1.37).
var globalValueFlags = map[string]bool{
	"--as": true, "--as-group": true, "--as-uid": true, "--as-user-extra": true, "--cache-dir": true,
	"--certificate-authority": true, "--client-certificate": true, "--client-key": true, "--cluster": true,
	"--context": true, "--kubeconfig": true, "--kuberc": true, "--log-flush-frequency": true,
	"-n": true, "--namespace": true, "--password": true, "--profile": true, "--profile-output": true,
	"--proxy-url": true, "--request-timeout": true, "-s": true, "--server": true, "--tls-server-name": true,
	"--token": true, "--user": true, "--username": true, "-v": true, "--v": true, "--vmodule": true,
}

// verbsWithSub are the commands whose first argument may be a subcommand.
var verbsWithSub = map[string]bool{"set": true, "rollout": true, "apply": true}

// Parse reads a kubectl command line: it takes --gitops out and finds the command.
func Parse(args []string) (Line, error) {
	l := Line{Args: make([]string, 0, len(args))}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			l.Args = append(l.Args, args[i:]...)
			break
		}
		if a != Flag && !strings.HasPrefix(a, Flag+"=") {
			l.Args = append(l.Args, a)
			continue
		}
		v, ok := strings.CutPrefix(a, Flag+"=")
		if !ok {
			if i+1 >= len(args) {
				return l, fmt.Errorf("%s needs a value: off, on or auto", Flag)
			}
			i++
			v = args[i]
		}
		switch v {
		case "off", "false":
			l.Mode = Off
		case "on", "true":
			l.Mode = On
		case "auto":
			l.Mode = Auto
		default:
			return l, fmt.Errorf("%s must be off, on or auto, not %q", Flag, v)
		}
	}
	words := positional(l.Args)
	if len(words) > 0 {
		l.Verb = words[0]
	}
	if len(words) > 1 && verbsWithSub[l.Verb] {
		if l.Verb != "apply" || words[1] == "edit-last-applied" || words[1] == "set-last-applied" || words[1] == "view-last-applied" {
			l.Sub = words[1]
		}
	}
	return l, nil
}

// positional are the arguments that are not flags or their values, up to "--".
func positional(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return out
		case strings.HasPrefix(a, "-") && a != "-":
			if !strings.Contains(a, "=") && globalValueFlags[a] {
				i++
			}
		default:
			out = append(out, a)
		}
	}
	return out
}

// Bypassed tells whether the environment asks for kubectl, always.
func Bypassed(getenv func(string) string) bool {
	switch strings.ToLower(strings.TrimSpace(getenv(BypassEnv))) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// Manager names what reconciles a live object, from the labels and annotation that Flux and Argo
// CD put on what they apply; "" when nothing does. app tells whether an Argo CD Application
// exists: app.kubernetes.io/instance counts only then, since Helm charts set it too.
func Manager(labels, annotations map[string]string, app func(namespace, name string) bool) string {
	if name := labels[target.FluxKustomizationNameLabel]; name != "" {
		return "Flux Kustomization " + qualified(labels[target.FluxKustomizationNamespaceLabel], name)
	}
	if name := labels[target.FluxHelmReleaseNameLabel]; name != "" {
		return "Flux HelmRelease " + qualified(labels[target.FluxHelmReleaseNamespaceLabel], name)
	}
	if id := annotations[target.ArgoCDTrackingIDAnnotation]; id != "" {
		name, _, _ := strings.Cut(id, ":")
		return "Argo CD Application " + strings.Replace(name, "_", "/", 1)
	}
	if name := labels[target.ArgoCDInstanceLabel]; name != "" && app != nil {
		ns := target.DefaultArgoNamespace
		if n, a, ok := strings.Cut(name, "_"); ok {
			ns, name = n, a
		}
		if app(ns, name) {
			return "Argo CD Application " + ns + "/" + name
		}
	}
	return ""
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}
