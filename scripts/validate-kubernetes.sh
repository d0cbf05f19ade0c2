#!/usr/bin/env bash
# Renders every Kubernetes overlay (kubectl kustomize) and validates each object offline against
# the Kubernetes schemas (the kubernetes-validate Python package, installed into
# target/k8s-validate when missing). Custom resources (CloudNativePG, Prometheus Operator) have
# no schema there: they are rendered and reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kubectl >/dev/null 2>&1 || { echo "validate-kubernetes: kubectl is needed" >&2; exit 1; }
venv=target/k8s-validate
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "validate-kubernetes: installing kubernetes-validate into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check kubernetes-validate
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r deploy/kubernetes "$work/k8s"
# The secrets a user fills in; the example stands in for them here.
cp "$work/k8s/base/secrets.env.example" "$work/k8s/base/secrets.env"
# The evaluation overlay with the optional ServiceMonitor component.
mkdir -p "$work/k8s/overlays/monitored"
cat >"$work/k8s/overlays/monitored/kustomization.yaml" <<'YAML'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../evaluation]
components: [../../components/service-monitor]
YAML
status=0
for target in base overlays/evaluation overlays/cloudnative-pg overlays/monitored; do
  out="$work/$(echo "$target" | tr / -).yaml"
  kubectl kustomize "$work/k8s/$target" >"$out"
  count=$(grep -c '^kind:' "$out")
  if "$venv/bin/kubernetes-validate" --strict --quiet "$out"; then
    echo "validate-kubernetes: $target: $count objects valid"
  else
    echo "validate-kubernetes: $target: invalid" >&2
    status=1
  fi
done
exit "$status"
