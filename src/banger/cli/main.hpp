// banger's entry point.
#pragma once

namespace banger::cli {

// Exit codes (SPEC S16): 0 ok, 1 operation failed, 2 usage error, 3 daemon unreachable.
int main(int argc, char** argv);

}  // namespace banger::cli
