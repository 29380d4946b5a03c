#include "banger/rpc/doc_check.hpp"

#include <gtest/gtest.h>

#include "banger/api/daemon.hpp"
#include "banger/api/vm.hpp"
#include "banger/rpc/registry.hpp"
#include "banger/sys/fs.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::rpc {
namespace {

// A handler that is never called: the registry is only asked for its method names.
template <class M>
void add_stub(Registry& registry) {
  registry.add<M>([](const typename M::Request&, CallContext&) -> Expected<typename M::Response> {
    return typename M::Response{};
  });
}

TEST(DocCheck, EveryApiMethodHasAHeadingInRpcMd) {
  base::Mt19937Random random(1);
  Registry registry(random);
  add_stub<api::Ping>(registry);
  add_stub<api::Version>(registry);
  add_stub<api::Shutdown>(registry);
  add_stub<api::Doctor>(registry);
  add_stub<api::VmCreate>(registry);
  add_stub<api::VmList>(registry);
  add_stub<api::VmShow>(registry);
  add_stub<api::VmDelete>(registry);
  auto status =
      check_methods_documented(registry.methods(), std::string(BANGER_SOURCE_DIR) + "/docs/rpc.md");
  EXPECT_TRUE(status) << status.error().message;
}

TEST(DocCheck, NamesEveryUndocumentedMethod) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/rpc.md";
  ASSERT_TRUE(sys::write_file_atomic(path,
                                     "# rpc\n## Methods\n### `ping`\ntext `vm.show`\n"
                                     "### `vm.list` (old)\n  ### `version`  \n"));
  EXPECT_TRUE(check_methods_documented({"ping", "version"}, path));
  auto status = check_methods_documented({"ping", "vm.show", "vm.list"}, path);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::not_found);
  EXPECT_EQ(status.error().message,
            path + " has no \"### `<method>`\" heading for: vm.show, vm.list");
}

TEST(DocCheck, MissingFileIsAnError) {
  testkit::TempDir dir;
  auto status = check_methods_documented({"ping"}, dir.path() + "/nope.md");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::not_found);
}

}  // namespace
}  // namespace banger::rpc
