/*
 * isowrite_base: the import of a base image (an installer) that the bundles
 * join (see isowrite.h): its files, its El Torito boot records, whose boot
 * info tables libisofs writes anew, and its system area.  It owns the read
 * options and the boot record lists while it reads them.
 */
#include <stdlib.h>
#include <string.h>

#include "isowrite_int.h"

/* ECMA-119's system area, where boot records of hybrid images (MBR, GPT) live. */
#define SYSTEM_AREA 32768

/*
 * Whether the system area (the first 32 KiB) holds partitions: MBR entries
 * (bytes 446 to 509 under the 0x55AA signature) or a GPT header (block 1).
 * libisofs writes a loaded system area back as it was, so its partitions
 * keep the base's offsets and size while the files move.
 */
static int
has_partitions(const unsigned char *sa)
{
	size_t i;

	if (memcmp(sa + 512, "EFI PART", 8) == 0)
		return 1;
	if (sa[510] != 0x55 || sa[511] != 0xAA)
		return 0;
	for (i = 446; i < 510; i++)
		if (sa[i] != 0)
			return 1;
	return 0;
}

/*
 * Imports the base image; its boot records come with it (El Torito catalog
 * and system area).  *parts tells whether the system area has partitions.
 */
int
import_base(IsoImage *img, const char *base, IsoDataSource **ds, int *nboot, int *parts,
            struct barge_err *err)
{
	char *sa = NULL;
	int i, opts, options;
	IsoReadOpts *ro = NULL;
	IsoReadImageFeatures *feat = NULL;
	ElToritoBootImage **boots = NULL;
	IsoFile **bootnodes = NULL;
	int rc;

	if ((rc = iso_data_source_new_from_file(base, ds)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	if ((rc = iso_read_opts_new(&ro, 0)) < 0 ||
	    (rc = iso_read_opts_load_system_area(ro, 1)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	if ((rc = iso_image_import(img, *ds, ro, &feat)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	*nboot = 0;
	if ((rc = iso_image_get_all_boot_imgs(img, nboot, &boots, &bootnodes, 0)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	/*
	 * A boot info table (mkisofs -boot-info-table, which ISOLINUX needs) or
	 * GRUB2's boot info holds the boot image's own block address, which the
	 * new image changes: libisofs writes them anew when told they are there.
	 */
	for (i = 0; i < *nboot; i++) {
		opts = el_torito_get_isolinux_options(boots[i], 0);
		if (el_torito_seems_boot_info_table(boots[i], 0) == 1)
			opts |= 1;
		if (el_torito_seems_boot_info_table(boots[i], 1) == 1)
			opts |= 1 << 9;
		if ((rc = el_torito_set_isolinux_options(boots[i], opts, 0)) < 0) {
			rc = iso_err(err, rc, base);
			goto out;
		}
	}
	if ((sa = malloc(SYSTEM_AREA)) == NULL) {
		rc = err_set(err, BARGE_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = iso_image_get_system_area(img, sa, &options, 0)) < 0) {
		rc = iso_err(err, rc, base);
		goto out;
	}
	*parts = rc == 1 && has_partitions((const unsigned char *)sa);
	rc = BARGE_OK;
out:
	free(sa);
	free(boots);
	free(bootnodes);
	if (feat != NULL)
		iso_read_image_features_destroy(feat);
	iso_read_opts_free(ro);
	return rc;
}
