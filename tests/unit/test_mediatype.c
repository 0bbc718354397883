#include "test_main.h"

#include "mediatype.h"

static void
test_index_types(void **state)
{
	assert_true(mt_is_index(MT_OCI_INDEX));
	assert_true(mt_is_index(MT_DOCKER_LIST));
	assert_true(mt_is_index(" " MT_OCI_INDEX "; charset=utf-8"));
	assert_true(mt_is_index(MT_DOCKER_LIST "\t;"));
	assert_false(mt_is_index(MT_OCI_MANIFEST));
	assert_false(mt_is_index(MT_OCI_INDEX "x"));
	assert_false(mt_is_index("application/vnd.oci.image.index.v1"));
	assert_false(mt_is_index(""));
	assert_false(mt_is_index(NULL));
}

static void
test_manifest_types(void **state)
{
	assert_true(mt_is_manifest(MT_OCI_MANIFEST));
	assert_true(mt_is_manifest(MT_DOCKER_MANIFEST));
	assert_true(mt_is_manifest(MT_DOCKER_MANIFEST " ; q=0.5"));
	assert_false(mt_is_manifest(MT_DOCKER_LIST));
	assert_false(mt_is_manifest(MT_OCI_CONFIG));
	assert_false(mt_is_manifest("application/json"));
	assert_false(mt_is_manifest(";"));
	assert_false(mt_is_manifest(NULL));
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_index_types),
	cmocka_unit_test(test_manifest_types),
};

BARGE_TEST_MAIN(tests)
