// SPDX-License-Identifier: Apache-2.0
// The NFC reader adapter against the real libnfc 1.8 pn532_uart driver, talking through a pseudo-
// terminal to the PN532 emulator (tools/pn532emu). libfreefare 0.4 serves as the reference DESFire
// client: the emulator answers it and the adapter's own AES authentication alike.
#include "adapters/nfc/nfc_reader.hpp"

#include <freefare.h>
#include <nfc/nfc.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "adapters/nfc/desfire_auth.hpp"
#include "adapters/nfc/diversify.hpp"
#include "pn532emu/emulator.hpp"

namespace {

namespace nfcad = zonegate::adapters::nfc;
namespace emu = zonegate::pn532emu;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using zonegate::core::CredentialKind;

const nfcad::AesKey kMaster{0x1F, 0x2E, 0x3D, 0x4C, 0x5B, 0x6A, 0x79, 0x88,
                            0x97, 0xA6, 0xB5, 0xC4, 0xD3, 0xE2, 0xF1, 0x00};
const nfcad::DesfireAid kAid{0x01, 0x10, 0xF5};  // AID 0xF51001, wire order
const std::vector<std::uint8_t> kSystemId{'Z', 'O', 'N', 'E', 'G', 'A', 'T', 'E'};
constexpr std::uint8_t kKeyNo = 1;

std::vector<std::uint8_t> uid7(std::uint8_t last) { return {0x04, 0x5A, 0x11, 0x22, 0x33, 0x44, last}; }

std::string hex(const std::vector<std::uint8_t>& b) {
  static const char* digits = "0123456789ABCDEF";
  std::string s;
  for (auto x : b) {
    s.push_back(digits[x >> 4]);
    s.push_back(digits[x & 0xF]);
  }
  return s;
}

/// A DESFire EV1 carrying our application, its key `kKeyNo` diversified from `master`.
emu::Card desfire_card(const std::vector<std::uint8_t>& uid, const nfcad::AesKey& master = kMaster,
                       nfcad::DesfireAid aid = kAid) {
  emu::DesfireApplication app;
  app.aid = aid;
  app.aes_keys.push_back(emu::AesKey{});  // key 0: the application master key, not ours
  app.aes_keys.push_back(nfcad::diversify_aes128(master, uid, aid, kSystemId));
  return emu::Card::desfire_ev1(uid, {app});
}

/// Test timing: everything about ten times faster than the daemon's defaults.
nfcad::ReaderConfig fast_config(const std::string& id, const std::string& connstring) {
  nfcad::ReaderConfig c;
  c.id = id;
  c.connstring = connstring;
  c.master_key = kMaster;
  c.aid = kAid;
  c.key_no = kKeyNo;
  c.system_identifier = kSystemId;
  c.poll_interval = milliseconds(20);
  c.reopen_backoff_min = milliseconds(50);
  c.reopen_backoff_max = milliseconds(400);
  c.hung_timeout = milliseconds(1500);
  c.command_timeout = milliseconds(100);
  c.card_timeout = milliseconds(200);
  c.power_cycle_wait = milliseconds(500);
  return c;
}

/// One emulator, one reader, and the reports collected on the io_context (this thread).
struct Rig {
  boost::asio::io_context io;
  // Without outstanding work an io_context stops for good (until restart()); keep it runnable.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  emu::Emulator chip;
  std::vector<nfcad::CardRead> cards;
  std::vector<nfcad::ReaderStatus> statuses;
  std::vector<Clock::time_point> status_times;
  int power_cycles = 0;
  std::unique_ptr<nfcad::NfcReader> reader;

  explicit Rig(const std::function<void(nfcad::ReaderConfig&)>& tweak = {}) {
    auto config = fast_config("door-test", chip.connstring());
    if (tweak) tweak(config);
    nfcad::ReaderCallbacks callbacks;
    callbacks.on_card = [this](const nfcad::CardRead& r) { cards.push_back(r); };
    callbacks.on_status = [this](const nfcad::ReaderStatus& s) {
      statuses.push_back(s);
      status_times.push_back(Clock::now());
    };
    reader = std::make_unique<nfcad::NfcReader>(io, std::move(config), std::move(callbacks));
    start();
  }
  ~Rig() { reader.reset(); }  // before the emulator goes

