// put_refusal.cpp - shows what dht_put_alert reports when DHT nodes refuse a
// BEP 44 put (libtorrent issue #3578), with the stock libtorrent 2.0.8 and
// with the build patched by patches/libtorrent-2.0.8/ (which defines
// TORRENT_DHT_PUT_ALERT_HAS_REFUSALS).
//
// It starts a small private DHT of lt::session objects on 127.0.98.1..N (no
// traffic leaves 127.0.0.0/8), waits until the routing tables are filled and
// then, from the first session:
//   (a) puts a mutable item (salt "t") with seq 5: must be stored
//   (b) puts the same item with seq 3: the nodes refuse it with 302
//   (c) puts a 1200 byte value (salt "big"): the nodes refuse it with 205
// Patched build: (b) and (c) must report the refusals with these codes.
// Stock build: only num_success = 0 is available, no reason.
//
// Exit status: 0 if the behaviour matches the library this was compiled
// against, 1 if not, 2 if the test DHT could not be set up.
//
// Build: c++ -std=c++17 put_refusal.cpp $(pkg-config --cflags --libs libtorrent-rasterbar)
//        (plus -Wl,-rpath,PREFIX/lib for the patched build)

#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/version.hpp>
#include <libtorrent/kademlia/ed25519.hpp>
#include <libtorrent/kademlia/item.hpp>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <vector>

namespace lt = libtorrent;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

constexpr int num_nodes = 8;

std::string node_ip(int i) { return "127.0.98." + std::to_string(i + 1); }

double seconds_since(clk::time_point start)
{
	return std::chrono::duration<double>(clk::now() - start).count();
}

// the libtorrent shared object this process actually runs with
std::string loaded_library()
{
	std::ifstream maps("/proc/self/maps");
	std::string line;
	while (std::getline(maps, line))
	{
		auto const pos = line.find('/');
		if (pos != std::string::npos && line.find("libtorrent-rasterbar", pos) != std::string::npos)
			return line.substr(pos);
	}
	return "(unknown)";
}

// waits for an alert of type T on ses that satisfies pred
template <typename T>
T const* wait_for(lt::session& ses, std::function<bool(T const&)> pred
	, std::chrono::seconds timeout)
{
	auto const deadline = clk::now() + timeout;
	std::vector<lt::alert*> alerts;
	while (clk::now() < deadline)
	{
		ses.wait_for_alert(100ms);
		ses.pop_alerts(&alerts);
		for (lt::alert* a : alerts)
		{
			auto const* t = lt::alert_cast<T>(a);
			// the alert stays valid until the next pop_alerts() on ses
			if (t != nullptr && pred(*t)) return t;
		}
	}
	return nullptr;
}

int routing_table_size(lt::session& ses)
{
	ses.post_dht_stats();
	auto const* st = wait_for<lt::dht_stats_alert>(ses
		, [](lt::dht_stats_alert const&) { return true; }, 2s);
	if (st == nullptr) return 0;
	int n = 0;
	for (auto const& b : st->routing_table) n += b.num_nodes;
	return n;
}

struct put_result
{
	bool done = false;
	int num_success = 0;
	std::string message;
#ifdef TORRENT_DHT_PUT_ALERT_HAS_REFUSALS
	int num_refused = 0;
	std::vector<lt::dht_put_alert::refusal> refusals;
#endif
};

// puts value under (pk, salt) with sequence number seq, ignoring what the DHT
// currently has, and waits for the dht_put_alert
put_result put(lt::session& ses, lt::dht::public_key const& pk
	, lt::dht::secret_key const& sk, std::string const& salt
	, std::int64_t const seq, std::string const& value)
{
	ses.dht_put_item(pk.bytes
		, [=](lt::entry& e, std::array<char, 64>& sig, std::int64_t& s
			, std::string const& item_salt)
		{
			e = value;
			s = seq;
			std::vector<char> buf;
			lt::bencode(std::back_inserter(buf), e);
			sig = lt::dht::sign_mutable_item(buf, item_salt
				, lt::dht::sequence_number(seq), pk, sk).bytes;
		}, salt);

	put_result r;
	auto const* a = wait_for<lt::dht_put_alert>(ses
		, [&](lt::dht_put_alert const& pa) { return pa.salt == salt && pa.seq == seq; }
		, 20s);
	if (a == nullptr) return r;
	r.done = true;
	r.num_success = a->num_success;
	r.message = a->message();
#ifdef TORRENT_DHT_PUT_ALERT_HAS_REFUSALS
	r.num_refused = a->num_refused;
	r.refusals = a->refusals;
#endif
	return r;
}

