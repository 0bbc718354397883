#!/usr/bin/env bash
# barged webhook test: what the image-swap webhook does with a workload,
# rule by rule, without a cluster (docs/swap.md).  The rules are
# harbor-container-webhook's seed example translated into barged.yaml: swap
# docker.io to a Harbor proxy project, except ubuntu.
#   - a Job's pod template: nginx swapped to the replace prefix, ubuntu left
#     by the exclude, quay.io left by no rule; exit 0;
#   - the same from standard input;
#   - an invalid expression: exit 1, the file, line:column, key and regerror.
#
# Env: BARGED (path of the binary; default build/...).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
it_tmpdir
T=$IT_TMP

cat >"$T/barged.yaml" <<'YAML'
webhook:
  advertise: "registry.edge:30003"
  rules:
    - name: dockerhub
      match: ["^docker\\.io/"]
      exclude: ["^docker\\.io/(library/)?ubuntu:.*$"]
      replace: "harbor.example.net/dockerhub/"
      policy: always
YAML
cat >"$T/job.yaml" <<'YAML'
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      containers:
        - {name: a, image: "nginx:1.25"}
        - {name: b, image: "ubuntu:22.04"}
        - {name: c, image: "quay.io/x/y:1"}
      restartPolicy: Never
YAML

rc=0
"$BARGED" webhook test --config "$T/barged.yaml" --no-store "$T/job.yaml" >"$T/out" 2>"$T/err" || rc=$?
it_check_eq "webhook test exits 0" 0 "$rc"
it_check "nginx is swapped to the replace prefix" \
	grep -qF "swapped to harbor.example.net/dockerhub/library/nginx:1.25" "$T/out"
it_check "ubuntu is excluded by the rule's exclude" grep -qF "excluded by exclude[0]" "$T/out"
it_check_eq "ubuntu and quay.io are left" 2 "$(grep -c '^  left (no_rule)' "$T/out")"
it_check "the pod is reported patched" grep -qF "=> patched (always)" "$T/out"

rc=0
"$BARGED" webhook test --config "$T/barged.yaml" --no-store - <"$T/job.yaml" >"$T/out2" 2>&1 || rc=$?
it_check_eq "from standard input: exit 0" 0 "$rc"
it_check "from standard input: the same answer" cmp -s "$T/out" "$T/out2"

sed -i 's/"\^docker/"(^docker/' "$T/barged.yaml"
rc=0
"$BARGED" webhook test --config "$T/barged.yaml" --no-store "$T/job.yaml" >"$T/out3" 2>"$T/err3" || rc=$?
it_check_eq "an invalid expression: exit 1" 1 "$rc"
it_check "an invalid expression: file, line:column and key named" \
	grep -qF "$T/barged.yaml:5:15: webhook.rules[0].match[0]:" "$T/err3"
it_check "an invalid expression: the regerror text" grep -qF "Unmatched ( or \\(" "$T/err3"

it_summary
