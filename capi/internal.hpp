// internal.hpp - private to the capi C++ files: the session's layout.
// Plugins use mt_capi_ext.hpp instead; never installed.
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
#include "mt_capi_ext.hpp"

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

// Strict "host:port" / "[v6]:port": a non-empty host without spaces, a port
// of 1-5 digits in 1-65535 (no sign, no spaces). MT_EINVAL otherwise.
int parse_endpoint(char const* hp, std::string& host, int& port, mt_error* err);

// An http(s) URL with a host and no whitespace or control bytes.
bool valid_http_url(char const* url);

} // namespace mtcapi

#endif
