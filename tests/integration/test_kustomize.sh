#!/usr/bin/env bash
# The kustomize tree (appliance/deploy/kustomize, issue #13):
#   - base/barged.yaml and base/webhook/webhook.yaml are what
#     scripts/gen-kustomize-base writes from this barged: regenerated and
#     compared byte for byte;
#   - `kubectl kustomize overlays/daemonset` and `overlays/host` render the
#     same objects as `barged manifests --mode daemonset|host`, compared
#     parsed (kustomize reorders keys and documents), with the per-install
#     CA, certificate and key of barged's output replaced by the base's
#     placeholders;
#   - every object of both renders and of barged manifests' output is
#     valid, strictly (unknown fields refused, as kubeconform -strict),
#     against its definition in Kubernetes' OpenAPI v2 document, the v1.13
#     swagger.json that Debian's golang-k8s-kube-openapi-dev ships as test
#     data (offline; python3-jsonschema validates), and corrupted copies
#     are refused with the JSON path of the fault;
#   - every render passes a hand-written check of what that schema cannot
#     say: enumerations, ranges, names, required fields of the v1 webhook,
#     selectors matching templates, mounts naming volumes; and the check
#     rejects broken objects.
#
# Env: BARGED (path of barged), KUBECTL (default kubectl; Debian's
# kubernetes-client 1.20 and kubectl 1.32 both render these overlays),
# K8S_SWAGGER (default: golang-k8s-kube-openapi-dev's swagger.json).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
KUBECTL=${KUBECTL:-kubectl}
KUST=$IT_REPO_ROOT/appliance/deploy/kustomize
command -v "$KUBECTL" >/dev/null || it_die "missing kubectl (Debian: kubernetes-client)"
python3 -c 'import yaml' 2>/dev/null || it_die "missing python3-yaml"
python3 -c 'import jsonschema' 2>/dev/null || it_die "missing python3-jsonschema"
# Not a skip: scripts/lib-install.sh installs the package, so its absence is a fault.
K8S_SWAGGER=${K8S_SWAGGER:-/usr/share/gocode/src/k8s.io/kube-openapi/pkg/schemaconv/testdata/swagger.json}
[ -f "$K8S_SWAGGER" ] ||
	it_die "missing $K8S_SWAGGER, the Kubernetes OpenAPI schema (Debian: golang-k8s-kube-openapi-dev, which scripts/lib-install.sh installs)"
it_tmpdir

# --- the base is barged manifests' output --------------------------------------

"$IT_REPO_ROOT/scripts/gen-kustomize-base" "$BARGED" "$IT_TMP/base"
if diff -u "$KUST/base/barged.yaml" "$IT_TMP/base/barged.yaml" >"$IT_TMP/base.diff" &&
	diff -u "$KUST/base/webhook/webhook.yaml" "$IT_TMP/base/webhook/webhook.yaml" >>"$IT_TMP/base.diff"; then
	it_pass "the base is what scripts/gen-kustomize-base writes"
else
	it_fail "the base differs from barged manifests (rerun scripts/gen-kustomize-base):
$(head -40 "$IT_TMP/base.diff")"
fi

# --- the checker -------------------------------------------------------------------

cat >"$IT_TMP/k8s.py" <<'EOF'
"""compare RENDER MANIFESTS | check FILE: the objects of two YAML streams, or one stream's."""
import re
import sys

import yaml

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUB = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
KINDS = {  # kind: (apiVersion, namespaced, top-level fields)
    "Namespace": ("v1", False, {"spec", "status"}),
    "ServiceAccount": ("v1", True, {"automountServiceAccountToken", "secrets", "imagePullSecrets"}),
    "ConfigMap": ("v1", True, {"data", "binaryData", "immutable"}),
    "Secret": ("v1", True, {"data", "stringData", "type", "immutable"}),
    "DaemonSet": ("apps/v1", True, {"spec", "status"}),
    "Service": ("v1", True, {"spec", "status"}),
    "MutatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", False, {"webhooks"}),
}


class Bad(Exception):
    pass


def need(cond, what):
    if not cond:
        raise Bad(what)


