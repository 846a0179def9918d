/* addr.c - address helpers (see mt_addr.h). */
#include <stdio.h>

#include "mt_addr.h"

int mt_addr_is_loopback(const char *addr)
{
    unsigned a, b, c, d;
    char tail;
    if (!addr || sscanf(addr, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4)
        return 0;
    return a == 127 && b < 256 && c < 256 && d < 256;
}
