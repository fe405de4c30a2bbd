// SPDX-License-Identifier: Apache-2.0
#include "adapters/audit/signing_key.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "adapters/audit/audit_codec.hpp"

namespace zonegate::adapters::audit {
namespace {

namespace fs = std::filesystem;

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

Error key_error(std::string message) { return Error{Errc::signing_key, std::move(message)}; }

std::string errno_text(int err) { return std::strerror(err); }

/// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Reads a whole (small) file through an already opened descriptor.
bool read_all(int fd, std::string& out) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return true;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > 64 * 1024) return false;  // no PEM key is this large
  }
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

/// Writes `data` to dir/name atomically and exclusively: a temporary file created with
/// open(O_CREAT|O_EXCL, mode) is filled, fsync'd and then hard-linked to the final name, which
/// fails with EEXIST if another process got there first. Returns 0 or an errno value.
int create_file_exclusive(const fs::path& dir, std::string_view name, std::string_view data, mode_t mode) {
  const fs::path final_path = dir / name;
  const fs::path tmp = dir / ("." + std::string(name) + "." + std::to_string(::getpid()) + ".tmp");
  ::unlink(tmp.c_str());  // a leftover of a crashed creation by a process with our pid
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0) return errno;
  if (!write_all(fd.get(), data) || ::fsync(fd.get()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return err;
  }
  ::close(fd.release());
  const int rc = ::link(tmp.c_str(), final_path.c_str());
  const int err = rc == 0 ? 0 : errno;
  ::unlink(tmp.c_str());
  fsync_dir(dir);
  return err;
}

Result<PkeyPtr> read_private_key(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return key_error("cannot open " + path.string() + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return key_error("cannot stat " + path.string() + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return key_error(path.string() + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return key_error(path.string() + " has mode " + mode + ": group and others must have no access (chmod 600)");
  }
  if (st.st_uid != ::geteuid()) return key_error(path.string() + " is owned by another user");
  std::string pem;
  if (!read_all(fd.get(), pem)) return key_error("cannot read " + path.string());
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return key_error("out of memory");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) return key_error(path.string() + " does not hold a PEM private key");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) return key_error(path.string() + " is not an Ed25519 key");
  return key;
}

Result<std::string> public_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) return key_error("cannot encode the public key");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

void PkeyDeleter::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

Result<PublicKey> PublicKey::from_pkey(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return key_error("not an Ed25519 key");
  PublicKey pk;
  std::size_t len = pk.raw_.size();
  if (EVP_PKEY_get_raw_public_key(key, pk.raw_.data(), &len) != 1 || len != pk.raw_.size()) {
    return key_error("cannot read the raw public key");
  }
  codec::Sha256 sha;
  if (!sha.digest({reinterpret_cast<const char*>(pk.raw_.data()), pk.raw_.size()}, pk.id_)) {
    return key_error("cannot hash the public key");
  }
  if (EVP_PKEY_up_ref(key) != 1) return key_error("cannot reference the key");
  pk.key_ = std::shared_ptr<EVP_PKEY>(key, PkeyDeleter{});
  return pk;
}

Result<PublicKey> PublicKey::load(const fs::path& pem_file) {
  Fd fd(::open(pem_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return key_error("cannot open " + pem_file.string() + ": " + errno_text(errno));
  std::string pem;
  if (!read_all(fd.get(), pem)) return key_error("cannot read " + pem_file.string());
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return key_error("out of memory");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return key_error(pem_file.string() + " does not hold a PEM public key");
  return from_pkey(key.get());
}

bool PublicKey::verify(std::string_view message, const Signature& sig) const {
  if (!key_) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

Result<SigningKey> SigningKey::load_or_create(const fs::path& dir) {
  const fs::path priv_path = dir / kPrivateKeyFile;
  const fs::path pub_path = dir / kPublicKeyFile;

  struct stat st {};
  if (::lstat(priv_path.c_str(), &st) != 0) {
    if (errno != ENOENT) return key_error("cannot stat " + priv_path.string() + ": " + errno_text(errno));
    // First use: generate and store the key. Another process may race us; link() decides.
    PkeyPtr fresh(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!fresh) return key_error("cannot generate an Ed25519 key");
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), fresh.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      return key_error("cannot encode the private key");
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    const int err = create_file_exclusive(dir, kPrivateKeyFile, {data, static_cast<std::size_t>(len)}, 0600);
    OPENSSL_cleanse(data, static_cast<std::size_t>(len));
    if (err != 0 && err != EEXIST) return key_error("cannot create " + priv_path.string() + ": " + errno_text(err));
  }

  auto key = read_private_key(priv_path);
  if (!key) return key.error();
  SigningKey sk;
  sk.key_ = std::move(key.value());
  auto pub = PublicKey::from_pkey(sk.key_.get());
  if (!pub) return pub.error();
  sk.public_ = std::move(pub.value());

  // The public key file: written if missing, and must match the private key if present.
  if (::lstat(pub_path.c_str(), &st) != 0) {
    auto pem = public_pem(sk.key_.get());
    if (!pem) return pem.error();
    const int err = create_file_exclusive(dir, kPublicKeyFile, *pem, 0644);
    if (err != 0 && err != EEXIST) return key_error("cannot create " + pub_path.string() + ": " + errno_text(err));
  }
  auto on_disk = PublicKey::load(pub_path);
  if (!on_disk) return on_disk.error();
  if (on_disk->id() != sk.public_.id()) {
    return key_error(pub_path.string() + " does not match " + priv_path.string());
  }
  return sk;
}

Result<Signature> SigningKey::sign(std::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
    return key_error("cannot initialise signing");
  }
  Signature sig{};
  std::size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      len != sig.size()) {
    return key_error("Ed25519 signing failed");
  }
  return sig;
}

}  // namespace zonegate::adapters::audit
