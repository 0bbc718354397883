#include "test_main.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "fixture.h"
#include "lock.h"
#include "profile.h"

#define LOCKS    BARGE_TEST_DATA "/locks/"
#define PROFILES BARGE_TEST_DATA "/profiles/"

static void
test_parse_good(void **state)
{
	struct barge_err err;
	struct lock *l = NULL;
	char plat[64];

	if (lock_load(LOCKS "good.json", &l, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_string_equal(l->name, "edge-retail");
	assert_string_equal(l->version, "1.4.0");
	assert_string_equal(l->project, "edge");
	assert_int_equal(l->nplatforms, 2);
	platform_format(&l->platforms[1], plat, sizeof(plat));
	assert_string_equal(plat, "linux/arm64/v8");
	assert_int_equal(l->nfiles, 1);
	assert_string_equal(l->files[0].path, "profiles/edge.yaml");
	assert_int_equal(l->nimages, 2);
	assert_string_equal(l->images[0].source, "docker.io/library/nginx:1.25");
	assert_string_equal(l->images[0].ref->tag, "1.25");
	assert_int_equal(l->images[0].size, 1000);
	assert_int_equal(l->images[0].nmanifests, 2);
	assert_int_equal(l->images[0].manifests[1].size, 501);
	assert_int_equal(l->images[0].norigins, 2);
	assert_string_equal(l->images[0].origins[1].file, "manifests/web.yaml");
	assert_int_equal(l->images[0].origins[1].line, 40);
	assert_int_equal(l->images[0].origins[1].col, 20);
	assert_int_equal(l->images[1].nmanifests, 0);
	assert_string_equal(l->images[1].ref->host, "localhost:5000");
	lock_free(l);
}

/*
 * Parses LOCKS/name and dumps it again, which must give the file's bytes
 * back; the parsed lock for more checks (caller frees).
 */
static struct lock *
roundtrip(const char *name)
{
	struct barge_err err;
	struct lock *l = NULL;
	char *path, *file = NULL, *text = NULL;
	size_t flen, tlen;

	assert_true(asprintf(&path, "%s%s", LOCKS, name) > 0);
	assert_int_equal(fu_read_file(path, 1 << 20, &file, &flen, &err), BARGE_OK);
	if (lock_parse(name, file, flen, &l, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(lock_dump(l, &text, &tlen, &err), BARGE_OK);
	assert_int_equal(tlen, flen);
	assert_memory_equal(text, file, flen);
	free(text);
	free(file);
	free(path);
	return l;
}

/* Loading and dumping gives the file's bytes back: the format is fixed. */
static void
test_roundtrip_bytes(void **state)
{
	lock_free(roundtrip("good.json"));
}

/* A lock written before origins had a column still loads, and dumps to its own bytes. */
static void
test_lock_without_columns(void **state)
{
	char *file = fx_read(LOCKS "v1-no-column.json", NULL);
	struct lock *l = roundtrip("v1-no-column.json");

	assert_null(strstr(file, "column"));
	free(file);
	assert_int_equal(l->images[0].origins[0].line, 12);
	assert_int_equal(l->images[0].origins[0].col, 0);
	lock_free(l);
}

static void
test_bad_cases(void **state)
{
	char line[1024], path[1200], want[2400], *tab;
	struct barge_err err;
	struct lock *l;
	FILE *f = fopen(LOCKS "cases.txt", "r");
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || (tab = strchr(line, '\t')) == NULL)
			continue;
		*tab = '\0';
		snprintf(path, sizeof(path), LOCKS "%s", line);
		snprintf(want, sizeof(want), "%s%s%s", path, tab[1] == '\0' ? "" : ": ", tab + 1);
		/* JSON syntax errors name line:column right after the file. */
		if (strstr(tab + 1, line) == tab + 1)
			snprintf(want, sizeof(want), LOCKS "%s", tab + 1);
		l = NULL;
		err_clear(&err);
		if (lock_load(path, &l, &err) == BARGE_OK)
			fail_msg("%s loaded", line);
		assert_null(l);
		if (strstr(err.msg, want) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", line, err.msg, want);
		n++;
	}
	fclose(f);
	assert_true(n >= 16);
}

static void
test_write_atomic(void **state)
{
	char dir[FX_DIR_MAX], *path, *a = NULL, *b = NULL;
	struct barge_err err;
	struct lock *l = NULL, *back = NULL;
	size_t alen, blen, nent = 0;
	struct dirent *de;
	DIR *d;

	fx_tmpdir(dir, "lock");
	path = fu_printf("%s/out.lock.json", dir);
	assert_int_equal(lock_load(LOCKS "good.json", &l, &err), BARGE_OK);
	assert_int_equal(lock_write(l, path, &err), BARGE_OK);
	assert_int_equal(lock_load(path, &back, &err), BARGE_OK);
	assert_int_equal(lock_dump(l, &a, &alen, &err), BARGE_OK);
	assert_int_equal(lock_dump(back, &b, &blen, &err), BARGE_OK);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	/* Only the lock itself: no temporary sibling left behind. */
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			nent++;
	closedir(d);
	assert_int_equal(nent, 1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(a);
	free(b);
	free(path);
	lock_free(l);
	lock_free(back);
}

static void
test_from_profile(void **state)
{
	struct barge_err err;
	struct profile *p = NULL;
	struct lock *l = NULL;
	struct platform pl;
	char plat[64];
	size_t i, k;

	assert_int_equal(profile_load(PROFILES "layered/edge.yaml", &p, &err), BARGE_OK);
	assert_int_equal(platform_parse("linux/arm/v7", &pl, &err), BARGE_OK);
	assert_int_equal(lock_from_profile(p, &pl, 1, &l, &err), BARGE_OK);
	assert_string_equal(l->name, "edge-retail");
	assert_string_equal(l->project, "retail");
	assert_int_equal(l->nplatforms, 1);
	platform_format(&l->platforms[0], plat, sizeof(plat));
	assert_string_equal(plat, "linux/arm/v7");
	assert_int_equal(l->nimages, p->nimages);
	assert_int_equal(l->nfiles, p->nfiles);
	assert_string_equal(l->files[0].sha256, p->files[0].sha256);
	assert_int_equal(l->images[3].norigins, 2);
	assert_string_equal(l->images[3].origins[1].pack, "podinfo");
	/* Each origin keeps the profile's file:line:column. */
	for (i = 0; i < l->nimages; i++)
		for (k = 0; k < l->images[i].norigins; k++) {
			assert_string_equal(l->images[i].origins[k].file,
			                    p->images[i].origins[k].file);
			assert_int_equal(l->images[i].origins[k].line,
			                 p->images[i].origins[k].line);
			assert_int_equal(l->images[i].origins[k].col, p->images[i].origins[k].col);
			assert_true(l->images[i].origins[k].col > 0);
		}
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_OK);
	lock_free(l);
	profile_free(p);
}

static void
test_matches_profile_names_differences(void **state)
{
	struct barge_err err;
	struct profile *p = NULL;
	struct lock *l = NULL;

	assert_int_equal(profile_load(PROFILES "multi-pack.yaml", &p, &err), BARGE_OK);
	assert_int_equal(lock_load(LOCKS "good.json", &l, &err), BARGE_OK);
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "not in the lock: docker.io/rancher/mirrored-pause:3.6, "
	                                "registry.example.com:5000/tools/busybox:1.36, "
	                                "localhost:5000/app@sha256:"));
	assert_non_null(strstr(err.msg, "only in the lock: localhost:5000/app:1"));
	/* nginx:1.25 is in both. */
	assert_null(strstr(err.msg, "nginx"));
	lock_free(l);
	profile_free(p);
}

/*
 * An image read from a local OCI layout keeps its "from" through a parse
 * and a dump, byte for byte; the registry image beside it has none.
 */
static void
test_local_from_roundtrip(void **state)
{
	struct lock *l = roundtrip("local-from.json");

	assert_string_equal(l->images[0].from, "oci-archive:profiles/../build/barged-image.tar");
	assert_null(l->images[1].from);
	lock_free(l);
}

/*
 * An image's referrers (the cosign signature under its tag, an SBOM of
 * one of its manifests) survive a parse and a dump byte for byte; an
 * image without any has no "referrers" key.
 */
static void
test_referrers_roundtrip(void **state)
{
	struct lock *l = roundtrip("referrers.json");
	const struct lock_referrer *r;

	assert_int_equal(l->images[0].nreferrers, 2);
	r = &l->images[0].referrers[0];
	assert_string_equal(r->subject, l->images[0].digest);
	assert_string_equal(
	        r->tag,
	        "sha256-1111111111111111111111111111111111111111111111111111111111111111.sig");
	assert_string_equal(r->artifact_type, "application/vnd.dev.cosign.simplesigning.v1+json");
	assert_int_equal(r->size, 700);
	r = &l->images[0].referrers[1];
	assert_string_equal(r->subject, l->images[0].manifests[0].digest);
	assert_null(r->tag);
	assert_int_equal(l->images[1].nreferrers, 0);
	lock_free(l);
}

/*
 * The lock takes each image's source from the profile, and a lock whose
 * image comes from elsewhere than the profile says does not match it.
 */
static void
test_local_from_profile(void **state)
{
	struct barge_err err;
	struct profile *p = NULL;
	struct lock *l = NULL;

	assert_int_equal(profile_load(PROFILES "local-image.yaml", &p, &err), BARGE_OK);
	assert_int_equal(lock_from_profile(p, NULL, 0, &l, &err), BARGE_OK);
	assert_string_equal(l->images[0].from, p->images[0].from);
	assert_null(l->images[2].from);
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_OK);
	free(l->images[1].from);
	l->images[1].from = strdup("oci:/elsewhere");
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "localhost/tool:1 comes from oci:/srv/layouts/tool in the "
	                             "profile but from oci:/elsewhere in the lock (resolve again "
	                             "to update the lock)");
	free(l->images[1].from);
	l->images[1].from = NULL;
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "but from its registry in the lock"));
	lock_free(l);
	profile_free(p);
}

