/*
 * mt_error.h - error codes and the error detail out-parameter.
 *
 * The contract at every boundary of the library (each header under
 * megatorrent/, megatorrent/base/, megatorrent/blob/, capi/, plugin/ and
 * feedindex/ points here):
 *
 * Errors. Every fallible public function returns 0 on success or a negative
 * MT_E* code, and, when given a non-NULL mt_error, fills it with the same
 * code and a message naming what was wrong. Predicates and accessors
 * (mt_blob_id_valid, mt_manifest_sequence, ...) just return their value.
 * The library never prints. Its few exceptions say so where they are
 * declared: mt_fd_write_all and mt_sync_parent_dir (mt_util.h: -1 and
 * errno, like the system calls they wrap), the mt_benc_* builder calls
 * (mt_bencode.h: codes only, the first error kept for mt_benc_finish), the
 * mt_crypt_frame_* per-frame calls (mt_crypt.h: codes only).
 *
 * Memory. Strings and buffers the library returns are released with
 * mt_free() (mt_capi.h). It is free(), so code in the layers below capi,
 * which cannot include mt_capi.h, may call free() on them. An object with
 * its own *_free() (mt_session_free, mt_manifest_free, mt_fileentry_free,
 * mt_identity_json_free for a key file's text in secure memory, ...) is
 * released only with that; a struct that owns memory (mt_event,
 * mt_pointer, mt_push_item, ...) with its *_clear(); a cJSON tree with
 * cJSON_Delete(). Arrays of owned pointers have their own *_free()
 * (mt_wire_peers_free).
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
