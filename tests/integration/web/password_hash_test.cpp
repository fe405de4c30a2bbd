// SPDX-License-Identifier: Apache-2.0
// The stored password format, scrypt itself (RFC 7914 test vector), and the password policy.
#include "adapters/web/password_hash.hpp"

#include <catch2/catch.hpp>
#include <regex>
#include <string>
#include <vector>

#include "adapters/web/secure_random.hpp"

using namespace zonegate::adapters::web;

namespace {

std::string b64(std::string_view s) {
  return base64_encode({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

}  // namespace

TEST_CASE("a new hash is self-describing: scheme, N, r, p, 16-byte salt, 32-byte key", "[web][password]") {
  const auto h = hash_password("correct horse battery");
  REQUIRE(h.ok());
  CHECK(std::regex_match(*h, std::regex(R"(scrypt\$15\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=)")));
  const auto parsed = parse_password_hash(*h);
  REQUIRE(parsed);
  CHECK(parsed->params == ScryptParams{15, 8, 1});
  CHECK(parsed->salt.size() == 16);
  CHECK(parsed->key.size() == 32);
  CHECK(verify_password("correct horse battery", *h));
  CHECK_FALSE(verify_password("correct horse batterz", *h));
  CHECK_FALSE(verify_password("", *h));
  CHECK_FALSE(needs_rehash(*h, ScryptParams{}));
  CHECK(needs_rehash(*h, ScryptParams{16, 8, 1}));
}

TEST_CASE("the same password hashes differently each time (random salt)", "[web][password]") {
  const auto a = hash_password("correct horse battery", {10, 8, 1});
  const auto b = hash_password("correct horse battery", {10, 8, 1});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  CHECK(parse_password_hash(*a)->salt != parse_password_hash(*b)->salt);
  CHECK(verify_password("correct horse battery", *b));
}

TEST_CASE("verification is scrypt: RFC 7914 test vector", "[web][password]") {
  // RFC 7914 section 12: P="pleaseletmein", S="SodiumChloride", N=16384, r=8, p=1, dkLen=64.
  const unsigned char expected[] = {0x70, 0x23, 0xbd, 0xcb, 0x3a, 0xfd, 0x73, 0x48, 0x46, 0x1c, 0x06, 0xcd, 0x81,
                                    0xfd, 0x38, 0xeb, 0xfd, 0xa8, 0xfb, 0xba, 0x90, 0x4f, 0x8e, 0x3e, 0xa9, 0xb5,
                                    0x43, 0xf6, 0x54, 0x5d, 0xa1, 0xf2, 0xd5, 0x43, 0x29, 0x55, 0x61, 0x3f, 0x0f,
                                    0xcf, 0x62, 0xd4, 0x97, 0x05, 0x24, 0x2a, 0x9a, 0xf9, 0xe6, 0x1e, 0x85, 0xdc,
                                    0x0d, 0x65, 0x1e, 0x40, 0xdf, 0xcf, 0x01, 0x7b, 0x45, 0x57, 0x58, 0x87};
  const std::string key(reinterpret_cast<const char*>(expected), sizeof expected);
  const std::string encoded = "scrypt$14$8$1$" + b64("SodiumChloride") + "$" + b64(key);
  CHECK(verify_password("pleaseletmein", encoded));
  CHECK_FALSE(verify_password("pleaseletmeim", encoded));
  // The same key under other parameters does not verify: the stored parameters are used.
  CHECK_FALSE(verify_password("pleaseletmein", "scrypt$15$8$1$" + b64("SodiumChloride") + "$" + b64(key)));
  std::string tampered = key;
  tampered[31] = static_cast<char>(tampered[31] ^ 1);
  CHECK_FALSE(verify_password("pleaseletmein", "scrypt$14$8$1$" + b64("SodiumChloride") + "$" + b64(tampered)));
}

TEST_CASE("malformed stored hashes never verify", "[web][password]") {
  const auto good = hash_password("correct horse battery", {10, 8, 1});
  REQUIRE(good.ok());
  REQUIRE(parse_password_hash(*good));
  const std::string salt = b64("0123456789abcdef");
  const std::string key = b64("0123456789abcdef0123456789abcdef");
  const std::vector<std::string> bad = {
      "",
      "scrypt",
      "bcrypt$15$8$1$" + salt + "$" + key,
      "scrypt$15$8$1$" + salt,
      "scrypt$15$8$1$" + salt + "$" + key + "$extra",
      "scrypt$25$8$1$" + salt + "$" + key,  // N = 2^25: beyond the memory bound
      "scrypt$9$8$1$" + salt + "$" + key,
      "scrypt$15$0$1$" + salt + "$" + key,
      "scrypt$15$8$0$" + salt + "$" + key,
      "scrypt$015$8$1$" + salt + "$" + key,
      "scrypt$-15$8$1$" + salt + "$" + key,
      "scrypt$15$8$1$" + salt + "$" + key.substr(1),
      "scrypt$15$8$1$not*base64$" + key,
      "scrypt$15$8$1$" + b64("short") + "$" + key,
  };
  for (const auto& s : bad) {
    INFO(s);
    CHECK_FALSE(parse_password_hash(s));
    CHECK_FALSE(verify_password("correct horse battery", s));
    CHECK(needs_rehash(s, ScryptParams{}));
  }
}

TEST_CASE("password policy", "[web][password]") {
  CHECK_FALSE(password_policy_violation("alice", "twelve chars"));
  CHECK(*password_policy_violation("alice", "eleven char") == "the password is shorter than 12 characters");
  // Characters, not bytes: eleven two-byte letters are still too short, twelve are enough.
  CHECK(password_policy_violation("alice", "ééééééééééé"));
  CHECK_FALSE(password_policy_violation("alice", "éééééééééééé"));
  CHECK(*password_policy_violation("night.guard-01", "night.guard-01") == "the password is the operator's name");
  CHECK(password_policy_violation("night.guard-01", "NIGHT.GUARD-01"));
  CHECK(*password_policy_violation("alice", "twelve\tchars") == "the password contains a control character");
  CHECK(*password_policy_violation("alice", "twelve chars\xff") == "the password is not valid UTF-8");
  CHECK(password_policy_violation("alice", "twelve chars\xc0\xaf"));  // overlong '/'
  CHECK(password_policy_violation("alice", std::string(1025, 'x')));
  CHECK_FALSE(password_policy_violation("alice", std::string(1024, 'x')));
}

TEST_CASE("operator names", "[web][password]") {
  CHECK(valid_operator_name("a"));
  CHECK(valid_operator_name("night.guard_01-b"));
  CHECK(valid_operator_name(std::string(64, 'z')));
  CHECK_FALSE(valid_operator_name(""));
  CHECK_FALSE(valid_operator_name(std::string(65, 'z')));
  CHECK_FALSE(valid_operator_name("Alice"));
  CHECK_FALSE(valid_operator_name("al ice"));
  CHECK_FALSE(valid_operator_name("alice'--"));
  CHECK_FALSE(valid_operator_name("alice/../x"));
}

TEST_CASE("base64: RFC 4648 vectors, URL-safe form, strict decoding", "[web][password]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(b64(plain) == encoded);
    const auto back = base64_decode(encoded);
    REQUIRE(back);
    CHECK(std::string(back->begin(), back->end()) == plain);
  }
  const std::uint8_t high[] = {0xfb, 0xff, 0xfe};
  CHECK(base64_encode(high) == "+//+");
  CHECK(base64url_encode(high) == "-__-");
  const std::uint8_t one[] = {0xff};
  CHECK(base64url_encode(one) == "_w");
  for (const char* bad : {"Zg=", "Zg", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm=v"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad));
  }
}