  void start() {
    reader->start();
    REQUIRE(run_until([&] { return online(); }, milliseconds(3000)));
  }

  /// Runs the io_context until `done()` or the timeout; true if done.
  bool run_until(const std::function<bool()>& done, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      io.run_for(milliseconds(5));
    }
    return true;
  }
  void run_for(milliseconds d) {
    run_until([] { return false; }, d);
  }
  /// Lets the reader finish `n` more polls (InListPassiveTarget commands at the chip).
  bool polls(std::uint64_t n, milliseconds timeout = milliseconds(2000)) {
    const auto target = chip.stats().polls + n;
    return run_until([&] { return chip.stats().polls >= target; }, timeout);
  }
  bool online() const { return !statuses.empty() && statuses.back().online; }
  std::string status_trace() const {
    std::string s;
    for (const auto& st : statuses) s += st.online ? "online " : (st.hung ? "hung " : "offline ");
    return s;
  }
};

}  // namespace

TEST_CASE("a UID card is read once per presentation", "[nfc][reader]") {
  Rig rig;
  CHECK(rig.statuses.size() == 1);
  CHECK(rig.statuses[0].reader_id == "door-test");

  rig.chip.present(emu::Card::uid_only({0xDE, 0xAD, 0xBE, 0xEF}));
  REQUIRE(rig.run_until([&] { return !rig.cards.empty(); }, milliseconds(2000)));
  CHECK(rig.cards[0].reader_id == "door-test");
  CHECK(rig.cards[0].uid_hex == "DEADBEEF");
  CHECK(rig.cards[0].kind == CredentialKind::uid);
  CHECK_FALSE(rig.cards[0].auth_failed);

  REQUIRE(rig.polls(5));  // the card stays in the field: no second read
  CHECK(rig.cards.size() == 1);

  rig.chip.remove_card();
  REQUIRE(rig.polls(2));
  rig.chip.present(emu::Card::uid_only({0xDE, 0xAD, 0xBE, 0xEF}));
  REQUIRE(rig.run_until([&] { return rig.cards.size() == 2; }, milliseconds(2000)));
  CHECK(rig.cards[1].uid_hex == "DEADBEEF");

  // A different card replacing it at once is a new presentation.
  rig.chip.present(emu::Card::uid_only({0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06}));
  REQUIRE(rig.run_until([&] { return rig.cards.size() == 3; }, milliseconds(2000)));
  CHECK(rig.cards[2].uid_hex == "04010203040506");
  CHECK(rig.cards[2].kind == CredentialKind::uid);
  CHECK(rig.chip.stats().data_exchanges == 0);  // a UID card is never asked anything
  CHECK(rig.statuses.size() == 1);
}

TEST_CASE("a DESFire card with its diversified key reads as desfire", "[nfc][reader][desfire]") {
  Rig rig;
  const auto uid = uid7(0x01);
  rig.chip.present(desfire_card(uid));
  REQUIRE(rig.run_until([&] { return !rig.cards.empty(); }, milliseconds(2000)));
  CHECK(rig.cards[0].uid_hex == hex(uid));
  CHECK(rig.cards[0].kind == CredentialKind::desfire);
  CHECK_FALSE(rig.cards[0].auth_failed);
  CHECK(rig.cards[0].detail.empty());
  CHECK(rig.chip.stats().auth_ok == 1);
  REQUIRE(rig.polls(5));
  CHECK(rig.cards.size() == 1);
  CHECK(rig.chip.stats().auth_ok == 1);  // not re-authenticated while it stays
}

TEST_CASE("a DESFire card that fails authentication is never downgraded to a UID read", "[nfc][reader][desfire]") {
  Rig rig;
  const auto uid = uid7(0x02);
  std::string expect_detail;
  SECTION("key diversified from another master key") {
    auto other = kMaster;
    other[0] ^= 0x80;
    rig.chip.present(desfire_card(uid, other));
    expect_detail = "0xAE";
  }
  SECTION("key diversified for another card") {
    emu::Card card = desfire_card(uid7(0x99));
    card.uid = uid;
    rig.chip.present(card);
    expect_detail = "0xAE";
  }
  SECTION("the application is not on the card") {
    rig.chip.present(desfire_card(uid, kMaster, nfcad::DesfireAid{0x02, 0x10, 0xF5}));
    expect_detail = "application";
  }
  SECTION("the key number does not exist") {
    emu::Card card = desfire_card(uid);
    card.applications[0].aes_keys.resize(1);
    rig.chip.present(card);
    expect_detail = "0x40";
  }
  REQUIRE(rig.run_until([&] { return !rig.cards.empty(); }, milliseconds(2000)));
  CHECK(rig.cards[0].uid_hex == hex(uid));
  CHECK(rig.cards[0].kind == CredentialKind::desfire);
  CHECK(rig.cards[0].auth_failed);
  CHECK_THAT(rig.cards[0].detail, Catch::Contains(expect_detail));
  REQUIRE(rig.polls(5));
  CHECK(rig.cards.size() == 1);  // one denial per presentation, not one per poll
  CHECK(rig.online());
}

