#!/usr/bin/env bash
# make demo / make demo-down: a local control plane, a Flux-style config repository (a bare
# "remote" and a working clone) and the cluster state Flux would have applied from it.
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
	mkdir -p "$demo"
	go run "$root/hack/devcluster" up --dir "$demo/cluster" >/dev/null
	export KUBECONFIG=$demo/cluster/kubeconfig

	# The config repository: a bare remote made from the Flux sample, and a working clone.
	if [ ! -d "$demo/remote/fleet.git" ]; then
		rm -rf "$demo/seed" && cp -r "$root/testdata/repos/flux" "$demo/seed"
		git -C "$demo/seed" init -q -b main
		git -C "$demo/seed" add -A
		git -C "$demo/seed" -c user.name="Fleet Admin" -c user.email=fleet@example.com commit -qm "Initial fleet"
		git init -q --bare -b main "$demo/remote/fleet.git"
		git -C "$demo/seed" push -q "$demo/remote/fleet.git" main
		rm -rf "$demo/seed"
		git clone -q "file://$demo/remote/fleet.git" "$demo/work/fleet"
		git -C "$demo/work/fleet" config user.name "Demo User"
		git -C "$demo/work/fleet" config user.email demo@example.com
	fi
	url="file://$demo/remote/fleet.git"

	# What Flux's controllers would have done: their CRDs, the sync objects of clusters/staging
	# (pointing at the local remote), and the apps applied server-side with Flux's labels.
	kubectl apply --server-side -f "$root/testdata/crds" >/dev/null
	kubectl wait --for condition=established --timeout=60s crd --all >/dev/null
	kubectl create namespace flux-system --dry-run=client -o yaml | kubectl apply --server-side -f - >/dev/null
	{
		kubectl kustomize "$demo/work/fleet/clusters/staging/flux-system"
		echo ---
		cat "$demo/work/fleet/clusters/staging/apps.yaml"
	} | sed "s#https://git.example.com/platform/fleet.git#$url#" |
		kubectl apply --server-side --field-manager=kustomize-controller -f - >/dev/null
	# The apps as Flux applies them: server-side, with the labels that name the Kustomization.
	render=$demo/apps-staging.yaml
	kubectl kustomize "$demo/work/fleet/apps/staging" >"$render"
	kubectl apply --server-side --field-manager=kustomize-controller -f "$render" >/dev/null
	kubectl label --overwrite -f "$render" \
		kustomize.toolkit.fluxcd.io/name=apps kustomize.toolkit.fluxcd.io/namespace=flux-system >/dev/null

	cat <<EOT

The demo is up: a kube-apiserver on 127.0.0.1, the Flux objects of clusters/staging, and the
apps they render. The config repository's remote is $demo/remote/fleet.git.

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

  # In the working clone: the same, as a reviewable diff first
  cd $demo/work/fleet && git pull -q
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
