/*
 * fuzz_yjson: YAML to JSON (common/yjson.h), the loader under profiles,
 * Kubernetes manifests, Helm values and barged.yaml.
 *
 * The input is a YAML stream of up to YJSON_FILE_MAX bytes, as
 * yjson_load_file bounds a file; every node of every document is then
 * visited and asked for its position, as error messages do.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "yjson.h"

static void
visit(const struct yjson *y, json_t *node, int depth)
{
	const char *key;
	json_t *v;
	size_t i;
	int line, col;

	/*
	 * yjson bounds nesting, aliases included, so a walk this deep means
	 * a cycle: every caller's walk would loop too.
	 */
	if (depth > 4 * YJSON_DEPTH_MAX)
		abort();
	(void)yjson_pos(y, node, &line, &col);
	if (json_is_object(node)) {
		json_object_foreach(node, key, v)
		{
			(void)yjson_key_pos(y, node, key, &line, &col);
			visit(y, v, depth + 1);
		}
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, v) visit(y, v, depth + 1);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct yjson *y = NULL;
	size_t i;

	if (size > YJSON_FILE_MAX)
		return 0;
	if (yjson_load_buf("fuzz.yaml", (const char *)data, size, &y, &err) != BARGE_OK)
		return 0;
	for (i = 0; i < yjson_ndocs(y); i++)
		visit(y, yjson_doc(y, i), 0);
	yjson_free(y);
	return 0;
}