void print_result(char const* what, put_result const& r)
{
	if (!r.done)
	{
		std::printf("%s: no dht_put_alert within 20 s\n", what);
		return;
	}
#ifdef TORRENT_DHT_PUT_ALERT_HAS_REFUSALS
	std::printf("%s: num_success=%d num_refused=%d", what, r.num_success, r.num_refused);
	for (auto const& f : r.refusals)
		std::printf(" [%d \"%s\" x%d]", f.code, f.message.c_str(), f.count);
	std::printf("\n");
#else
	std::printf("%s: num_success=%d (no other fields in the stock alert)\n"
		, what, r.num_success);
#endif
	std::printf("    message(): %s\n", r.message.c_str());
}

#ifdef TORRENT_DHT_PUT_ALERT_HAS_REFUSALS
// true if the put was refused by at least one node, all refusals carry
// code and nothing was stored
bool refused_with(put_result const& r, int const code)
{
	return r.done && r.num_success == 0 && r.num_refused > 0
		&& r.refusals.size() == 1 && r.refusals.front().code == code
		&& r.refusals.front().count == r.num_refused;
}
#endif

} // anonymous namespace

int main()
{
	// hard limit, in case something hangs (e.g. session shutdown)
	std::signal(SIGALRM, [](int) {
		char const msg[] = "put_refusal: timed out after 90 s\n";
		(void)!::write(2, msg, sizeof(msg) - 1);
		::_exit(2);
	});
	::alarm(90);
	std::setvbuf(stdout, nullptr, _IOLBF, 0);

	auto const start = clk::now();
#ifdef TORRENT_DHT_PUT_ALERT_HAS_REFUSALS
	char const* const flavour = "patched (TORRENT_DHT_PUT_ALERT_HAS_REFUSALS defined)";
#else
	char const* const flavour = "stock (TORRENT_DHT_PUT_ALERT_HAS_REFUSALS not defined)";
#endif
	std::printf("libtorrent %s, headers: %s\n", lt::version(), flavour);
	std::printf("library: %s\n", loaded_library().c_str());

	// ---- start a private DHT on loopback addresses ----
	std::vector<std::unique_ptr<lt::session>> nodes;
	std::vector<int> ports;
	for (int i = 0; i < num_nodes; ++i)
	{
		lt::settings_pack p;
		p.set_str(lt::settings_pack::listen_interfaces, node_ip(i) + ":0");
		p.set_str(lt::settings_pack::outgoing_interfaces, node_ip(i));
		p.set_str(lt::settings_pack::dht_bootstrap_nodes, "");
		p.set_bool(lt::settings_pack::enable_dht, true);
		p.set_bool(lt::settings_pack::enable_lsd, false);
		p.set_bool(lt::settings_pack::enable_upnp, false);
		p.set_bool(lt::settings_pack::enable_natpmp, false);
		// all nodes share 127.0.98.0/24 and send bursts to each other
		p.set_bool(lt::settings_pack::dht_restrict_routing_ips, false);
		p.set_bool(lt::settings_pack::dht_restrict_search_ips, false);
		p.set_int(lt::settings_pack::dht_block_ratelimit, 10000);
		p.set_int(lt::settings_pack::dht_upload_rate_limit, 1000000);
		p.set_int(lt::settings_pack::alert_mask, lt::alert_category::dht
			| lt::alert_category::status | lt::alert_category::error);
		nodes.push_back(std::make_unique<lt::session>(lt::session_params(p)));

		// the DHT runs on the UDP socket, reported as socket type utp
		auto const* l = wait_for<lt::listen_succeeded_alert>(*nodes.back()
			, [](lt::listen_succeeded_alert const& a)
			{ return a.socket_type == lt::socket_type_t::utp; }, 5s);
		if (l == nullptr)
		{
			std::printf("FAIL: node %d could not listen on %s\n", i, node_ip(i).c_str());
			return 2;
		}
		ports.push_back(l->port);
	}
	for (int i = 0; i < num_nodes; ++i)
		for (int j = 0; j < num_nodes; ++j)
			if (i != j) nodes[i]->add_dht_node({node_ip(j), ports[j]});

	// every node should know all the others
	int min_nodes = 0;
	while (seconds_since(start) < 20.0)
	{
		min_nodes = num_nodes;
		for (auto& n : nodes) min_nodes = std::min(min_nodes, routing_table_size(*n));
		if (min_nodes >= num_nodes - 1) break;
		std::this_thread::sleep_for(200ms);
	}
	std::printf("started %d DHT sessions on %s..%s, smallest routing table: %d nodes (%.1f s)\n"
		, num_nodes, node_ip(0).c_str(), node_ip(num_nodes - 1).c_str(), min_nodes
		, seconds_since(start));
	if (min_nodes < num_nodes / 2)
	{
		std::printf("FAIL: the test DHT did not come up\n");
		return 2;
	}

	// ---- the puts, all from node 0 ----
	lt::dht::public_key pk;
	lt::dht::secret_key sk;
	std::tie(pk, sk) = lt::dht::ed25519_create_keypair(lt::dht::ed25519_create_seed());
	lt::session& ses = *nodes.front();

	put_result const a = put(ses, pk, sk, "t", 5, "megatorrent put_refusal seq 5");
	print_result("(a) put seq=5", a);
	put_result const b = put(ses, pk, sk, "t", 3, "megatorrent put_refusal seq 3");
	print_result("(b) put seq=3 (stale, nodes have seq 5)", b);
	put_result const c = put(ses, pk, sk, "big", 1, std::string(1200, 'x'));
	print_result("(c) put 1200 byte value (limit 1000)", c);

	// ---- verdict ----
	bool ok = true;
	auto check = [&ok](bool const cond, char const* what)
	{
		std::printf("  %s: %s\n", cond ? "ok  " : "FAIL", what);
		ok = ok && cond;
	};
	std::printf("checks:\n");
	check(a.done && a.num_success > 0, "(a) the seq 5 put was stored (num_success > 0)");
	check(b.done && b.num_success == 0, "(b) the stale put was not stored (num_success == 0)");
	check(c.done && c.num_success == 0, "(c) the oversized put was not stored (num_success == 0)");
	std::string summary;
#ifdef TORRENT_DHT_PUT_ALERT_HAS_REFUSALS
	check(refused_with(b, 302), "(b) reported as refused by the nodes with 302");
	check(refused_with(c, 205), "(c) reported as refused by the nodes with 205");
	if (b.done && !b.refusals.empty())
	{
		summary = "stale put -> num_success=" + std::to_string(b.num_success)
			+ ", num_refused=" + std::to_string(b.num_refused)
			+ ", code " + std::to_string(b.refusals.front().code)
			+ " \"" + b.refusals.front().message + "\"";
	}
	else summary = "stale put -> no refusal reported";
#else
	std::printf("  note: the stock dht_put_alert gives only num_success = 0, no reason"
		" (stale sequence number and oversized value look the same)\n");
	summary = "stale put -> num_success=" + std::to_string(b.num_success) + ", no reason";
#endif
	std::printf("summary: %s\n", summary.c_str());

	// ---- shut down all sessions in parallel ----
	std::vector<lt::session_proxy> proxies;
	for (auto& n : nodes) proxies.push_back(n->abort());
	nodes.clear();
	proxies.clear();

	std::printf("%s (%.1f s)\n", ok ? "PASS" : "FAIL", seconds_since(start));
	return ok ? 0 : 1;
}