TEST_CASE("a card leaving mid-authentication gives auth_failed or nothing, never a success",
          "[nfc][reader][desfire][fault]") {
  Rig rig;
  rig.chip.arm(emu::Fault::remove_card_mid_auth);
  rig.chip.present(desfire_card(uid7(0x03)));
  REQUIRE(rig.run_until([&] { return rig.chip.stats().auth_first_pass == 1 && !rig.chip.stats().auth_ok; },
                        milliseconds(2000)));
  REQUIRE(rig.polls(3));
  for (const auto& read : rig.cards) {
    CHECK(read.kind == CredentialKind::desfire);
    CHECK(read.auth_failed);
  }
  CHECK(rig.chip.stats().auth_ok == 0);
  CHECK(rig.online());  // the card left; the reader did not fail

  // Presented again, properly, it reads.
  rig.chip.present(desfire_card(uid7(0x03)));
  REQUIRE(rig.run_until([&] { return !rig.cards.empty() && !rig.cards.back().auth_failed; }, milliseconds(2000)));
  CHECK(rig.cards.back().kind == CredentialKind::desfire);
}

TEST_CASE("a card that does not answer or answers nothing fails authentication without harm",
          "[nfc][reader][desfire][fault]") {
  Rig rig;
  SECTION("RF timeout") { rig.chip.arm(emu::Fault::rf_timeout); }
  // libfreefare 0.4 would index before its buffer and memcpy ~SIZE_MAX bytes on this reply.
  SECTION("empty reply") { rig.chip.arm(emu::Fault::empty_card_reply); }
  rig.chip.present(desfire_card(uid7(0x04)));
  REQUIRE(rig.run_until([&] { return !rig.cards.empty(); }, milliseconds(2000)));
  CHECK(rig.cards[0].kind == CredentialKind::desfire);
  CHECK(rig.cards[0].auth_failed);
  REQUIRE(rig.polls(3));
  CHECK(rig.cards.size() == 1);
  CHECK(rig.online());
}

TEST_CASE("garbled, truncated and mis-checksummed frames: offline, then back online", "[nfc][reader][fault]") {
  Rig rig;
  const auto fault = GENERATE(emu::Fault::garble_response, emu::Fault::truncate_response, emu::Fault::bad_checksum,
                              emu::Fault::garble_ack, emu::Fault::drop_response);
  INFO("fault " << emu::to_string(fault));
  rig.chip.arm(fault);
  REQUIRE(rig.run_until([&] { return rig.statuses.size() >= 3 && rig.online(); }, milliseconds(3000)));
  CHECK(rig.status_trace() == "online offline online ");
  CHECK(rig.chip.stats().faults_fired == 1);
  CHECK_FALSE(rig.statuses[1].hung);
  CHECK_FALSE(rig.statuses[1].detail.empty());

  // Fully working again.
  rig.chip.present(emu::Card::uid_only({0x11, 0x22, 0x33, 0x44}));
  REQUIRE(rig.run_until([&] { return !rig.cards.empty(); }, milliseconds(2000)));
  CHECK(rig.cards[0].uid_hex == "11223344");
}

TEST_CASE("a frame garbled during DESFire authentication: auth_failed, reader reopened", "[nfc][reader][fault]") {
  Rig rig;
  rig.chip.arm(emu::Fault::garble_exchange);  // the chip's reply to SelectApplication arrives garbled
  rig.chip.present(desfire_card(uid7(0x05)));
  REQUIRE(rig.run_until([&] { return !rig.cards.empty() && rig.statuses.size() >= 3; }, milliseconds(3000)));
  CHECK(rig.cards[0].kind == CredentialKind::desfire);
  CHECK(rig.cards[0].auth_failed);
  CHECK_THAT(rig.cards[0].detail, Catch::Contains("reader failed"));
  CHECK(rig.status_trace() == "online offline online ");
  REQUIRE(rig.polls(3));
  CHECK(rig.cards.size() == 1);  // still the same presentation after the reopen
}