/* l pinned as resolve pins it, written and read back, as `barge build --locked` reads it. */
static struct lock *
reread(struct lock *l)
{
	struct barge_err err;
	struct lock *back = NULL;
	char *text = NULL;
	size_t len, i;

	for (i = 0; i < l->nimages; i++) {
		snprintf(l->images[i].digest, sizeof(l->images[i].digest), "sha256:%064zx", i);
		assert_non_null(l->images[i].media_type =
		                        strdup("application/vnd.oci.image.manifest.v1+json"));
		l->images[i].size = 500;
	}
	assert_int_equal(lock_dump(l, &text, &len, &err), BARGE_OK);
	if (lock_parse("lock.json", text, len, &back, &err) != BARGE_OK)
		fail_msg("%s", err.msg);
	free(text);
	lock_free(l);
	return back;
}

/*
 * A lock records the referrer settings it was resolved with, and does not
 * match a profile that now says otherwise: the user resolves again.
 */
static void
test_matches_profile_referrer_settings(void **state)
{
	struct barge_err err;
	struct profile *p = NULL;
	struct lock *l = NULL;

	assert_int_equal(profile_load(PROFILES "minimal.yaml", &p, &err), BARGE_OK);
	assert_int_equal(lock_from_profile(p, NULL, 0, &l, &err), BARGE_OK);
	l = reread(l);
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_OK);
	p->no_referrers = 1;
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "the lock was resolved with referrers on, and the profile "
	                             "now says \"referrers: false\" (resolve again to update "
	                             "the lock)");
	/* Resolved with them off: the lock says so, and a profile turning them on differs. */
	lock_free(l);
	assert_int_equal(lock_from_profile(p, NULL, 0, &l, &err), BARGE_OK);
	l = reread(l);
	assert_true(l->no_referrers);
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_OK);
	p->no_referrers = 0;
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_EINVAL);
	assert_non_null(strstr(err.msg, "resolved with referrers off"));
	/* Another referrer_types. */
	lock_free(l);
	assert_int_equal(lock_from_profile(p, NULL, 0, &l, &err), BARGE_OK);
	l = reread(l);
	assert_non_null(p->referrer_types = calloc(2, sizeof(char *)));
	assert_non_null(p->referrer_types[0] = strdup("application/spdx+json"));
	p->nreferrer_types = 1;
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_EINVAL);
	assert_string_equal(err.msg, "the lock keeps referrers of every type, and the profile's "
	                             "referrer_types now say application/spdx+json (resolve "
	                             "again to update the lock)");
	lock_free(l);
	assert_int_equal(lock_from_profile(p, NULL, 0, &l, &err), BARGE_OK);
	l = reread(l);
	assert_int_equal(l->nreferrer_types, 1);
	assert_int_equal(lock_matches_profile(l, p, &err), BARGE_OK);
	lock_free(l);
	profile_free(p);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_parse_good),
	cmocka_unit_test(test_roundtrip_bytes),
	cmocka_unit_test(test_lock_without_columns),
	cmocka_unit_test(test_bad_cases),
	cmocka_unit_test(test_write_atomic),
	cmocka_unit_test(test_from_profile),
	cmocka_unit_test(test_matches_profile_names_differences),
	cmocka_unit_test(test_local_from_roundtrip),
	cmocka_unit_test(test_referrers_roundtrip),
	cmocka_unit_test(test_local_from_profile),
	cmocka_unit_test(test_matches_profile_referrer_settings),
};

BARGE_TEST_MAIN(tests)
