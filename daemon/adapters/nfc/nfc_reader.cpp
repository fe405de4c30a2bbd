// SPDX-License-Identifier: Apache-2.0
#include "adapters/nfc/nfc_reader.hpp"

#include <nfc/nfc.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "adapters/nfc/desfire_auth.hpp"

namespace zonegate::adapters::nfc {
namespace {

using Clock = std::chrono::steady_clock;

/// The process's one libnfc context, created on first use and never destroyed: nfc_init() calls
/// setenv() (a race with getenv() on any other thread) and nfc_exit() frees libnfc's process-wide
/// driver list under every other context. Creating it once, on the thread that configures the
/// first reader, avoids both.
nfc_context* shared_context() {
  static nfc_context* const context = [] {
    nfc_context* c = nullptr;
    nfc_init(&c);
    return c;
  }();
  return context;
}

struct DeviceCloser {
  void operator()(nfc_device* d) const { nfc_close(d); }
};
using Device = std::unique_ptr<nfc_device, DeviceCloser>;

int to_int_ms(Millis d) { return static_cast<int>(std::min<Millis::rep>(d.count(), std::numeric_limits<int>::max())); }

std::string hex_upper(const std::uint8_t* bytes, std::size_t n) {
  static constexpr std::string_view kDigits = "0123456789ABCDEF";
  std::string s;
  s.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    s.push_back(kDigits[bytes[i] >> 4]);
    s.push_back(kDigits[bytes[i] & 0x0F]);
  }
  return s;
}

std::string device_error(const char* what, const nfc_device* d) {
  return std::string(what) + ": " + (d != nullptr ? nfc_strerror(d) : "no device");
}

/// What the adapter uses of a selected ISO 14443-A target. libnfc declares nfc_iso14443a_info packed
/// (its size_t members are misaligned), so the fields are copied out by value before any use.
struct TargetInfo {
  std::vector<std::uint8_t> uid;
  std::uint8_t sak = 0;
  std::vector<std::uint8_t> ats;  ///< without the length byte
};

TargetInfo target_info(const nfc_iso14443a_info& nai) {
  const std::size_t uid_len = nai.szUidLen;
  const std::size_t ats_len = nai.szAtsLen;
  TargetInfo t;
  t.uid.assign(nai.abtUid, nai.abtUid + std::min(uid_len, sizeof nai.abtUid));
  t.sak = nai.btSak;
  t.ats.assign(nai.abtAts, nai.abtAts + std::min(ats_len, sizeof nai.abtAts));
  return t;
}

/// libnfc errors that say the reader (not a card) failed: the device must be reopened. The others
/// are about the card: it did not answer on the air, answered too much, or was released.
bool is_reader_failure(int error) {
  return error != NFC_ERFTRANS && error != NFC_EOVFLOW && error != NFC_ETGRELEASED && error != NFC_EMFCAUTHFAIL;
}

void validate(const ReaderConfig& c) {
  const auto fail = [&](const std::string& what) { throw std::invalid_argument("NFC reader '" + c.id + "': " + what); };
  if (c.id.empty()) fail("id is empty");
  if (c.connstring.empty() || c.connstring.size() >= NFC_BUFSIZE_CONNSTRING) fail("connstring is empty or too long");
  if (c.key_no > 13) fail("DESFire key number must be 0..13");
  if (c.system_identifier.size() > max_system_identifier_len(7)) {
    fail("system identifier is longer than " + std::to_string(max_system_identifier_len(7)) + " bytes");
  }
  if (c.poll_interval.count() < 0) fail("poll interval is negative");
  if (c.reopen_backoff_min.count() <= 0 || c.reopen_backoff_max < c.reopen_backoff_min) {
    fail("reopen backoff must satisfy 0 < min <= max");
  }
  if (c.hung_timeout.count() <= 0 || c.command_timeout.count() <= 0 || c.card_timeout.count() <= 0) {
    fail("timeouts must be positive");
  }
  if (c.power_cycle_wait.count() < 0) fail("power-cycle wait is negative");
}

}  // namespace

struct NfcReader::Shared {
  ReaderConfig config;
  ReaderCallbacks callbacks;
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;               // guarded by mutex
  std::uint64_t power_cycles_run = 0;  // guarded by mutex
  std::atomic<bool> silenced{false};   // set by stop(): posted reports are dropped from then on

  /// Sleeps for `d` or until stop(); true if stopping.
  bool sleep(Millis d) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, d, [&] { return stopping; });
  }
  bool stop_requested() {
    std::lock_guard lock(mutex);
    return stopping;
  }
};