TEST_CASE("a hung reader goes offline, is reported hung, power-cycled and reopened", "[nfc][reader][fault]") {
  Rig* rig_ptr = nullptr;
  Rig rig([&](nfcad::ReaderConfig& c) {
    c.power_cycle = [&] {
      ++rig_ptr->power_cycles;
      rig_ptr->chip.resume();  // power comes back: the chip answers again
    };
  });
  rig_ptr = &rig;
  const auto hung_at = Clock::now();
  rig.chip.hang();
  REQUIRE(rig.run_until([&] { return rig.power_cycles == 1 && rig.online(); }, milliseconds(6000)));
  CHECK(rig.status_trace() == "online offline hung online ");
  // Hung is declared hung_timeout after the last good poll, not earlier.
  CHECK(rig.status_times[2] - hung_at >= milliseconds(1500));
  CHECK(rig.status_times[2] - hung_at < milliseconds(4000));
  CHECK(rig.statuses[2].hung);
  CHECK_FALSE(rig.statuses[2].online);

  rig.chip.present(emu::Card::uid_only({0x55, 0x66, 0x77, 0x88}));
  REQUIRE(rig.run_until([&] { return !rig.cards.empty(); }, milliseconds(2000)));
  CHECK(rig.power_cycles == 1);
}

TEST_CASE("without a power switch a hung reader is retried with exponential backoff", "[nfc][reader][fault]") {
  // A chip whose every ACK is broken fails nfc_open in ~50 ms, so the attempts show the backoff:
  // 50, 100, 200, 400, 400… ms between them instead of a busy loop.
  Rig rig;
  rig.chip.arm(emu::Fault::garble_ack, 1000);
  REQUIRE(rig.run_until([&] { return rig.statuses.size() >= 2; }, milliseconds(2000)));
  const auto opens_before = rig.chip.stats().commands[0x14];  // SAMConfiguration: once per nfc_open
  rig.run_for(milliseconds(2000));
  const auto attempts = rig.chip.stats().commands[0x14] - opens_before;
  CHECK(attempts >= 3);
  CHECK(attempts <= 9);
  CHECK(rig.status_trace() == "online offline hung ");  // offline once, hung once: no repeated reports

  rig.chip.clear_faults();
  REQUIRE(rig.run_until([&] { return rig.online(); }, milliseconds(2000)));
}

TEST_CASE("a reader that opens but fails every poll does not flap online and offline", "[nfc][reader][fault]") {
  Rig rig;
  rig.chip.arm(emu::Fault::poll_error, 1000);
  rig.run_for(milliseconds(2500));
  CHECK(rig.status_trace() == "online offline hung ");
  CHECK(rig.chip.stats().diagnose >= 3);  // it kept reopening, with backoff
  CHECK(rig.chip.stats().diagnose <= 10);

  rig.chip.clear_faults();
  REQUIRE(rig.run_until([&] { return rig.online(); }, milliseconds(2000)));
  CHECK(rig.status_trace() == "online offline hung online ");
}

TEST_CASE("stop() is prompt whatever the reader is doing", "[nfc][reader]") {
  SECTION("polling") {
    Rig rig;
    rig.chip.present(emu::Card::uid_only({0x01, 0x02, 0x03, 0x04}));
    REQUIRE(rig.run_until([&] { return !rig.cards.empty(); }, milliseconds(2000)));
    const auto t0 = Clock::now();
    rig.reader->stop();
    CHECK(Clock::now() - t0 < milliseconds(500));
  }
  SECTION("waiting to reopen") {
    Rig rig([](nfcad::ReaderConfig& c) { c.reopen_backoff_min = c.reopen_backoff_max = milliseconds(20000); });
    rig.chip.arm(emu::Fault::bad_checksum);
    REQUIRE(rig.run_until([&] { return rig.statuses.size() == 2; }, milliseconds(2000)));
    const auto t0 = Clock::now();
    rig.reader->stop();
    CHECK(Clock::now() - t0 < milliseconds(300));
  }
  SECTION("talking to a hung chip") {
    Rig rig;
    rig.chip.hang();
    REQUIRE(rig.run_until([&] { return rig.statuses.size() == 2; }, milliseconds(2000)));
    rig.run_for(milliseconds(150));  // now inside a reopen: libnfc's own open waits up to 1.5 s
    const auto t0 = Clock::now();
    rig.reader->stop();
    CHECK(Clock::now() - t0 < milliseconds(2000));
  }
}

