// SPDX-License-Identifier: Apache-2.0
/// @file
/// TLS for the console: the self-signed certificate generated into the state directory on first
/// start (EC P-256, SAN = the listen host, localhost and 127.0.0.1) and the server's SSL context
/// (TLS 1.2 and 1.3 only, forward-secret AEAD suites).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <optional>
#include <string>

namespace zonegate::adapters::web {

/// Certificate and key files the server loads.
struct TlsFiles {
  std::filesystem::path cert;
  std::filesystem::path key;
};

/// Makes sure `files` exist. If neither exists, writes a new self-signed EC P-256 certificate (valid
/// 397 days, SAN = `host`, localhost, 127.0.0.1 and ::1) and its key (mode 0600, written atomically).
/// A generated certificate (`generated` true) that expires within 30 days is replaced. Returns an
/// error text on failure; `*created` (if given) tells whether new files were written.
std::optional<std::string> ensure_self_signed(const TlsFiles& files, const std::string& host, bool generated,
                                              bool* created = nullptr);

/// Server context with `files` loaded; throws std::runtime_error at start-up if they do not load or
/// do not match.
boost::asio::ssl::context make_server_context(const TlsFiles& files);

/// SHA-256 fingerprint of a PEM certificate file ("AB:CD:…"), for the start-up log line; empty on error.
std::string certificate_fingerprint(const std::filesystem::path& cert);

}  // namespace zonegate::adapters::web
