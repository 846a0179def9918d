// internal.hpp - shared by the capi C++ files; never installed.
#ifndef MT_CAPI_INTERNAL_HPP
#define MT_CAPI_INTERNAL_HPP

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include <libtorrent/session.hpp>
#include <libtorrent/sha1_hash.hpp>

#include "mt_capi.h"

namespace mtcapi {

using clock_type = std::chrono::steady_clock;

// One running get_peers lookup: what was reported and when it ends.
struct peer_lookup {
    std::set<std::string> seen;
    clock_type::time_point deadline;
};

// What the put callback (network thread) found when the DHT already held a
// newer item than the one we asked to store; reported with the put alert.
struct stale_note {
    std::int64_t found_seq;
    std::int64_t wanted_seq;
};

// Events that own malloc'd data: freed with the container, so events a
// plugin posts while the engine shuts down are not leaked.
struct owned_events : std::deque<mt_event> {
    owned_events() = default;
    owned_events(owned_events const&) = delete;
    owned_events& operator=(owned_events const&) = delete;
    ~owned_events()
    {
        for (auto& e : *this)
            mt_event_clear(&e);
    }
};

} // namespace mtcapi

struct mt_session {
    int pipe_r = -1, pipe_w = -1;       // self-pipe behind mt_session_fd()
    std::deque<mt_event> queue;          // converted, not yet delivered
    std::map<lt::sha1_hash, mtcapi::peer_lookup> lookups;
    std::set<lt::sha1_hash> flat;        // magnets added MT_ADD_FLAT, awaiting metadata

    // Events made off the loop thread (plugins on the network thread, their
    // workers): queued under ext_mu, moved into queue by pump().
    std::mutex ext_mu;
    mtcapi::owned_events ext_queue;  // declared before ses: outlives the plugins

    // Shared with libtorrent's network thread (put callbacks): guarded by mu.
    std::mutex mu;
    std::map<lt::sha1_hash, mtcapi::stale_note> stale;
    std::map<lt::sha1_hash, std::int64_t> known_seq;  // highest seq seen per target

    // Declared last so it is destroyed first: its destructor stops the
    // network thread, whose callbacks use the members above.
    lt::session ses;

    explicit mt_session(lt::session_params&& p) : ses(std::move(p)) {}
};

namespace mtcapi {

// Queue an event from any thread and wake the loop; the event's data and
// peers (malloc'd) pass to the session. Returns false if it was dropped
// (queue over its cap: a flood must not grow memory without bound).
bool post_event(mt_session* s, mt_event const& ev);

// The libtorrent session inside (for plugins adding extensions).
inline lt::session& engine(mt_session* s) { return s->ses; }

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

// Strict "host:port" / "[v6]:port": a non-empty host without spaces, a port
// of 1-5 digits in 1-65535 (no sign, no spaces). MT_EINVAL otherwise.
int parse_endpoint(char const* hp, std::string& host, int& port, mt_error* err);

// An http(s) URL with a host and no whitespace or control bytes.
bool valid_http_url(char const* url);

} // namespace mtcapi

#endif