TEST_CASE("no report arrives after stop()", "[nfc][reader]") {
  Rig rig;
  rig.chip.present(emu::Card::uid_only({0x0A, 0x0B, 0x0C, 0x0D}));
  rig.reader->stop();
  const auto seen = rig.cards.size() + rig.statuses.size();
  rig.run_for(milliseconds(100));
  CHECK(rig.cards.size() + rig.statuses.size() == seen);
}

TEST_CASE("two readers on two threads authenticate concurrently", "[nfc][reader][desfire]") {
  // libfreefare 0.4 keeps DESFire frames in static buffers; the adapter's own exchange has no shared
  // state. Two readers logging in over and over must each see only their own, valid results.
  boost::asio::io_context io;
  emu::Emulator chip_a;
  emu::Emulator chip_b;
  std::map<std::string, int> ok;
  int failures = 0;
  nfcad::ReaderCallbacks callbacks;
  callbacks.on_card = [&](const nfcad::CardRead& r) {
    if (r.kind == CredentialKind::desfire && !r.auth_failed) {
      ++ok[r.reader_id + "/" + r.uid_hex];
    } else {
      ++failures;
    }
  };
  nfcad::NfcReader a(io, fast_config("a", chip_a.connstring()), callbacks);
  nfcad::NfcReader b(io, fast_config("b", chip_b.connstring()), callbacks);
  a.start();
  b.start();
  const auto uid_a = uid7(0xA0);
  const auto uid_b = uid7(0xB0);
  auto guard = boost::asio::make_work_guard(io);
  for (int round = 0; round < 8; ++round) {
    chip_a.present(desfire_card(uid_a));
    chip_b.present(desfire_card(uid_b));
    const auto deadline = Clock::now() + milliseconds(3000);
    while (Clock::now() < deadline && (ok["a/" + hex(uid_a)] <= round || ok["b/" + hex(uid_b)] <= round)) {
      io.run_for(milliseconds(5));
    }
    chip_a.remove_card();
    chip_b.remove_card();
    REQUIRE(chip_a.wait_for([n = chip_a.stats().polls](const emu::Stats& s) { return s.polls >= n + 2; },
                            milliseconds(2000)));
    REQUIRE(chip_b.wait_for([n = chip_b.stats().polls](const emu::Stats& s) { return s.polls >= n + 2; },
                            milliseconds(2000)));
  }
  a.stop();
  b.stop();
  CHECK(ok["a/" + hex(uid_a)] == 8);
  CHECK(ok["b/" + hex(uid_b)] == 8);
  CHECK(failures == 0);
  CHECK(ok.size() == 2);
}

TEST_CASE("configuration errors are refused at construction", "[nfc][reader]") {
  boost::asio::io_context io;
  const auto refused = [&](const std::function<void(nfcad::ReaderConfig&)>& tweak) {
    auto c = fast_config("bad", "pn532_uart:/dev/null");
    tweak(c);
    const std::string named = "NFC reader '" + c.id + "'";
    try {
      nfcad::NfcReader r(io, std::move(c), {});
    } catch (const std::invalid_argument& e) {
      return std::string(e.what()).find(named) == 0;
    }
    return false;
  };
  CHECK(refused([](auto& c) { c.id.clear(); }));
  CHECK(refused([](auto& c) { c.connstring.clear(); }));
  CHECK(refused([](auto& c) { c.key_no = 14; }));
  CHECK(refused([](auto& c) { c.system_identifier.assign(22, 0x00); }));
  CHECK(refused([](auto& c) { c.reopen_backoff_max = milliseconds(10); }));
  CHECK(refused([](auto& c) { c.hung_timeout = milliseconds(0); }));
  CHECK_FALSE(refused([](auto&) {}));  // the defaults used throughout are valid
}

// ---- The authentication exchange itself, against the emulator's card model (no libnfc) ----------

