/*
 * mtd_config.h - config.c internals shared with main.c and the tests:
 * setting one key, so command-line options get exactly the checks that
 * config-file lines get.
 */
#ifndef MTD_CONFIG_H
#define MTD_CONFIG_H

#include <stddef.h>

#include "mtd.h"

#define MTD_CONFIG_LINE_MAX 4096 /* longest config line, without its newline */

/*
 * Set config key (a mtd.conf(5) name) to value, already unquoted. Path keys
 * must be absolute or start with "~/" ("~" alone: $HOME); bootstrap
 * appends. Returns 0; -1 for a bad value, msg "KEY: what is wrong"; -2 for
 * an unknown key, msg "unknown key \"KEY\"". cfg is unchanged on error.
 */
int mtd_config_set(mtd_config *cfg, const char *key, const char *value, char *msg, size_t cap);

#endif
