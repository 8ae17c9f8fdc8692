#!/usr/bin/env bash
# make demo / make demo-down: a local control plane with Flux's source- and kustomize-controllers,
# a Flux-style config repository (a bare "remote", served over HTTP on 127.0.0.1, and a working
# clone), and Flux applying it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=$root/.demo
export PATH=$root/bin:$root/bin/testbin:$PATH

down() {
	if [ -d "$demo/cluster" ]; then
		go run "$root/hack/devcluster" down --dir "$demo/cluster" || true
	fi
	rm -rf "$demo"
	echo "demo stopped and removed"
}

up() {
	mkdir -p "$demo/remote"
	# It prints the kubeconfig, then the URL of the Git server for the bare repositories in
	# $demo/remote, which source-controller fetches from and the plugin pushes to.
	out=$(go run "$root/hack/devcluster" up --dir "$demo/cluster" --flux --git-root "$demo/remote")
	export KUBECONFIG=$demo/cluster/kubeconfig
	url=$(sed -n 2p <<<"$out")/fleet.git

	# The config repository: a bare remote made from the Flux sample, and a working clone.
	if [ ! -d "$demo/remote/fleet.git" ]; then
		rm -rf "$demo/seed" && cp -r "$root/testdata/repos/flux" "$demo/seed"
		git -C "$demo/seed" init -q -b main
		git -C "$demo/seed" add -A
		git -C "$demo/seed" -c user.name="Fleet Admin" -c user.email=fleet@example.com commit -qm "Initial fleet"
		git init -q --bare -b main "$demo/remote/fleet.git"
		git -C "$demo/seed" push -q "$demo/remote/fleet.git" main
		rm -rf "$demo/seed"
		git clone -q "$url" "$demo/work/fleet"
		git -C "$demo/work/fleet" config user.name "Demo User"
		git -C "$demo/work/fleet" config user.email demo@example.com
	fi
	# A Git server started again (after a reboot) listens on another port.
	git -C "$demo/work/fleet" remote set-url origin "$url"

	# What flux bootstrap applies for clusters/staging: the GitRepository, here at the local Git
	# server (which needs no credentials), and the apps Kustomization, without the health checks
	# of its wait: true, which no Deployment passes here (no kubelet runs pods). Its HelmRelease
	# needs helm-controller's CRD, though helm-controller does not run.
	kubectl apply --server-side -f "$root/testdata/crds/helm.toolkit.fluxcd.io_helmreleases.yaml" >/dev/null
	kubectl wait --for condition=established --timeout=60s crd/helmreleases.helm.toolkit.fluxcd.io >/dev/null
	{
		cat <<EOF
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec: {url: "$url", ref: {branch: main}, interval: 1m0s}
---
EOF
		sed 's/^  wait: true$/  wait: false/' "$demo/work/fleet/clusters/staging/apps.yaml"
	} | kubectl apply --server-side -f - >/dev/null
	# Flux applies the apps, with the labels that lead the plugin back to the repository.
	kubectl gitops sync kustomization/apps -n flux-system --wait --timeout=3m

	cat <<EOT

The demo is up: a kube-apiserver on 127.0.0.1, Flux's source- and kustomize-controllers, and the
apps Flux applied from clusters/staging. The config repository's remote is
$demo/remote/fleet.git, served at $url.

Type this in your shell:

  export KUBECONFIG=$KUBECONFIG
  export PATH=$root/bin:$root/bin/testbin:\$PATH

  kubectl gitops version                         # found by kubectl's plugin discovery
  kubectl get deploy -n shop web --show-labels   # Flux's labels lead to the repository

  # From anywhere: the plugin follows the labels to the Kustomization and GitRepository,
  # keeps its own clone, commits in apps/staging and pushes.
  kubectl gitops scale deploy/web -n shop --replicas=3
  git -C $demo/remote/fleet.git log -1 --stat

  # The commits that changed web as apps/staging renders it, and the last one undone as a
  # new commit (pushed too): a revision is a commit here, not a ReplicaSet
  kubectl gitops history deploy/web -n shop
  kubectl gitops rollout undo deploy/web -n shop
  kubectl gitops rollout history deploy/web -n shop

  # The whole loop: commit, push, ask Flux to apply it now, and return once the cluster runs it
  kubectl gitops scale deploy/web -n shop --replicas=4 --push --wait
  kubectl get deploy -n shop web -o jsonpath='{.spec.replicas}{"\n"}'   # 4, applied by Flux

  # In the working clone: the same, as a reviewable diff first
  cd $demo/work/fleet && git pull -q
  kubectl gitops targets -o wide                          # what Flux applies from this repository
  kubectl gitops render --path apps/staging --show-origin # what it applies there, and from where
  kubectl gitops scale deploy/web -n shop --replicas=2 --dry-run
  kubectl gitops set image deploy/web -n shop web=registry.example.com/shop/web:1.6.0 --dry-run
  EDITOR=nano kubectl gitops edit deploy/web -n shop      # a save is one commit

  # Repository against cluster, and an emergency change brought back into Git
  kubectl gitops diff --repo . --path apps/staging
  kubectl scale deploy/web -n shop --replicas=5           # by hand, as in an emergency
  kubectl gitops diff --repo . --path apps/staging        # exit 1: the drift
  kubectl gitops capture --drift deploy/web -n shop --repo . --path apps/staging

  # The hooks: plaintext secrets refused before a commit, drift checked before a push
  kubectl gitops hooks install

Stop it all with: make demo-down
EOT
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