namespace {

/// The adapter's APDU exchange wired straight to a card model; `tamper` may rewrite replies.
struct ModelCard {
  explicit ModelCard(emu::Card c) : card(std::move(c)) {}
  emu::Card card;
  emu::DesfireSession session;
  std::mt19937 rng{7};
  std::function<void(std::vector<std::uint8_t>&)> tamper;
  nfcad::ApduExchange exchange() {
    return [this](std::span<const std::uint8_t> apdu) -> std::optional<std::vector<std::uint8_t>> {
      auto reply = session.process(card, apdu, rng).bytes;
      if (tamper) tamper(reply);
      return reply;
    };
  }
};

nfcad::AesKey key_for(const std::vector<std::uint8_t>& uid) {
  return nfcad::diversify_aes128(kMaster, uid, kAid, kSystemId);
}

}  // namespace

TEST_CASE("desfire_authenticate_aes against the card model", "[nfc][desfire]") {
  const auto uid = uid7(0x10);
  ModelCard m{desfire_card(uid)};
  CHECK(nfcad::desfire_authenticate_aes(m.exchange(), kAid, kKeyNo, key_for(uid)).ok());
  const auto wrong = nfcad::desfire_authenticate_aes(m.exchange(), kAid, kKeyNo, key_for(uid7(0x11)));
  CHECK(wrong.outcome == nfcad::AuthOutcome::rejected);
  CHECK(wrong.status == 0xAE);
  CHECK(nfcad::desfire_authenticate_aes(m.exchange(), {0x09, 0x09, 0x09}, kKeyNo, key_for(uid)).outcome ==
        nfcad::AuthOutcome::no_application);
  CHECK(nfcad::desfire_authenticate_aes(m.exchange(), kAid, 5, key_for(uid)).status == 0x40);
}

TEST_CASE("desfire_authenticate_aes refuses a card that cannot prove the key", "[nfc][desfire]") {
  const auto uid = uid7(0x12);
  ModelCard m{desfire_card(uid)};
  SECTION("a clone that answers 91 00 to the second pass with random bytes") {
    m.tamper = [](std::vector<std::uint8_t>& r) {
      if (r.size() == 2 && r[1] == 0xAE) r.assign(18, 0x5C), r[16] = 0x91, r[17] = 0x00;
    };
    // Wrong key on the card: the model says AE; the tamper turns that into a fake success.
    m.card.applications[0].aes_keys[kKeyNo][0] ^= 0x01;
    const auto r = nfcad::desfire_authenticate_aes(m.exchange(), kAid, kKeyNo, key_for(uid));
    CHECK(r.outcome == nfcad::AuthOutcome::rejected);
  }
  SECTION("a reply of the right shape but flipped bits") {
    m.tamper = [](std::vector<std::uint8_t>& r) {
      if (r.size() == 18 && r[17] == 0x00) r[3] ^= 0x01;
    };
    CHECK_FALSE(nfcad::desfire_authenticate_aes(m.exchange(), kAid, kKeyNo, key_for(uid)).ok());
  }
  SECTION("malformed replies at every step") {
    for (std::size_t cut = 0; cut < 18; ++cut) {
      for (int step = 0; step < 3; ++step) {
        ModelCard t{desfire_card(uid)};
        int n = 0;
        t.tamper = [&](std::vector<std::uint8_t>& r) {
          if (n++ == step && r.size() > cut) r.resize(cut);
        };
        INFO("step " << step << " cut to " << cut << " bytes");
        const auto r = nfcad::desfire_authenticate_aes(t.exchange(), kAid, kKeyNo, key_for(uid));
        if (step == 0 && cut >= 2) {
          CHECK(r.ok());  // SelectApplication's reply is 2 bytes: nothing was cut
        } else {
          CHECK_FALSE(r.ok());
        }
      }
    }
  }
  SECTION("no reply") {
    const nfcad::ApduExchange silent = [](std::span<const std::uint8_t>) { return std::nullopt; };
    CHECK(nfcad::desfire_authenticate_aes(silent, kAid, kKeyNo, key_for(uid)).outcome == nfcad::AuthOutcome::transport);
  }
}

// ---- libfreefare as the reference client: the emulator speaks DESFire as libfreefare expects --------

