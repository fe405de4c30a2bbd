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
         "\n"
         "daemon (control socket <state-dir>/control.sock):\n"
         "  status [--json]                 doors, zones and who is in them, alarms, readers\n"
         "  sim tap PERSON|UID DOOR in|out [--kind uid|desfire] [--auth-failed]\n"
         "  sim gate GATE clear|alarm | sim door DOOR open|closed | sim rex DOOR\n"
         "  sim fire on|off | sim tamper ID on|off | sim reader READER online|offline\n"
         "  guard ack ALARM_ID [--note TEXT]\n"
         "  guard release (--person P | --door D) [--note TEXT]\n"
         "  guard forgive --person P [--zone Z] [--note TEXT]\n"
         "  guard lockdown|lift [--zone Z] [--note TEXT]\n"
         "  guard unlock --door D --note REASON\n"
         "  reload                          make zonegated re-read its configuration\n"
         "\n"
         "badges (<state-dir>/credentials.db; every change is recorded in the audit trail):\n"
         "  badge add UID --person P [--name TEXT] --roles r1,r2 [--kind uid|desfire]\n"
         "            [--valid-from TIME] [--valid-until TIME]\n"
         "  badge revoke UID | badge list [--person P] [--json] | badge import FILE.csv\n"
         "\n"
         "audit trail (<state-dir>/audit.db):\n"
         "  audit tail [-n N] | audit verify\n"
         "  audit query [--person P] [--zone Z] [--door D] [--decision grant|deny|pending]\n"
         "              [--reason R] [--kind K] [--from TIME] [--to TIME] [--limit N]\n"
         "  audit export --format csv|jsonl [filters as for query] [--out FILE]\n"
         "\n"
         "  common options: --state-dir DIR (default /var/lib/zonegate); badge and audit also\n"
         "  --config zones.yaml (default /etc/zonegate/zones.yaml) and --gateway ID\n"
         "  help                            show this text\n"
         "\n"
         "exit status: 0 success, 1 check or test failed, 2 usage error\n"
         "reference: docs/cli.md\n";
}

}  // namespace zonegate::cli
