// SPDX-License-Identifier: Apache-2.0
#include "adapters/audit/audit_codec.hpp"

#include <openssl/evp.h>

#include <cstring>

namespace zonegate::adapters::audit::codec {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  out.append(b, 4);
}

void put_u64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i) {
    b[i] = static_cast<char>(v & 0xFFU);
    v >>= 8;
  }
  out.append(b, 8);
}

void put_i64(std::string& out, std::int64_t v) { put_u64(out, static_cast<std::uint64_t>(v)); }

void put_str(std::string& out, std::string_view s) {
  // Fields are bounded far below 4 GiB by SQLite's own limits (1 GB default).
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

void put_bytes(std::string& out, std::span<const std::uint8_t> b) {
  out.append(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace

Sha256::Sha256() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md_);
}

bool Sha256::digest(std::string_view data, Hash& out) {
  if (!valid()) return false;
  unsigned int len = 0;
  return EVP_DigestInit_ex2(ctx_, md_, nullptr) == 1 && EVP_DigestUpdate(ctx_, data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(ctx_, out.data(), &len) == 1 && len == out.size();
}

bool Encoder::personal_digest(const Fields& f, std::span<const std::uint8_t, kSaltSize> salt, Hash& out) {
  if (!f.has_personal()) {
    out.fill(0);
    return true;
  }
  buf_.clear();
  buf_.append(kPersonalTag);
  put_bytes(buf_, salt);
  put_str(buf_, f.person);
  put_str(buf_, f.badge);
  put_str(buf_, f.detail);
  return sha_.digest(buf_, out);
}

const std::string& Encoder::encode_record(const Fields& f, const Hash& personal, const Hash& prev) {
  // Sized once, then filled through a pointer: verify() runs this for every record, and a chain of
  // small appends costs more than the SHA-256 itself.
  const std::string_view strs[] = {f.kind,    f.event,  f.door,  f.zone,     f.direction,
                                   f.verdict, f.reason, f.alarm, f.severity, f.source};
  std::size_t size = kRecordTag.size() + 8 + 8 + 8 + personal.size() + prev.size();
  for (auto s : strs) size += 4 + s.size();
  buf_.resize(size);
  char* p = buf_.data();
  auto bytes = [&p](const void* src, std::size_t n) {
    if (n != 0) std::memcpy(p, src, n);
    p += n;
  };
  auto u64 = [&p](std::uint64_t v) {
    for (int i = 7; i >= 0; --i) {
      p[i] = static_cast<char>(v & 0xFFU);
      v >>= 8;
    }
    p += 8;
  };
  auto u32 = [&p](std::uint32_t v) {
    p[0] = static_cast<char>(v >> 24);
    p[1] = static_cast<char>(v >> 16);
    p[2] = static_cast<char>(v >> 8);
    p[3] = static_cast<char>(v);
    p += 4;
  };
  bytes(kRecordTag.data(), kRecordTag.size());
  u64(f.seq);
  u64(static_cast<std::uint64_t>(f.time_ms));
  for (auto s : strs) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  u64(static_cast<std::uint64_t>(f.ref));
  bytes(personal.data(), personal.size());
  bytes(prev.data(), prev.size());
  return buf_;
}

bool Encoder::record_hash(const Fields& f, const Hash& personal, const Hash& prev, Hash& out) {
  return sha_.digest(encode_record(f, personal, prev), out);
}

std::string checkpoint_message(std::string_view gateway_id, Seq seq, const Hash& hash, std::int64_t time_ms) {
  std::string out;
  out.reserve(kCheckpointTag.size() + 4 + gateway_id.size() + 8 + hash.size() + 8);
  out.append(kCheckpointTag);
  put_str(out, gateway_id);
  put_u64(out, seq);
  put_bytes(out, hash);
  put_i64(out, time_ms);
  return out;
}

}  // namespace zonegate::adapters::audit::codec
