// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/spool_file.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <streambuf>
#include <string>
#include <utility>
#include <vector>

namespace zonegate::adapters::web {

namespace {

constexpr std::size_t kBufferSize = 64 * 1024;

std::string errno_text(int e) { return std::strerror(e); }

Errc errno_code(int e) { return e == ENOSPC || e == EDQUOT ? Errc::disk_full : Errc::io_error; }

}  // namespace

/// A streambuf over a descriptor: buffered writes, retried on EINTR and short writes.
class SpoolFile::Buf final : public std::streambuf {
 public:
  explicit Buf(int fd) : fd_(fd), data_(kBufferSize) { setp(data_.data(), data_.data() + data_.size()); }
  ~Buf() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  int take() { return std::exchange(fd_, -1); }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] int error_number() const { return errno_; }
  bool drain() {
    const bool ok = write_all(pbase(), static_cast<std::size_t>(pptr() - pbase()));
    setp(data_.data(), data_.data() + data_.size());
    return ok;
  }

 protected:
  int_type overflow(int_type ch) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // The audit store hands over 64 KiB at a time: write such blocks straight through instead
    // of copying them into the buffer first.
    if (n >= static_cast<std::streamsize>(data_.size())) {
      if (!drain() || !write_all(s, static_cast<std::size_t>(n))) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool write_all(const char* p, std::size_t n) {
    if (fd_ < 0 || !error_.empty()) return false;
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        errno_ = errno;
        error_ = errno_text(errno_);
        return false;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  int fd_;
  std::vector<char> data_;
  std::string error_;
  int errno_ = 0;
};

SpoolFile::SpoolFile(int fd) : buf_(std::make_unique<Buf>(fd)), out_(std::make_unique<std::ostream>(buf_.get())) {}

SpoolFile::~SpoolFile() = default;

Result<std::unique_ptr<SpoolFile>> SpoolFile::create(const std::filesystem::path& dir) {
  // O_TMPFILE: the file never has a name, so no other process can open it and a crash leaves
  // nothing behind. Some file systems refuse it (EOPNOTSUPP, EISDIR on old kernels).
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string path = (dir / "zonegate-spool-XXXXXX").string();
    fd = ::mkostemp(path.data(), O_CLOEXEC);  // mode 0600
    if (fd >= 0 && ::unlink(path.c_str()) != 0) {
      const int e = errno;
      ::close(fd);
      return Error{errno_code(e), "spool file " + path + ": unlink: " + errno_text(e)};
    }
  }
  if (fd < 0) {
    const int e = errno;
    return Error{errno_code(e), "spool file in " + dir.string() + ": " + errno_text(e)};
  }
  return std::unique_ptr<SpoolFile>(new SpoolFile(fd));
}

std::ostream& SpoolFile::out() { return *out_; }

const std::string& SpoolFile::error() const { return buf_->error(); }

Result<boost::beast::file> SpoolFile::release() {
  out_->flush();
  if (!*out_ || !buf_->drain()) {
    const int e = buf_->error_number();
    return Error{e != 0 ? errno_code(e) : Errc::io_error,
                 "spool file: " + (buf_->error().empty() ? std::string("write failed") : buf_->error())};
  }
  if (::lseek(buf_->fd(), 0, SEEK_SET) != 0) {
    const int e = errno;
    return Error{Errc::io_error, "spool file: rewind: " + errno_text(e)};
  }
  boost::beast::file file;
  file.native_handle(buf_->take());
  return file;
}

}  // namespace zonegate::adapters::web