def is_int(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def check_labels(labels, where):
    need(isinstance(labels, dict), where + " is not a map")
    for k, v in labels.items():
        name = k.rsplit("/", 1)[-1]
        need(0 < len(name) <= 63 and LABEL_VALUE.match(name), f"{where}: bad key {k!r}")
        need(isinstance(v, str) and len(v) <= 63 and LABEL_VALUE.match(v), f"{where}: bad value {v!r}")


def check_selector(sel, where):
    for e in sel.get("matchExpressions", []):
        need(isinstance(e.get("key"), str), where + ": expression without a key")
        need(e.get("operator") in ("In", "NotIn", "Exists", "DoesNotExist"), where + ": bad operator")
        if e["operator"] in ("In", "NotIn"):
            need(isinstance(e.get("values"), list) and e["values"], where + ": In/NotIn without values")


def check_pod(spec, where):
    vols = {v["name"] for v in spec.get("volumes", [])}
    for v in spec.get("volumes", []):
        need(DNS_LABEL.match(v.get("name", "")), where + ": bad volume name")
        need(len(set(v) - {"name"}) == 1, f"{where}: volume {v['name']} needs exactly one source")
    for t in spec.get("tolerations", []):
        need(t.get("operator", "Equal") in ("Exists", "Equal"), where + ": bad toleration operator")
    need(isinstance(spec.get("priorityClassName", ""), str), where + ": priorityClassName")
    cs = spec.get("containers")
    need(isinstance(cs, list) and cs, where + ": no containers")
    for c in cs:
        need(DNS_LABEL.match(c.get("name", "")), where + ": bad container name")
        need(isinstance(c.get("image"), str) and c["image"], where + ": container without image")
        need(c.get("imagePullPolicy", "IfNotPresent") in ("Always", "IfNotPresent", "Never"),
             where + ": imagePullPolicy")
        for p in c.get("ports", []):
            need(is_int(p.get("containerPort"), 1, 65535), where + ": containerPort")
            need(p.get("protocol", "TCP") in ("TCP", "UDP", "SCTP"), where + ": protocol")
        for m in c.get("volumeMounts", []):
            need(m.get("name") in vols, f"{where}: mount of unknown volume {m.get('name')}")
            need(str(m.get("mountPath", "")).startswith("/"), where + ": mountPath")
        for kind in ("requests", "limits"):
            for r, q in c.get("resources", {}).get(kind, {}).items():
                need(r in ("cpu", "memory", "ephemeral-storage"), f"{where}: resource {r}")
                need(QUANTITY.match(str(q)), f"{where}: quantity {q!r}")


def check_webhook(w):
    where = "webhook " + str(w.get("name"))
    need(isinstance(w.get("name"), str) and w["name"].count(".") >= 2 and DNS_SUB.match(w["name"]),
         where + ": name must be a fully qualified domain name")
    cc = w.get("clientConfig", {})
    need(("url" in cc) != ("service" in cc), where + ": clientConfig needs exactly one of url, service")
    if "url" in cc:
        need(re.match(r"^https://[^/?#@]+(/[^?#]*)?$", cc["url"]), where + ": url must be https, no query")
    else:
        need(DNS_LABEL.match(cc["service"].get("name", "")), where + ": service name")
        need(DNS_LABEL.match(cc["service"].get("namespace", "")), where + ": service namespace")
        need(is_int(cc["service"].get("port", 443), 1, 65535), where + ": service port")
    need(isinstance(cc.get("caBundle", ""), str), where + ": caBundle")
    need(isinstance(w.get("admissionReviewVersions"), list) and w["admissionReviewVersions"],
         where + ": admissionReviewVersions")
    need(w.get("sideEffects") in ("None", "NoneOnDryRun"), where + ": sideEffects")
    need(w.get("failurePolicy", "Fail") in ("Ignore", "Fail"), where + ": failurePolicy")
    need(w.get("matchPolicy", "Equivalent") in ("Exact", "Equivalent"), where + ": matchPolicy")
    need(w.get("reinvocationPolicy", "Never") in ("Never", "IfNeeded"), where + ": reinvocationPolicy")
    need(is_int(w.get("timeoutSeconds", 10), 1, 30), where + ": timeoutSeconds")
    for r in w.get("rules", []):
        need(set(r.get("operations", [])) <= {"*", "CREATE", "UPDATE", "DELETE", "CONNECT"},
             where + ": operations")
        need(r.get("scope", "*") in ("*", "Cluster", "Namespaced"), where + ": scope")
    check_selector(w.get("namespaceSelector", {}), where)
    check_selector(w.get("objectSelector", {}), where)


def check(d):
    kind = d.get("kind")
    need(kind in KINDS, f"unknown kind {kind!r}")
    api, namespaced, fields = KINDS[kind]
    need(d.get("apiVersion") == api, f"{kind}: apiVersion {d.get('apiVersion')!r}")
    extra = set(d) - {"apiVersion", "kind", "metadata"} - fields
    need(not extra, f"{kind}: unknown fields {sorted(extra)}")
    md = d.get("metadata", {})
    need(isinstance(md.get("name"), str) and DNS_SUB.match(md["name"]), f"{kind}: metadata.name")
    where = f"{kind} {md['name']}"
    need(("namespace" in md) == namespaced, where + ": namespace " + ("missing" if namespaced else "on a cluster object"))
    if namespaced:
        need(DNS_LABEL.match(md["namespace"]), where + ": bad namespace")
    check_labels(md.get("labels", {}), where + " labels")
    for key in ("data", "stringData"):
        need(all(isinstance(v, str) for v in d.get(key, {}).values()), f"{where}: {key} values")
    if kind == "DaemonSet":
        s = d.get("spec", {})
        sel = s.get("selector", {}).get("matchLabels")
        tl = s.get("template", {}).get("metadata", {}).get("labels", {})
        need(sel and all(tl.get(k) == v for k, v in sel.items()), where + ": selector does not match the template")
        check_labels(tl, where + " template labels")
        check_pod(s["template"].get("spec", {}), where)
    if kind == "Service":
        s = d.get("spec", {})
        need(s.get("type", "ClusterIP") in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"), where + ": type")
        need(isinstance(s.get("ports"), list) and s["ports"], where + ": no ports")
        for p in s["ports"]:
            need(is_int(p.get("port"), 1, 65535), where + ": port")
            if "nodePort" in p:
                need(s.get("type") in ("NodePort", "LoadBalancer") and is_int(p["nodePort"], 30000, 32767),
                     where + ": nodePort")
    if kind == "MutatingWebhookConfiguration":
        need(isinstance(d.get("webhooks"), list) and d["webhooks"], where + ": no webhooks")
        for w in d["webhooks"]:
            check_webhook(w)


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def key(d):
    md = d.get("metadata", {})
    return (d.get("kind"), md.get("namespace", ""), md.get("name"))


def normalise(d):
    """barged manifests' per-install values, as the base's placeholders."""
    if d.get("kind") == "Secret":
        d["data"].update({"tls.crt": "BARGE_TLS_CRT", "tls.key": "BARGE_TLS_KEY", "ca.crt": "BARGE_CA_BUNDLE"})
    for w in d.get("webhooks", []):
        w["clientConfig"]["caBundle"] = "BARGE_CA_BUNDLE"
    return d


def main():
    if sys.argv[1] == "check":
        docs = load(sys.argv[2])
        need(docs, "no objects")
        for d in docs:
            check(d)
        print(f"{len(docs)} objects")
        return
    render = {key(d): d for d in load(sys.argv[2])}
    ours = {key(d): normalise(d) for d in load(sys.argv[3])}
    need(render.keys() == ours.keys(), f"objects differ: {sorted(map(str, render.keys() ^ ours.keys()))}")
    for k in sorted(ours, key=str):
        need(render[k] == ours[k], f"{k} differs:\n{yaml.safe_dump(render[k])}\n---\n{yaml.safe_dump(ours[k])}")
    print(f"{len(ours)} objects equal")


try:
    main()
except Bad as e:
    print(e, file=sys.stderr)
    sys.exit(1)
EOF

cat >"$IT_TMP/schema.py" <<'EOF'
"""schema SWAGGER FILE...: every object of the YAML streams against its definition in
Kubernetes' OpenAPI v2 document, strictly (unknown fields are errors, as kubeconform -strict)."""
import json
import sys

import jsonschema
import yaml

# The v1.13 document predates these fields; each is declared here as the
# Kubernetes version that added it defines it, so that strict validation
# refuses a misspelt field without refusing one newer than the document.
SECCOMP = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "enum": ["Localhost", "RuntimeDefault", "Unconfined"]},
    "localhostProfile": {"type": "string"}}}
