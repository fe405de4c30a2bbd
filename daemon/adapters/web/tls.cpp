// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/tls.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace zonegate::adapters::web {
namespace {

namespace fs = std::filesystem;

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

std::string openssl_error(const std::string& what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return what;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return what + ": " + buf;
}

X509Ptr read_cert(const fs::path& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return nullptr;
  return X509Ptr(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
}

/// True if `host` can go into a SAN entry: a name or an address, nothing the config syntax of
/// X509V3_EXT_conf_nid would read as a separator.
bool plain_host(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  for (const char c : host) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string san_for(const std::string& host) {
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(host, ec);
  if (!ec) {
    // A wildcard listen address names no host; the machine's own name is the best guess then.
    if (addr.is_unspecified()) {
      char name[256] = {};
      if (gethostname(name, sizeof name - 1) == 0 && plain_host(name) && std::string(name) != "localhost") {
        san += ",DNS:" + std::string(name);
      }
    } else if (!addr.is_loopback()) {
      san += ",IP:" + host;
    }
  } else if (plain_host(host) && host != "localhost") {
    san += ",DNS:" + host;
  }
  return san;
}

std::optional<std::string> add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return openssl_error("certificate extension " + value);
  return std::nullopt;
}

/// Writes `write` into a temporary file created with `mode`, fsyncs it and renames it over `path`,
/// so a crash leaves the old file or the new one, never half of one (and never a readable key).
template <typename Write>
std::optional<std::string> write_atomically(const fs::path& path, mode_t mode, Write write) {
  const fs::path tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return "cannot create " + tmp.string() + ": " + std::generic_category().message(errno);
  FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    ::close(fd);
    return "cannot write " + tmp.string();
  }
  const bool written = write(f) && std::fflush(f) == 0 && ::fsync(fd) == 0;
  std::fclose(f);
  if (!written) {
    ::unlink(tmp.c_str());
    return openssl_error("cannot write " + tmp.string());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return "cannot rename " + tmp.string() + ": " + std::generic_category().message(errno);
  }
  return std::nullopt;
}

std::optional<std::string> generate(const TlsFiles& files, const std::string& host) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return openssl_error("EC P-256 key generation");
  X509Ptr cert(X509_new());
  if (!cert) return openssl_error("X509_new");
  X509_set_version(cert.get(), 2);
  BnPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return openssl_error("certificate serial");
  }
  // Back-date by an hour so a gateway whose clock is slightly behind the browser's still works.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 397L * 24 * 3600);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return openssl_error("X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string cn = plain_host(host) ? host : std::string("localhost");
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("zonegate console"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  for (const auto& [nid, value] : {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:FALSE"},
                                   {NID_key_usage, "critical,digitalSignature"},
                                   {NID_ext_key_usage, "serverAuth"},
                                   {NID_subject_key_identifier, "hash"},
                                   {NID_subject_alt_name, san_for(host)}}) {
    if (auto err = add_ext(cert.get(), nid, value)) return err;
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return openssl_error("X509_sign");

  // Key first: a certificate without its key would be loaded and fail; a key alone is regenerated.
  if (auto err = write_atomically(files.key, 0600, [&](FILE* f) {
        return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
      })) {
    return err;
  }
  return write_atomically(files.cert, 0644, [&](FILE* f) { return PEM_write_X509(f, cert.get()) == 1; });
}

}  // namespace

std::optional<std::string> ensure_self_signed(const TlsFiles& files, const std::string& host, bool generated,
                                              bool* created) {
  if (created != nullptr) *created = false;
  std::error_code ec;
  const bool have_cert = fs::exists(files.cert, ec);
  const bool have_key = fs::exists(files.key, ec);
  if (have_cert && have_key) {
    if (!generated) return std::nullopt;
    X509Ptr cert = read_cert(files.cert);
    if (!cert) return openssl_error("cannot read " + files.cert.string());
    int days = 0;
    int secs = 0;
    if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert.get())) == 1 && days > 30) {
      return std::nullopt;
    }
    // Ours and about to expire: make a new one rather than lock the guards out next month.
  } else if (!generated && (have_cert || have_key)) {
    return "console certificate " + files.cert.string() + " and key " + files.key.string() + " must both exist";
  } else if (!generated) {
    return "console certificate " + files.cert.string() + " does not exist";
  }
  if (auto err = generate(files, host)) return err;
  if (created != nullptr) *created = true;
  return std::nullopt;
}

boost::asio::ssl::context make_server_context(const TlsFiles& files) {
  boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_server);
  ctx.set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                  boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                  boost::asio::ssl::context::no_tlsv1_1 | boost::asio::ssl::context::single_dh_use);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // TLS 1.2: forward secrecy and AEAD only (TLS 1.3 suites are all of that already).
  if (SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
    throw std::runtime_error(openssl_error("TLS cipher list"));
  }
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(files.cert.string(), ec);
  if (ec) throw std::runtime_error("console certificate " + files.cert.string() + ": " + ec.message());
  ctx.use_private_key_file(files.key.string(), boost::asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("console key " + files.key.string() + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    throw std::runtime_error(openssl_error("console key does not match the certificate"));
  }
  return ctx;
}

std::string certificate_fingerprint(const fs::path& cert_file) {
  X509Ptr cert = read_cert(cert_file);
  if (!cert) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &len) != 1) return {};
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i != 0) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace zonegate::adapters::web
