// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/result.hpp"

namespace zonegate::adapters::web {

std::string_view to_string(Errc e) {
  switch (e) {
    case Errc::not_found:
      return "not_found";
    case Errc::conflict:
      return "conflict";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::weak_password:
      return "weak_password";
    case Errc::disk_full:
      return "disk_full";
    case Errc::io_error:
      return "io_error";
    case Errc::corrupt:
      return "corrupt";
    case Errc::busy:
      return "busy";
    case Errc::crypto:
      return "crypto";
    case Errc::internal:
      break;
  }
  return "internal";
}

}  // namespace zonegate::adapters::web