SELECTOR = {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"}
LATER = {
    "io.k8s.api.core.v1.PodSecurityContext": {"seccompProfile": SECCOMP},  # 1.19
    "io.k8s.api.core.v1.SecurityContext": {"seccompProfile": SECCOMP},  # 1.19
    "io.k8s.api.admissionregistration.v1beta1.RuleWithOperations": {"scope": {"type": "string"}},  # 1.14
    "io.k8s.api.admissionregistration.v1beta1.ServiceReference": {  # 1.15
        "port": {"type": "integer", "format": "int32"}},
    "io.k8s.api.admissionregistration.v1beta1.Webhook": {  # 1.14 and 1.15
        "admissionReviewVersions": {"type": "array", "items": {"type": "string"}},
        "timeoutSeconds": {"type": "integer", "format": "int32"},
        "matchPolicy": {"type": "string"},
        "objectSelector": SELECTOR,
        "reinvocationPolicy": {"type": "string"}},
}
# admissionregistration.k8s.io/v1 (Kubernetes 1.16) is not in the v1.13
# document: its MutatingWebhookConfiguration is v1beta1's with the fields
# above (sideEffects and admissionReviewVersions, required in v1, are left
# to the hand-written check), so the v1beta1 definition validates it.
ALIAS = {("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"):
         ("admissionregistration.k8s.io", "v1beta1", "MutatingWebhookConfiguration")}
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def strict(s):
    """Swagger 2 to what jsonschema checks: int-or-string is either type,
    objects with properties take no others (x-kubernetes-* keys are ignored
    by jsonschema and left alone)."""
    if isinstance(s, list):
        return [strict(v) for v in s]
    if not isinstance(s, dict):
        return s
    s = {k: strict(v) for k, v in s.items()}
    if s.get("format") == "int-or-string":
        s = {"type": ["integer", "string"]}
    if "properties" in s and "additionalProperties" not in s:
        s["additionalProperties"] = False
    return s


def definitions(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        sys.exit(f"{path}: {e.strerror}: install golang-k8s-kube-openapi-dev (scripts/lib-install.sh does)")
    defs = doc["definitions"]
    for name, extra in LATER.items():
        defs[name]["properties"].update(extra)
    # YAML writes a quantity like cpu: 1 as a number, which the API accepts.
    defs[QUANTITY] = {"type": ["string", "number"]}
    gvk = {}
    for name, d in defs.items():
        for g in d.get("x-kubernetes-group-version-kind", []):
            k = (g["group"], g["version"], g["kind"])
            if k not in gvk or name.startswith("io.k8s.api."):
                gvk[k] = name
    return doc["info"]["version"], strict(defs), gvk


def main():
    version, defs, gvk = definitions(sys.argv[1])
    validators, bad, n = {}, 0, 0
    for path in sys.argv[2:]:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        for d in docs:
            n += 1
            group, _, ver = str(d.get("apiVersion")).rpartition("/")
            k = ALIAS.get((group, ver, d.get("kind")), (group, ver, d.get("kind")))
            what = f"{path}: {d.get('kind')} {d.get('metadata', {}).get('name')}"
            if k not in gvk:
                print(f"{what}: no definition for {d.get('apiVersion')} {d.get('kind')} in {version}")
                bad += 1
                continue
            if k not in validators:
                validators[k] = jsonschema.Draft4Validator({"definitions": defs, "$ref": "#/definitions/" + gvk[k]})
            for e in sorted(validators[k].iter_errors(d), key=lambda e: list(e.absolute_path)):
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
                print(f"{what}: ${where}: {e.message}")
                bad += 1
    if bad:
        sys.exit(1)
    print(f"{n} objects valid against Kubernetes {version}")


main()
EOF

# --- the overlays render barged manifests ------------------------------------------

: >"$IT_TMP/barged.yaml"
for mode in daemonset host; do
	"$KUBECTL" kustomize "$KUST/overlays/$mode" >"$IT_TMP/$mode.render.yaml" 2>"$IT_TMP/$mode.err" ||
		it_die "kubectl kustomize overlays/$mode: $(cat "$IT_TMP/$mode.err")"
	"$BARGED" manifests --mode "$mode" --config "$IT_TMP/barged.yaml" --data-dir "$IT_TMP/data" \
		>"$IT_TMP/$mode.barged.yaml"
	if python3 "$IT_TMP/k8s.py" compare "$IT_TMP/$mode.render.yaml" "$IT_TMP/$mode.barged.yaml" \
		>"$IT_TMP/$mode.cmp" 2>&1; then
		it_pass "overlays/$mode renders barged manifests --mode $mode ($(cat "$IT_TMP/$mode.cmp"))"
	else
		it_fail "overlays/$mode and barged manifests --mode $mode: $(cat "$IT_TMP/$mode.cmp")"
	fi
	if python3 "$IT_TMP/k8s.py" check "$IT_TMP/$mode.render.yaml" >"$IT_TMP/$mode.chk" 2>&1; then
		it_pass "overlays/$mode passes the API checks ($(cat "$IT_TMP/$mode.chk"))"
	else
		it_fail "overlays/$mode: $(cat "$IT_TMP/$mode.chk")"
	fi
done
if python3 "$IT_TMP/schema.py" "$K8S_SWAGGER" "$IT_TMP"/{daemonset,host}.{render,barged}.yaml \
	>"$IT_TMP/schema.out" 2>&1; then
	it_pass "both renders and barged manifests pass the Kubernetes schema ($(cat "$IT_TMP/schema.out"))"
else
	it_fail "the Kubernetes schema refuses:
$(cat "$IT_TMP/schema.out")"
fi
it_check_eq "host mode is the webhook configuration alone" "MutatingWebhookConfiguration" \
	"$(grep '^kind:' "$IT_TMP/host.render.yaml" | sed 's/kind: //')"

# --- the check and the comparison can fail -------------------------------------------

bad() { # bad DESCRIPTION SED-EXPRESSION: the daemonset render, broken, is refused
	sed -e "$2" "$IT_TMP/daemonset.render.yaml" >"$IT_TMP/bad.yaml"
	if python3 "$IT_TMP/k8s.py" check "$IT_TMP/bad.yaml" >"$IT_TMP/bad.out" 2>&1; then
		it_fail "the check accepts $1"
	else
		it_pass "the check refuses $1: $(cat "$IT_TMP/bad.out")"
	fi
}
schema_bad() { # schema_bad DESCRIPTION SED-EXPRESSION MESSAGE: the schema refuses the broken render with MESSAGE
	sed -e "$2" "$IT_TMP/daemonset.render.yaml" >"$IT_TMP/bad.yaml"
	if cmp -s "$IT_TMP/bad.yaml" "$IT_TMP/daemonset.render.yaml"; then
		it_fail "the sed for $1 changed nothing"
	elif python3 "$IT_TMP/schema.py" "$K8S_SWAGGER" "$IT_TMP/bad.yaml" >"$IT_TMP/bad.out" 2>&1; then
		it_fail "the schema accepts $1"
	elif grep -qF -- "$3" "$IT_TMP/bad.out"; then
		it_pass "the schema refuses $1: $(cat "$IT_TMP/bad.out")"
	else
		it_fail "the schema refuses $1 without '$3': $(cat "$IT_TMP/bad.out")"
	fi
}
schema_bad "an unknown field in the pod spec" '/^      automountServiceAccountToken: false/a\      hostNetwrk: true' \
	"DaemonSet barged: \$.spec.template.spec: Additional properties are not allowed ('hostNetwrk' was unexpected)"
schema_bad "a string for the container port" 's/containerPort: 30003/containerPort: "30003"/' \
	"DaemonSet barged: \$.spec.template.spec.containers[0].ports[0].containerPort: '30003' is not of type 'integer'"
schema_bad "an unknown field in a webhook" 's/^  sideEffects: None/  sideEffect: None/' \
	"MutatingWebhookConfiguration barged-imageswap: \$.webhooks[0]: Additional properties are not allowed ('sideEffect' was unexpected)"
bad "a nodePort out of range" 's/nodePort: 30003/nodePort: 3003/'
bad "an unknown webhook sideEffects" 's/sideEffects: None/sideEffects: Some/'
bad "a webhook timeout over 30 s" 's/timeoutSeconds: 5/timeoutSeconds: 60/'
bad "a mount of a missing volume" '/mountPath: \/tmp$/{n;s/name: tmp/name: scratch/}'
bad "a bad memory quantity" 's/memory: 128Mi/memory: 128 MB/'
sed -e 's|/webhook/mutate|/webhook/validate|' "$IT_TMP/host.render.yaml" >"$IT_TMP/bad.yaml"
if python3 "$IT_TMP/k8s.py" compare "$IT_TMP/bad.yaml" "$IT_TMP/host.barged.yaml" >/dev/null 2>&1; then
	it_fail "the comparison misses a changed webhook URL"
else
	it_pass "the comparison notices a changed webhook URL"
fi

it_summary
