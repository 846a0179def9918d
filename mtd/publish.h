/* publish.h - the publishing module's interface. Used by the core
 * (feed.publish) and by blobs (files ingested for feed.publish); publishing
 * itself calls neither. */
#ifndef MTD_PUBLISH_H
#define MTD_PUBLISH_H

#include "daemon.h"

/* feed.publish without files: answers at once, or defers call until the
 * DHT put is done. */
int pub_publish(mtd_daemon *d, const mtd_rpc_call *call, cJSON **result, char *msg, size_t cap);

/* feed.publish with params (files already turned into "entries") for a
 * request deferred earlier: publishing answers held, now or once the put
 * is done, with the result or the error. */
void pub_publish_held(mtd_daemon *d, const cJSON *params, mtd_rpc_ticket *held);

/* New pointers pushed to the peers of a feed's previous index swarm. */
uint64_t pub_pushes_sent(mtd_daemon *d);

#endif
