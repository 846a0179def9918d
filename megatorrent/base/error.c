/* error.c - MT_E* codes to text, and the mt_error fill helper. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mt_error.h"

const char *mt_strerror(int code)
{
    switch (code) {
    case MT_OK:        return "success";
    case MT_EINVAL:    return "invalid argument";
    case MT_ENOMEM:    return "out of memory";
    case MT_EIO:       return "I/O error";
    case MT_EENGINE:   return "BitTorrent engine error";
    case MT_ESTALE:    return "stale sequence number";
    case MT_ETOOBIG:   return "value too large";
    case MT_ENOTFOUND: return "not found";
    case MT_ETIMEDOUT: return "timed out";
    case MT_ESTATE:    return "not possible in the current state";
    case MT_EPERM:     return "permission problem";
    case MT_EEXIST:    return "already exists";
    case MT_ECRYPTO:   return "signature or key check failed";
    case MT_ENEEDKEY:  return "a passphrase or read key is needed";
    default:           return "unknown error";
    }
}

int mt_error_set(mt_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

void mt_error_clear(mt_error *err)
{
    if (err) {
        err->code = MT_OK;
        err->message[0] = '\0';
    }
}

void mt_error_prefix(mt_error *err, const char *prefix)
{
    char msg[MT_ERROR_MSG_MAX];
    size_t pl, ml;
    if (!err || !prefix)
        return;
    pl = strlen(prefix);
    if (pl > sizeof msg - 3)
        pl = sizeof msg - 3;
    memcpy(msg, prefix, pl);
    msg[pl] = ':';
    msg[pl + 1] = ' ';
    ml = strlen(err->message);
    if (ml > sizeof msg - pl - 3)
        ml = sizeof msg - pl - 3;
    memcpy(msg + pl + 2, err->message, ml);
    msg[pl + 2 + ml] = '\0';
    memcpy(err->message, msg, sizeof msg);
}
