// mt_capi_ext.hpp - the C++ side of the C API that libtorrent plugins
// (plugin/) build on: the engine behind an mt_session, posting events to
// the session's loop, and the error conventions. The session's own layout
// stays in capi/internal.hpp. Never installed: plugins are part of
// libmegatorrent, not of its public interface.
#ifndef MT_CAPI_EXT_HPP
#define MT_CAPI_EXT_HPP

#include <cstddef>
#include <cstdint>
#include <string>

#include <libtorrent/info_hash.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/sha1_hash.hpp>
#include <libtorrent/torrent_handle.hpp>

#include "mt_capi.h"

namespace mtcapi {

// Queue an event from any thread and wake the loop; the event's data and
// peers (malloc'd) pass to the session. Returns false if it was dropped
// (queue over its cap: a flood must not grow memory without bound).
bool post_event(mt_session* s, mt_event const& ev);

// The libtorrent session inside (for plugins adding extensions).
lt::session& engine(mt_session* s);

// Fill err from a caught exception; returns code.
int set_from_exception(mt_error* err, int code, char const* what, char const* doing);

// Find a torrent by id; MT_ENOTFOUND (with the hex id) if there is none.
int find_torrent(mt_session* s, uint8_t const id[20], lt::torrent_handle& h, mt_error* err);

// Torrent id of a handle's info-hashes (v1, else truncated v2).
lt::sha1_hash torrent_id(lt::info_hash_t const& ih);

// Copy src into dst (cap bytes), cut to fit and NUL-terminated.
inline void copy_str(char* dst, std::size_t cap, std::string const& src)
{
    std::size_t n = src.size() < cap - 1 ? src.size() : cap - 1;
    src.copy(dst, n);
    dst[n] = '\0';
}

} // namespace mtcapi

#endif
