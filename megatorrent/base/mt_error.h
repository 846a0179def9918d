/*
 * mt_error.h - error codes and the error detail out-parameter.
 *
 * Every fallible public function returns 0 on success or a negative MT_E*
 * code, and, when given a non-NULL mt_error, fills it with the same code and
 * a message naming what was wrong. The library never prints.
 */
#ifndef MT_ERROR_H
#define MT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    MT_OK         = 0,
    MT_EINVAL     = -1,  /* bad argument or malformed input */
    MT_ENOMEM     = -2,  /* allocation failed */
    MT_EIO        = -3,  /* file or socket I/O failed */
    MT_EENGINE    = -4,  /* libtorrent reported an error */
    MT_ESTALE     = -5,  /* sequence number not above the one already stored */
    MT_ETOOBIG    = -6,  /* value over a size limit */
    MT_ENOTFOUND  = -7,  /* no such item, torrent or file */
    MT_ETIMEDOUT  = -8,  /* nothing arrived before the deadline */
    MT_ESTATE     = -9,  /* not possible in the current state (e.g. DHT off) */
    MT_EPERM      = -10, /* file permissions unsafe or access denied */
    MT_EEXIST     = -11, /* already exists */
    MT_ECRYPTO    = -12, /* signature or key check failed */
    MT_ENEEDKEY   = -13  /* a passphrase or read key is needed */
};

#define MT_ERROR_MSG_MAX 256

typedef struct mt_error {
    int  code;
    char message[MT_ERROR_MSG_MAX];
} mt_error;

/* Short, static description of an MT_E* code; never NULL. */
const char *mt_strerror(int code);

/*
 * Fill err (if non-NULL) with code and a printf-style message; returns code so
 * callers can write `return mt_error_set(err, MT_EINVAL, "...")`.
 */
int mt_error_set(mt_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Put "prefix: " in front of err's message (cut to fit). NULL ok. */
void mt_error_prefix(mt_error *err, const char *prefix);

/* Reset err to MT_OK and an empty message. NULL is accepted. */
void mt_error_clear(mt_error *err);

#ifdef __cplusplus
}
#endif
#endif
