/*
 * fleet_sites.c: module entry point. The work lives in the files named in
 * fleet_sites.h; this only registers what a backend needs once.
 */
#include "fleet_sites.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	fleet_define_settings();
	fleet_catalog_register_invalidation();
	fleet_exemption_install();
}