NfcReader::NfcReader(boost::asio::io_context& io, ReaderConfig config, ReaderCallbacks callbacks)
    : io_(io), shared_(std::make_shared<Shared>()) {
  validate(config);
  if (shared_context() == nullptr) throw std::runtime_error("libnfc: nfc_init failed");
  shared_->config = std::move(config);
  shared_->callbacks = std::move(callbacks);
}

NfcReader::~NfcReader() {
  stop();
  OPENSSL_cleanse(shared_->config.master_key.data(), shared_->config.master_key.size());
}

const std::string& NfcReader::id() const { return shared_->config.id; }

void NfcReader::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = false;
  }
  shared_->silenced = false;
  thread_ = std::thread([this] { run(); });
}

void NfcReader::stop() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
  }
  shared_->cv.notify_all();
  shared_->silenced = true;
  if (thread_.joinable()) thread_.join();
}

void NfcReader::run() {
  Shared& s = *shared_;
  const ReaderConfig& c = s.config;

  const auto post_status = [&](bool online, bool hung, std::string detail) {
    boost::asio::post(io_, [shared = shared_, st = ReaderStatus{c.id, online, hung, std::move(detail)}] {
      if (!shared->silenced && shared->callbacks.on_status) shared->callbacks.on_status(st);
    });
  };
  const auto post_card = [&](CardRead read) {
    boost::asio::post(io_, [shared = shared_, read = std::move(read)] {
      if (!shared->silenced && shared->callbacks.on_card) shared->callbacks.on_card(read);
    });
  };

  enum class Health : std::uint8_t { unknown, online, offline, hung };
  Health health = Health::unknown;
  Device device;
  Millis backoff = c.reopen_backoff_min;
  Clock::time_point last_ok = Clock::now();  // last successful poll (or the start)
  std::string opened_as;                     // detail for the online report
  std::string present_uid;                   // the card in the field at the last poll, for debouncing

  const auto go_offline = [&](std::string why) {
    device.reset();  // nfc_close: bounded by command_timeout on a dead device
    if (health == Health::online || health == Health::unknown) {
      health = Health::offline;
      post_status(false, false, std::move(why));
    }
  };

  // Before each reopen: a reader without a successful poll for hung_timeout is hung. Report it
  // once per outage and power-cycle it (at most once per hung_timeout) if we can.
  Clock::time_point last_power_cycle{};
  const auto check_hung = [&] {
    const auto now = Clock::now();
    if (now - last_ok < c.hung_timeout) return;
    if (health != Health::hung) {
      health = Health::hung;
      const auto silent = std::chrono::duration_cast<Millis>(now - last_ok).count();
      post_status(false, true, "no successful poll for " + std::to_string(silent) + " ms");
    }
    if (!c.power_cycle || now - last_power_cycle < c.hung_timeout) return;
    last_power_cycle = now;
    std::uint64_t before = 0;
    {
      std::lock_guard lock(s.mutex);
      before = s.power_cycles_run;
    }
    boost::asio::post(io_, [shared = shared_] {
      struct Ran {  // wakes the reader thread however power_cycle() ends
        Shared& s;
        ~Ran() {
          {
            std::lock_guard lock(s.mutex);
            ++s.power_cycles_run;
          }
          s.cv.notify_all();
        }
      } ran{*shared};
      if (!shared->silenced) shared->config.power_cycle();
    });
    std::unique_lock lock(s.mutex);
    s.cv.wait_for(lock, c.power_cycle_wait, [&] { return s.stopping || s.power_cycles_run != before; });
    backoff = c.reopen_backoff_min;  // a freshly powered reader deserves a quick first try
  };

  const auto open = [&]() -> bool {
    Device d(nfc_open(shared_context(), c.connstring.c_str()));
    if (!d) {
      go_offline("cannot open " + c.connstring);
      return false;
    }
    if (nfc_device_set_property_int(d.get(), NP_TIMEOUT_COMMAND, to_int_ms(c.command_timeout)) < 0 ||
        nfc_initiator_init(d.get()) < 0 ||
        // nfc_initiator_init asks the chip to retry activation forever; one short try per poll
        // instead keeps every InListPassiveTarget bounded.
        nfc_device_set_property_bool(d.get(), NP_INFINITE_SELECT, false) < 0 ||
        nfc_device_set_property_bool(d.get(), NP_AUTO_ISO14443_4, true) < 0) {
      std::string why = device_error("cannot initialise reader", d.get());
      device = std::move(d);
      go_offline(std::move(why));
      return false;
    }
    // Online is reported after the first good poll, not here: a reader that opens and then fails
    // every poll stays offline (and becomes hung) instead of flapping.
    device = std::move(d);
    opened_as = std::string("opened ") + c.connstring + " (" + nfc_device_get_name(device.get()) + ")";
    return true;
  };

  // Authenticates the DESFire card just selected. Returns the read and whether the reader failed.
  const auto authenticate = [&](const TargetInfo& card, std::string uid_hex) -> std::pair<CardRead, bool> {
    CardRead read{c.id, std::move(uid_hex), core::CredentialKind::desfire, true, {}};
    const std::span<const std::uint8_t> uid(card.uid);
    if (uid.size() != 4 && uid.size() != 7) {
      read.detail = "unsupported UID length " + std::to_string(uid.size());
      return {read, false};
    }
    AesKey key{};
    try {
      key = diversify_aes128(c.master_key, uid, c.aid, c.system_identifier);
    } catch (const std::exception& e) {
      read.detail = std::string("key diversification failed: ") + e.what();
      return {read, false};
    }
    int transport_error = 0;
    const ApduExchange exchange = [&](std::span<const std::uint8_t> apdu) -> std::optional<std::vector<std::uint8_t>> {
      std::array<std::uint8_t, 64> rx{};
      const int n = nfc_initiator_transceive_bytes(device.get(), apdu.data(), apdu.size(), rx.data(), rx.size(),
                                                   to_int_ms(c.card_timeout));
      if (n < 0) {
        transport_error = n;
        return std::nullopt;
      }
      return std::vector<std::uint8_t>(rx.begin(), rx.begin() + n);
    };
    const AuthResult result = desfire_authenticate_aes(exchange, c.aid, c.key_no, key);
    OPENSSL_cleanse(key.data(), key.size());
    read.auth_failed = !result.ok();
    const bool reader_failed = transport_error != 0 && is_reader_failure(transport_error);
    if (reader_failed) {
      read.detail = device_error("reader failed during authentication", device.get());
    } else if (read.auth_failed) {
      read.detail = result.describe();
    }
    return {read, reader_failed};
  };

  // Every failed cycle — open failed, or opened but the poll failed — doubles the wait; the first
  // good poll resets it.
  const auto wait_to_reopen = [&] {
    const bool stopping = s.sleep(backoff);
    backoff = std::min(backoff * 2, c.reopen_backoff_max);
    return stopping;
  };

  while (!s.stop_requested()) {
    try {
      if (!device) {
        check_hung();
        if (s.stop_requested()) break;
        if (!open() && wait_to_reopen()) break;
        continue;
      }

      nfc_target target{};
      const nfc_modulation modulation{NMT_ISO14443A, NBR_106};
      const int found = nfc_initiator_select_passive_target(device.get(), modulation, nullptr, 0, &target);
      if (found < 0) {
        go_offline(device_error("poll failed", device.get()));
        if (wait_to_reopen()) break;
        continue;
      }
      last_ok = Clock::now();
      if (health != Health::online) {
        health = Health::online;
        backoff = c.reopen_backoff_min;
        post_status(true, false, opened_as);
      }
      if (found == 0) {
        present_uid.clear();
      } else {
        const TargetInfo card = target_info(target.nti.nai);
        std::string uid_hex = hex_upper(card.uid.data(), card.uid.size());
        bool reader_failed = false;
        if (uid_hex != present_uid) {
          present_uid = uid_hex;
          if (looks_like_desfire(card.sak, card.ats)) {
            auto [read, failed] = authenticate(card, std::move(uid_hex));
            reader_failed = failed;
            post_card(std::move(read));
          } else {
            post_card(CardRead{c.id, std::move(uid_hex), core::CredentialKind::uid, false, {}});
          }
        }
        // Send the card to HALT so it is not left mid-session; the next poll finds it again. A card
        // that has left the field makes the chip report an RF error here, which is not the reader's.
        const int deselected = reader_failed ? 0 : nfc_initiator_deselect_target(device.get());
        if (reader_failed || (deselected < 0 && is_reader_failure(deselected))) {
          go_offline(device_error("reader failed while talking to a card", device.get()));
          if (wait_to_reopen()) break;
          continue;
        }
      }
      if (s.sleep(c.poll_interval)) break;
    } catch (const std::exception& e) {
      // Only allocation or OpenSSL failures get here; treat them like a reader failure.
      go_offline(std::string("internal error: ") + e.what());
      if (wait_to_reopen()) break;
    }
  }
  device.reset();
}

}  // namespace zonegate::adapters::nfc
