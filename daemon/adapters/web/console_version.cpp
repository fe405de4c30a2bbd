// SPDX-License-Identifier: Apache-2.0
// Version of the console's JSON API, served at /api/v1/ and checked by the page.
namespace zonegate::adapters::web {
extern const char* const kApiVersion;
const char* const kApiVersion = "v1";
}  // namespace zonegate::adapters::web
