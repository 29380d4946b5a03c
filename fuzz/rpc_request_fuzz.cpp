// clang-format off
// FUZZ_SOURCES: src/banger/api/errors.cpp src/banger/base/error.cpp src/banger/posix/error.cpp src/banger/agentproto/base64.cpp
// clang-format on
// The daemon's request decoder on hostile input (security review T3): arbitrary bytes as one
// request line through api::parse_request, then the params through the typed decoder of every
// method's Request (not only the named method's: a handler sees whatever the line's params
// are), a decoded request must encode and decode again, and the same line through the client's
// parse_reply and every Response decoder. Nothing may crash, hang or leak.
//
// json_codec.cpp and protocol.cpp use fmt, which the fuzzer build (no CMake, see
// tools/run_fuzzer.sh) has only as headers: they are compiled into this file header-only.
#define FMT_HEADER_ONLY 1
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "banger/api/daemon.hpp"
#include "banger/api/image.hpp"
#include "banger/api/json_codec.cpp"  // NOLINT(bugprone-suspicious-include): see above
#include "banger/api/kernel.hpp"
#include "banger/api/protocol.cpp"  // NOLINT(bugprone-suspicious-include): see above
#include "banger/api/vm.hpp"

namespace {

using namespace banger::api;

template <class T>
void decode_round_trip(const nlohmann::json& params, std::string_view path) {
  auto decoded = from_json_value<T>(params, path);
  if (!decoded) {
    if (decoded.error().message.empty()) {
      __builtin_trap();  // every refusal names what is wrong
    }
    return;
  }
  auto again = from_json_value<T>(to_json_value(*decoded), path);
  if (!again || to_json_value(*again) != to_json_value(*decoded)) {
    __builtin_trap();  // what the decoder accepts, the encoder must reproduce
  }
}

template <class... M>
struct Methods {
  static void requests(const nlohmann::json& params) {
    (decode_round_trip<typename M::Request>(params, "params"), ...);
  }
  static void responses(const nlohmann::json& result) {
    (decode_round_trip<typename M::Response>(result, "result"), ...);
  }
};

using All = Methods<Ping, Version, Shutdown, Doctor, SshConfig, ImageBuild, ImageRegister,
                    ImagePromote, ImageList, ImageShow, ImageDelete, KernelList, KernelCatalog,
                    KernelShow, KernelPull, KernelImport, KernelDelete, VmCreate, VmList, VmShow,
                    VmDelete, VmStart, VmStop, VmRestart, VmKill, VmPrune, VmSet, VmLogs, VmSshInfo,
                    VmHealth, VmPorts, VmStatsMethod, VmExec>;

}  // namespace

namespace {

void exercise_line(std::string_view line) {
  auto request = parse_request(line);
  if (request) {
    All::requests(request->params);
    (void)encode_request(request->id, request->method, request->params);
  } else if (request.error().error.message.empty()) {
    __builtin_trap();
  }
  if (auto reply = parse_reply(line); reply && reply->kind == Reply::Kind::result) {
    All::responses(reply->result);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The input as a whole line, and as the params (and result) of a well-formed envelope, so the
  // fuzzer reaches the typed decoders without first having to invent the envelope.
  exercise_line(input);
  std::string wrapped = R"({"v":1,"id":7,"method":"vm.create","params":)";
  wrapped.append(input);
  wrapped += "}";
  exercise_line(wrapped);
  std::string reply = R"({"id":7,"result":)";
  reply.append(input);
  reply += "}";
  exercise_line(reply);
  return 0;
}
