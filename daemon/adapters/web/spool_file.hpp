// SPDX-License-Identifier: Apache-2.0
/// @file
/// A temporary file without a name for a response too large to hold in memory (an audit export of
/// millions of records): created unlinked in a given directory (O_TMPFILE, or mkstemp and an
/// immediate unlink where the file system lacks it) with mode 0600, written through an
/// std::ostream, then handed over as a Beast file for http::file_body. The file vanishes with its
/// last descriptor, whatever happens to the process or the connection.
#pragma once

#include <boost/beast/core/file.hpp>
#include <filesystem>
#include <memory>
#include <ostream>

#include "adapters/web/result.hpp"

namespace zonegate::adapters::web {

class SpoolFile {
 public:
  /// Creates the file in `dir` (which must exist and be writable).
  static Result<std::unique_ptr<SpoolFile>> create(const std::filesystem::path& dir);

  ~SpoolFile();  ///< closes the descriptor unless release() took it
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  /// Writes to the file through a 64 KiB buffer; the stream's failbit is set when a write fails
  /// (error() says why).
  std::ostream& out();
  /// Why a write failed, e.g. "No space left on device"; empty if none did.
  [[nodiscard]] const std::string& error() const;
  /// Flushes, rewinds and hands over the descriptor (positioned at the start of the file).
  Result<boost::beast::file> release();

  class Buf;

 private:
  explicit SpoolFile(int fd);
  std::unique_ptr<Buf> buf_;
  std::unique_ptr<std::ostream> out_;
};

}  // namespace zonegate::adapters::web
