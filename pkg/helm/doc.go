// Package helm renders Helm charts the way the reconcilers do, in-process with the Helm SDK:
// Flux's helm-controller (an install through the SDK's action package) and Argo CD's repo-server
// (`helm template`, which is the same action in client-only dry-run mode). It loads charts from
// files the caller read (so edits not yet on disk render too), merges values in each reconciler's
// order, renders, and fetches charts from HTTP Helm repositories and OCI registries into a cache.
//
// It uses helm.sh/helm/v4 (v4.3.2): helm-controller is built on Helm 4 since v1.5 (v1.4.3, which
// the e2e tests run, is on Helm 3.19; its values merge is the same) and Argo CD's repo-server ships
// a Helm 4 CLI; the v4 SDK's action, loader, registry and repo packages do all this package needs.
// `helm template` of the same version is the reference renders are compared with. Only charts of
// apiVersion v1 and v2 are rendered; Helm 4's chart apiVersion v3 is still internal to the SDK.
//
// The package knows nothing of targets or repositories: its inputs are plain Go values the
// caller resolved (files, Secrets, ConfigMaps), and it never prints.
package helm
