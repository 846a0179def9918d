/* blobs.h - the blobs module's interface. Used by subscriptions (FileEntry
 * items) and the core (feed.publish with files); blobs itself publishes
 * through publish.h. */
#ifndef MTD_BLOBS_H
#define MTD_BLOBS_H

#include "daemon.h"

/* A subscription's new FileEntry item: fetch it into save_dir. */
int blobs_fetch_item(mtd_daemon *d, int64_t sub_id, const cJSON *entry, const char *save_dir, mt_error *err);

/* feed.publish with "files": ingest them on a worker thread, then publish
 * the FileEntries (the call is deferred and answered then). */
int blobs_publish_files(mtd_daemon *d, const mtd_rpc_call *call, char *msg, size_t cap);

#endif
