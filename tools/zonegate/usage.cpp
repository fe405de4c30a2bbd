// SPDX-License-Identifier: Apache-2.0
#include "zonegate/commands.hpp"

namespace zonegate::cli {

const char* usage_text() {
  return "usage: zonegate COMMAND [ARGS]\n"
         "\n"
         "commands:\n"
         "  check FILE                      validate a zones.yaml; exit 0 valid, 1 invalid\n"
         "  policy test FILE...             run policy scenario files; exit 0 if all pass\n"
         "  policy who-can --zone ZONE --at TIME [--site zones.yaml] [--people FILE] [--all]\n"
         "                                  who could enter ZONE at TIME, and on which conditions\n"
         "  help                            show this text\n"
         "\n"
         "exit status: 0 success, 1 check or test failed, 2 usage error\n"
         "reference: docs/cli.md\n";
}

}  // namespace zonegate::cli
