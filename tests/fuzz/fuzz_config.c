/*
 * fuzz_config: barged's configuration file (appliance/config/config.h),
 * /etc/barge/barged.yaml.
 *
 * The input is the file, up to CONFIG_FILE_MAX bytes as config_load_file
 * bounds it, applied over the defaults and then cross-checked, as barged
 * does at start-up.
 */
#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct barge_err err = { 0 };
	struct config c;

	if (size > CONFIG_FILE_MAX)
		return 0;
	if (config_init(&c, &err) != BARGE_OK)
		return 0;
	if (config_load_buf(&c, "barged.yaml", (const char *)data, size, &err) == BARGE_OK)
		(void)config_check(&c, &err);
	config_free(&c);
	return 0;
}
