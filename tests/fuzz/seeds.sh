#!/usr/bin/env bash
# tests/fuzz/seeds.sh OUT [NAME...]: assembles the seed corpus of each named
# harness (all of them by default) into OUT/<name>/, from what the tree
# already holds rather than from copies of it: tests/data's fixtures, the
# small hand-written seeds of tests/fuzz/corpus/<name>/, and for the
# bundle and ISO readers a bundle and an image made here from tests/data
# (with tar, zstd and xorriso, which scripts/lib-install.sh installs).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
data=$here/../data
out=${1:?usage: seeds.sh OUT [NAME...]}
shift
if [ "$#" -eq 0 ]; then
	for f in "$here"/fuzz_*.c; do
		f=${f##*/fuzz_}
		set -- "$@" "${f%.c}"
	done
fi
mapfile -t profiles < <(find "$data/profiles" -name '*.yaml' | sort)

# copy DIR FILE...: copies the files, each under its path in tests/data
# with '/' written '_', so that same-named files do not collide; expected
# outputs (*.expected.json) are no inputs.
copy() {
	local dir=$1 f
	shift
	for f in "$@"; do
		case $f in *.expected.json) continue ;; esac
		[ -f "$f" ] && cp "$f" "$dir/$(realpath --relative-to="$data" "$f" | tr / _)"
	done
	return 0
}

# tsv_seeds DIR FILE...: every first column of the TSV files, one seed each.
tsv_seeds() {
	local dir=$1 n=0 line
	shift
	while IFS= read -r line; do
		case $line in '#'* | '') continue ;; esac
		n=$((n + 1))
		printf '%s' "${line%%$'\t'*}" >"$dir/tsv-$n"
	done < <(cat "$@")
}

# tar_seed TAR: a small bundle's tar, as the writer lays it out: barge.json,
# oci-layout, index.json, then blobs named by their digests.
tar_seed() {
	local tar=$1 tmp hex f
	tmp=$(mktemp -d)
	cp "$data/bundle_meta/valid.json" "$tmp/barge.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci-layout"
	cp "$data/manifests/oci-index.json" "$tmp/index.json"
	mkdir -p "$tmp/blobs/sha256"
	for f in "$data/manifests/oci-image.json" "$data/manifests/docker-manifest.json"; do
		hex=$(sha256sum "$f" | cut -c1-64)
		cp "$f" "$tmp/blobs/sha256/$hex"
	done
	(cd "$tmp" && tar --format=pax --owner=0 --group=0 --mtime=@0 --sort=name -b 1 \
		-cf "$tar" barge.json oci-layout index.json blobs/sha256)
	rm -rf "$tmp"
}

for name in "$@"; do
	dir=$out/$name
	mkdir -p "$dir"
	if [ -d "$here/corpus/$name" ]; then
		cp "$here/corpus/$name"/* "$dir/"
	fi
	case $name in
	ref) tsv_seeds "$dir" "$data"/refs/*.tsv ;;
	manifest) copy "$dir" "$data"/manifests/*.json "$data"/manifests/*.txt ;;
	yjson) copy "$dir" "$data"/yaml/*.yaml "$data"/config/*.yaml "$data"/manifests-k8s/*.yaml \
		"${profiles[@]}" ;;
	profile) copy "$dir" "${profiles[@]}" ;;
	bundle_meta) copy "$dir" "$data"/bundle_meta/*.json ;;
	archive) copy "$dir" "$data"/archives/*.tar ;;
	lock) copy "$dir" "$data"/locks/*.json ;;
	config) copy "$dir" "$data"/config/*.yaml ;;
	webhook) copy "$dir" "$data"/admission/*.json ;;
	charts)
		tar -C "$data/charts" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
			-cf - demo | gzip -n >"$dir/demo.tgz"
		;;
	bundle)
		tar_seed "$dir/bundle.tar"
		if command -v zstd >/dev/null; then
			zstd -q -3 --check "$dir/bundle.tar" -o "$dir/bundle.barge"
		fi
		;;
	iso)
		if command -v xorriso >/dev/null && command -v zstd >/dev/null; then
			tmp=$(mktemp -d)
			tar_seed "$tmp/b.tar"
			zstd -q -3 --check "$tmp/b.tar" -o "$tmp/demo.barge"
			rm "$tmp/b.tar"
			mkdir "$tmp/sub"
			printf 'hello\n' >"$tmp/sub/readme.txt"
			xorriso -as mkisofs -quiet -o "$dir/media.iso" "$tmp" 2>/dev/null
			rm -rf "$tmp"
		else
			echo "seeds.sh: no xorriso or zstd: the ISO corpus starts empty" >&2
		fi
		;;
	esac
done
