// SPDX-License-Identifier: Apache-2.0
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdlib>

int main(int argc, char** argv) {
  // libnfc logs every expected transport error of the fault-injection tests to stderr; keep quiet
  // unless the caller asks for its log (LIBNFC_LOG_LEVEL=3 for a full trace).
  ::setenv("LIBNFC_LOG_LEVEL", "0", 0);
  return Catch::Session().run(argc, argv);
}
