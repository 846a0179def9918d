/* torrents.h - the torrents module's interface to the other modules. */
#ifndef MTD_TORRENTS_H
#define MTD_TORRENTS_H

#include "daemon.h"

/* Torrent rows' kinds. */
#define MTD_TORRENT_USER  0   /* added by the user or a subscription */
#define MTD_TORRENT_INDEX 1   /* a feed-index torrent */
#define MTD_TORRENT_PACK  2   /* a blob pack, files flat in blob_dir */

/* Add a torrent to the session and record it (row first, so that a crash
 * right after leaves it restorable rather than lost). MT_EEXIST if the
 * session has it already; its row is kept as it was. */
int torrents_add(mtd_daemon *d, const mt_add_params *ap, int64_t sub_id, const char *category,
                 int kind, uint8_t id[20], mt_error *err);
/* Remove a feed-index torrent nobody needs any more: not the latest index
 * of a subscription, nor of a feed we publish. */
void torrents_remove_index_if_unused(mtd_daemon *d, const uint8_t ih[20]);
/* Ask the push extension to keep (or stop keeping) an index swarm's
 * seed-to-seed connections; logs, never fails. */
void torrents_keep_index_links(mtd_daemon *d, const uint8_t ih[20], int keep);
/* torrents_remove_index_if_unused, RETIRE_MS later: a push just sent
 * through that swarm must leave the peers' send buffers before its
 * connections close. */
void torrents_retire_index(mtd_daemon *d, const uint8_t ih[20]);

#endif