namespace {

/// One libnfc context for these tests, never freed: nfc_exit() would free libnfc's process-wide
/// driver list under the adapter's own context (see nfc_reader.cpp).
nfc_context* test_context() {
  static nfc_context* const context = [] {
    nfc_context* c = nullptr;
    nfc_init(&c);
    return c;
  }();
  return context;
}

struct LibnfcSession {
  nfc_device* device = nullptr;
  explicit LibnfcSession(const std::string& connstring) {
    REQUIRE(test_context() != nullptr);
    device = nfc_open(test_context(), connstring.c_str());
    REQUIRE(device != nullptr);
    REQUIRE(nfc_initiator_init(device) == 0);
  }
  ~LibnfcSession() {
    if (device != nullptr) nfc_close(device);
  }
};

}  // namespace

TEST_CASE("libfreefare authenticates against the emulated DESFire exactly when the adapter does",
          "[nfc][desfire][libfreefare]") {
  emu::Emulator chip;
  const auto uid = uid7(0x20);
  chip.present(desfire_card(uid));
  LibnfcSession s(chip.connstring());

  MifareTag* tags = freefare_get_tags(s.device);
  REQUIRE(tags != nullptr);
  REQUIRE(tags[0] != nullptr);
  CHECK(tags[1] == nullptr);
  MifareTag tag = tags[0];
  CHECK(freefare_get_tag_type(tag) == DESFIRE);
  char* tag_uid = freefare_get_tag_uid(tag);
  CHECK(std::string(tag_uid) == "045a1122334420");
  std::free(tag_uid);

  REQUIRE(mifare_desfire_connect(tag) == 0);
  MifareDESFireAID aid = mifare_desfire_aid_new(0xF51001);  // kAid in wire order is 01 10 F5
  REQUIRE(mifare_desfire_select_application(tag, aid) == 0);

  auto key_bytes = key_for(uid);
  MifareDESFireKey key = mifare_desfire_aes_key_new(key_bytes.data());
  CHECK(mifare_desfire_authenticate_aes(tag, kKeyNo, key) == 0);
  mifare_desfire_key_free(key);
  CHECK(chip.stats().auth_ok == 1);

  auto wrong_bytes = key_for(uid7(0x21));
  MifareDESFireKey wrong = mifare_desfire_aes_key_new(wrong_bytes.data());
  CHECK(mifare_desfire_authenticate_aes(tag, kKeyNo, wrong) < 0);
  CHECK(mifare_desfire_last_picc_error(tag) == 0xAE);
  mifare_desfire_key_free(wrong);
  CHECK(chip.stats().auth_failed == 1);

  struct mifare_desfire_version_info version {};
  CHECK(mifare_desfire_get_version(tag, &version) == 0);
  CHECK(version.hardware.vendor_id == 0x04);
  CHECK(std::vector<std::uint8_t>(version.uid, version.uid + 7) == uid);

  free(aid);
  mifare_desfire_disconnect(tag);
  freefare_free_tags(tags);
}

TEST_CASE("libfreefare and the adapter agree on which cards are DESFire", "[nfc][desfire][libfreefare]") {
  emu::Emulator chip;
  LibnfcSession s(chip.connstring());
  const auto check = [&](const emu::Card& card, bool desfire) {
    chip.present(card);
    nfc_target target{};
    const nfc_modulation modulation{NMT_ISO14443A, NBR_106};
    REQUIRE(nfc_initiator_select_passive_target(s.device, modulation, nullptr, 0, &target) == 1);
    const auto& nai = target.nti.nai;  // a packed struct: read its size_t members by value
    const std::size_t ats_len = nai.szAtsLen;
    CHECK(nfcad::looks_like_desfire(nai.btSak, std::span<const std::uint8_t>(nai.abtAts, ats_len)) == desfire);
    MifareTag tag = freefare_tag_new(s.device, nai);
    CHECK((tag != nullptr && freefare_get_tag_type(tag) == DESFIRE) == desfire);
    if (tag != nullptr) freefare_free_tag(tag);
  };
  check(desfire_card(uid7(0x30)), true);
  check(emu::Card::uid_only({0x01, 0x02, 0x03, 0x04}), false);
  emu::Card iso_dep_not_desfire = desfire_card(uid7(0x31));
  iso_dep_not_desfire.ats = {0x78, 0x80, 0x70, 0x02};
  check(iso_dep_not_desfire, false);
}
