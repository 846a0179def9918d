/* subs.h - the subscriptions module's interface (its statistics, for
 * status). */
#ifndef MTD_SUBS_H
#define MTD_SUBS_H

#include "daemon.h"

typedef struct subs_stats {
    size_t   subscriptions;
    uint64_t dht_lookups;        /* polls and resolve calls that went to the DHT */
    uint64_t polls;
    uint64_t pushes_received, pushes_accepted, pushes_forwarded, pushes_held;
} subs_stats;

void subs_get_stats(mtd_daemon *d, subs_stats *out);

#endif
