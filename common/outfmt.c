/*
 * outfmt: -o/--output parsed once for both programs, and a verb's result
 * printed as JSON or YAML (outfmt.h).  It owns nothing past a call: the
 * libyaml emitter lives for one outfmt_print.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "outfmt.h"

/* Deeper than any verb's output nests; a bound for the recursion all the same. */
#define OUTFMT_DEPTH_MAX 32

static const struct {
	const char *name;
	enum outfmt fmt;
} formats[] = {
	{ "text", OUTFMT_TEXT },
	{ "json", OUTFMT_JSON },
	{ "yaml", OUTFMT_YAML },
};

int
outfmt_parse(const char *arg, unsigned allowed, const char *what, const char *write_flag,
             enum outfmt *out, struct barge_err *err)
{
	char list[32] = "";
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if ((allowed & formats[i].fmt) != 0) {
			if (list[0] != '\0')
				strcat(list, ", ");
			strcat(list, formats[i].name);
		}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strcmp(arg, formats[i].name) != 0)
			continue;
		if ((allowed & formats[i].fmt) == 0)
			return err_set(err, BARGE_EINVAL, "-o/--output %s: this verb prints %s",
			               arg, list);
		*out = formats[i].fmt;
		return BARGE_OK;
	}
	if (write_flag == NULL)
		return err_set(
		        err, BARGE_EINVAL,
		        "-o/--output %s: not a format (json, yaml, text); this verb prints %s", arg,
		        list);
	return err_set(err, BARGE_EINVAL,
	               "-o/--output %s: not a format (json, yaml, text); to write %s use %s %s",
	               arg, what, write_flag, arg);
}

/*
 * Whether a string printed plain would read back as something else under
 * YAML 1.2's core schema (or 1.1's, which older readers use): null,
 * booleans, numbers.  Such strings are quoted; "1.0.0" is too, harmlessly.
 */
static int
needs_quotes(const char *s)
{
	static const char *const words[] = { "null", "~",  "true", "false", "yes",
		                             "no",   "on", "off",  "y",     "n" };
	size_t i;

	if (s[0] == '\0' || strchr("0123456789+-.", s[0]) != NULL)
		return 1;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return 1;
	return 0;
}

static int
emit_scalar(yaml_emitter_t *e, const char *s, int plain)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(
	            &ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain, 1,
	            plain ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE))
		return -1;
	return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int
emit_value(yaml_emitter_t *e, json_t *v, int depth)
{
	yaml_event_t ev;
	const char *key;
	json_t *item;
	char *text;
	size_t i;
	int rc;

	if (depth > OUTFMT_DEPTH_MAX)
		return -1;
	if (json_is_object(v)) {
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		                                         YAML_ANY_MAPPING_STYLE) ||
		    !yaml_emitter_emit(e, &ev))
			return -1;
		json_object_foreach(v, key,
		                    item) if (emit_scalar(e, key, !needs_quotes(key)) != 0 ||
		                              emit_value(e, item, depth + 1) != 0) return -1;
		return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) ? 0 : -1;
	}
	if (json_is_array(v)) {
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		                                          YAML_ANY_SEQUENCE_STYLE) ||
		    !yaml_emitter_emit(e, &ev))
			return -1;
		json_array_foreach(v, i, item) if (emit_value(e, item, depth + 1) != 0) return -1;
		return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) ? 0
		                                                                            : -1;
	}
	if (json_is_string(v))
		return emit_scalar(e, json_string_value(v), !needs_quotes(json_string_value(v)));
	/* Numbers, booleans and null: JSON's spelling is YAML's. */
	if ((text = json_dumps(v, JSON_ENCODE_ANY)) == NULL)
		return -1;
	rc = emit_scalar(e, text, 1);
	free(text);
	return rc;
}

static int
print_yaml(FILE *f, json_t *v)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	int rc = -1;

	if (!yaml_emitter_initialize(&e))
		return -1;
	yaml_emitter_set_output_file(&e, f);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1);
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
	    !yaml_emitter_emit(&e, &ev) ||
	    !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
	    !yaml_emitter_emit(&e, &ev) || emit_value(&e, v, 0) != 0 ||
	    !yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&e, &ev) ||
	    !yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&e, &ev) ||
	    !yaml_emitter_flush(&e))
		goto out;
	rc = 0;
out:
	yaml_emitter_delete(&e);
	return rc;
}

int
outfmt_print(FILE *f, enum outfmt fmt, json_t *v, struct barge_err *err)
{
	int rc;

	if (v == NULL)
		return err_set(err, BARGE_ENOMEM, "out of memory building the output");
	if (fmt == OUTFMT_YAML) {
		rc = print_yaml(f, v);
	} else {
		rc = json_dumpf(v, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (rc == 0 && fputc('\n', f) == EOF)
			rc = -1;
	}
	json_decref(v);
	if (rc != 0 || fflush(f) != 0 || ferror(f))
		return err_set(err, BARGE_EIO, "writing the %s output failed",
		               fmt == OUTFMT_YAML ? "YAML" : "JSON");
	return BARGE_OK;
}
