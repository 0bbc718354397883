#!/usr/bin/env bash
# The install tree and the man pages (issue #13):
#   - `cmake --install --prefix` puts every file where it belongs, keeps an
#     operator's /etc/barge/barged.yaml, and the installed unit passes
#     `systemd-analyze verify` (its ExecStart is the installed barged);
#   - every page renders with `man -l` without a groff warning;
#   - the pages do not drift from the programs: barge(1) and barged(8) list
#     exactly the verbs of `--help`, and under each verb exactly the long
#     options of `VERB --help`; barged.yaml(5) lists exactly the keys of
#     appliance/config/config.c.
#
# Env: BARGE, BARGED (paths of the binaries; the build directory is found
# from BARGED).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BARGE=${BARGE:-$IT_REPO_ROOT/build/bundler/barge}
BARGED=${BARGED:-$IT_REPO_ROOT/build/appliance/barged}
BUILD=$(cd "$(dirname "$BARGED")/.." && pwd)
MAN_SRC=$IT_REPO_ROOT/docs/man
[ -f "$BUILD/CMakeCache.txt" ] || it_die "no build directory above $BARGED"
for tool in cmake man systemd-analyze scdoc; do
	command -v "$tool" >/dev/null || it_die "missing $tool (scripts/check installs it)"
done
it_tmpdir

# --- install -----------------------------------------------------------------

ROOT=$IT_TMP/root
cmake --install "$BUILD" --prefix "$ROOT" >"$IT_TMP/install.log"
for f in bin/barge bin/barged etc/barge/barged.yaml lib/systemd/system/barged.service \
	share/man/man1/barge.1.gz share/man/man8/barged.8.gz share/man/man5/barged.yaml.5.gz \
	share/man/man5/barge-profile.5.gz share/doc/barge/README.md share/doc/barge/operations.md \
	share/doc/barge/copyright share/doc/barged/copyright share/doc/barged/changelog.gz \
	share/doc/barged/examples/barged.yaml; do
	it_check "installed $f" test -s "$ROOT/$f"
done
it_check "installed barged runs" "$ROOT/bin/barged" --version
UNIT=$ROOT/lib/systemd/system/barged.service
it_check_eq "the unit starts the installed barged" \
	"ExecStart=$ROOT/bin/barged serve --config /etc/barge/barged.yaml" "$(grep '^ExecStart=' "$UNIT")"
if systemd-analyze verify "$UNIT" >"$IT_TMP/verify.log" 2>&1; then
	it_pass "systemd-analyze verify barged.service"
else
	it_fail "systemd-analyze verify barged.service: $(cat "$IT_TMP/verify.log")"
fi
echo "listen: \":31000\" # the operator's" >"$ROOT/etc/barge/barged.yaml"
cmake --install "$BUILD" --prefix "$ROOT" >"$IT_TMP/install2.log"
it_check "a second install keeps the operator's barged.yaml" \
	grep -q "the operator's" "$ROOT/etc/barge/barged.yaml"

# --- rendering -----------------------------------------------------------------

for page in barge.1 barged.8 barged.yaml.5 barge-profile.5; do
	f=$BUILD/man/$page.gz
	if LC_ALL=C MANWIDTH=80 man --warnings -l "$f" >"$IT_TMP/$page.txt" 2>"$IT_TMP/$page.err" &&
		[ ! -s "$IT_TMP/$page.err" ] && grep -q '^NAME' "$IT_TMP/$page.txt"; then
		it_pass "man -l $page renders"
	else
		it_fail "man -l $page: $(cat "$IT_TMP/$page.err")"
	fi
done

# --- drift ---------------------------------------------------------------------

# scd_section FILE HEADING: the lines of "## HEADING" up to the next heading.
scd_section() {
	awk -v h="## $2" '$0 == h { on = 1; next } /^##? / { on = 0 } on' "$1"
}
# scd_subheads FILE SECTION: the "## " headings inside "# SECTION", unescaped.
scd_subheads() {
	awk -v s="# $2" '$0 == s { on = 1; next } /^# / { on = 0 } on && /^## / { print $2 }' "$1" |
		sed 's/\\_/_/g' | sort
}
# long_opts: the --options named on standard input, once each, but --help
# (every verb has it; the pages say so once).
long_opts() { grep -o -- '--[a-z][a-z0-9-]*' | grep -vx -- --help | sort -u || true; }
# help_opts PROGRAM VERB: the options of VERB --help, from its usage and
# option lines (prose may name other programs' flags: skopeo --creds).
help_opts() {
	"$1" "$2" --help 2>&1 | grep -E '^(usage:|[[:space:]]+(-|\[|barged? ))' | long_opts
}
# help_verbs PROGRAM: the verbs of PROGRAM --help.
help_verbs() {
	"$1" --help | awk '/^verbs:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }' | sort
}

check_program() { # check_program PROGRAM PAGE
	local prog=$1 page=$MAN_SRC/$2.scd verb
	it_check_eq "$2 lists the verbs of $(basename "$prog") --help" \
		"$(help_verbs "$prog" | tr '\n' ' ')" "$(scd_subheads "$page" VERBS | tr '\n' ' ')"
	for verb in $(help_verbs "$prog"); do
		it_check_eq "$2: $verb lists the options of --help" \
			"$(help_opts "$prog" "$verb" | tr '\n' ' ')" \
			"$(scd_section "$page" "$verb" | long_opts | tr '\n' ' ')"
	done
}
check_program "$BARGE" barge.1
check_program "$BARGED" barged.8

config_keys=$(grep -o '{ "[a-z_.]*", K_[A-Z]*' "$IT_REPO_ROOT/appliance/config/config.c" |
	grep -v K_SECTION | sed 's/{ "\([^"]*\)".*/\1/' | sort | tr '\n' ' ')
it_check_eq "barged.yaml.5 lists every key of config.c" \
	"$config_keys" "$(scd_subheads "$MAN_SRC/barged.yaml.5.scd" KEYS | tr '\n' ' ')"

it_summary
