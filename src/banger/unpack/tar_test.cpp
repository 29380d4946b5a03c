#include "banger/unpack/tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "banger/testkit/temp_dir.hpp"

namespace banger::unpack {
namespace {

namespace fs = std::filesystem;

struct TarEntry {
  std::string path;
  char type = 'f';  // f file, d directory, l symlink, h hard link
  std::string content_or_link;
  int mode = 0644;
};

// Writes a gzip-compressed pax tar with the given entries, in order.
std::string write_tar(const std::string& path, const std::vector<TarEntry>& entries) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  EXPECT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, e.mode);
    archive_entry_set_mtime(entry, 1700000000, 0);
    if (e.type == 'f') {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_size(entry, static_cast<la_int64_t>(e.content_or_link.size()));
    } else if (e.type == 'd') {
      archive_entry_set_filetype(entry, AE_IFDIR);
    } else if (e.type == 'l') {
      archive_entry_set_filetype(entry, AE_IFLNK);
      archive_entry_set_symlink(entry, e.content_or_link.c_str());
    } else {
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_hardlink(entry, e.content_or_link.c_str());
    }
    EXPECT_EQ(archive_write_header(a, entry), ARCHIVE_OK);
    if (e.type == 'f') {
      archive_write_data(a, e.content_or_link.data(), e.content_or_link.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return path;
}

std::string slurp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return "<missing>";
  }
  std::string out;
  char buffer[256];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) {
    out.append(buffer, n);
  }
  std::fclose(f);
  return out;
}

struct Fixture {
  Fixture() {
    fs::create_directories(outside());
    fs::create_directories(root());
  }
  std::string root() const { return dir.path() + "/root"; }
  std::string outside() const { return dir.path() + "/outside"; }
  Status extract(const std::vector<TarEntry>& entries, EntryHook hook = {}) {
    auto tar = write_tar(dir.path() + "/t.tar.gz", entries);
    return extract_tar_file(tar, root(), {.kind = "layer", .name = "t.tar.gz", .on_entry = hook});
  }
  testkit::TempDir dir;
};

TEST(ExtractTar, UnpacksFilesDirectoriesAndLinksWithTheirModes) {
  Fixture f;
  ASSERT_TRUE(f.extract({{"./", 'd', "", 0755},
                         {"./usr/bin/", 'd', "", 0755},
                         {"./usr/bin/tool", 'f', "#!/bin/sh\n", 0755},
                         {"./usr/bin/alias", 'l', "tool"},
                         {"./usr/bin/twin", 'h', "./usr/bin/tool"},
                         {"etc/motd", 'f', "hi"}}));
  EXPECT_EQ(slurp(f.root() + "/usr/bin/tool"), "#!/bin/sh\n");
  EXPECT_EQ(fs::status(f.root() + "/usr/bin/tool").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
  EXPECT_EQ(fs::read_symlink(f.root() + "/usr/bin/alias"), "tool");
  EXPECT_TRUE(fs::equivalent(f.root() + "/usr/bin/twin", f.root() + "/usr/bin/tool"));
  EXPECT_EQ(slurp(f.root() + "/etc/motd"), "hi");
}

TEST(ExtractTar, RefusesDotDotEscapes) {
  Fixture f;
  auto result = f.extract({{"./ok", 'f', "x"}, {"./a/../../outside/pwned", 'f', "x"}});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::invalid_argument);
  EXPECT_EQ(result.error().message,
            "unsafe path ./a/../../outside/pwned in layer t.tar.gz: entries must stay inside "
            "the layer root");
  EXPECT_FALSE(fs::exists(f.outside() + "/pwned"));
}

TEST(ExtractTar, RefusesAbsolutePaths) {
  Fixture f;
  std::string target = f.outside() + "/abs";
  auto result = f.extract({{target, 'f', "x"}});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::invalid_argument);
  EXPECT_FALSE(fs::exists(target));
}

TEST(ExtractTar, NeverWritesThroughASymlinkItCreated) {
  Fixture f;
  auto result = f.extract({{"evil", 'l', f.outside()}, {"evil/pwned", 'f', "x"}});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::io);
  EXPECT_FALSE(fs::exists(f.outside() + "/pwned"));
}

TEST(ExtractTar, AFileReplacesASymlinkOfTheSameNameInsteadOfFollowingIt) {
  Fixture f;
  ASSERT_TRUE(f.extract({{"conf", 'l', f.outside() + "/target"}, {"conf", 'f', "mine"}}));
  EXPECT_FALSE(fs::exists(f.outside() + "/target"));
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(f.root() + "/conf")));
  EXPECT_EQ(slurp(f.root() + "/conf"), "mine");
}

TEST(ExtractTar, RefusesHardLinksToOutside) {
  Fixture f;
  std::ofstream(f.outside() + "/secret") << "secret";
  for (const std::string& link : {std::string("../outside/secret"), f.outside() + "/secret"}) {
    auto result = f.extract({{"grab", 'h', link}});
    ASSERT_FALSE(result) << link;
    EXPECT_EQ(result.error().code, Errc::invalid_argument);
    EXPECT_EQ(result.error().message,
              "unsafe hard link grab -> " + link +
                  " in layer t.tar.gz: links must stay inside the layer root");
  }
  EXPECT_FALSE(fs::exists(f.root() + "/grab"));
}

TEST(ExtractTar, RefusesHardLinksThroughASymlink) {
  Fixture f;
  std::ofstream(f.outside() + "/secret") << "secret";
  auto result = f.extract({{"door", 'l', f.outside()}, {"grab", 'h', "door/secret"}});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::invalid_argument);
  EXPECT_FALSE(fs::exists(f.root() + "/grab"));
  EXPECT_EQ(fs::hard_link_count(f.outside() + "/secret"), 1u);
}

TEST(ExtractTar, HookSeesNormalizedEntriesAndCanSkipOrEditTheTree) {
  // A whiteout-style hook: ".wh.<x>" deletes <x> and is itself not extracted.
  Fixture f;
  std::vector<std::string> seen;
  auto hook = [&](const Entry& entry, const std::string& root) -> Expected<EntryAction> {
    seen.push_back(entry.path);
    auto name = fs::path(entry.path).filename().string();
    if (name.starts_with(".wh.")) {
      fs::remove(fs::path(root) / fs::path(entry.path).parent_path() / name.substr(4));
      return EntryAction::skip;
    }
    return EntryAction::extract;
  };
  ASSERT_TRUE(f.extract({{"./etc/", 'd', "", 0755},
                         {"./etc/old", 'f', "old"},
                         {"./etc/keep", 'f', "keep"},
                         {"./etc/.wh.old", 'f', ""}},
                        hook));
  EXPECT_EQ(seen, (std::vector<std::string>{"etc", "etc/old", "etc/keep", "etc/.wh.old"}));
  EXPECT_FALSE(fs::exists(f.root() + "/etc/old"));
  EXPECT_FALSE(fs::exists(f.root() + "/etc/.wh.old"));
  EXPECT_EQ(slurp(f.root() + "/etc/keep"), "keep");
}

TEST(ExtractTar, HookErrorsStopTheExtraction) {
  Fixture f;
  auto hook = [](const Entry& entry, const std::string&) -> Expected<EntryAction> {
    if (entry.path == "b") {
      return fail(Errc::invalid_argument, "no b allowed");
    }
    return EntryAction::extract;
  };
  auto result = f.extract({{"a", 'f', "a"}, {"b", 'f', "b"}, {"c", 'f', "c"}}, hook);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "no b allowed");
  EXPECT_TRUE(fs::exists(f.root() + "/a"));
  EXPECT_FALSE(fs::exists(f.root() + "/c"));
}

TEST(ExtractTar, TruncatedAndMissingArchives) {
  Fixture f;
  auto tar = write_tar(f.dir.path() + "/t.tar.gz", {{"big", 'f', std::string(100000, 'x')}});
  fs::resize_file(tar, fs::file_size(tar) / 2);
  auto truncated = extract_tar_file(tar, f.root(), {.kind = "layer", .name = "t.tar.gz"});
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, Errc::invalid_argument);
  EXPECT_EQ(truncated.error().message.rfind("corrupt layer t.tar.gz: ", 0), 0u)
      << truncated.error().message;
  auto missing = extract_tar_file(f.dir.path() + "/nope.tar", f.root(), {.kind = "layer"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST(ReadTar, VisitsNormalizedEntriesWithTheirDataAndWritesNothing) {
  Fixture f;
  auto tar = write_tar(f.dir.path() + "/t.tar.gz", {{"./", 'd', "", 0755},
                                                    {"./usr/bin/tool", 'f', "#!/bin/sh\n", 0755},
                                                    {"./usr/bin/twin", 'h', "./usr/bin/tool"},
                                                    {"skipped", 'f', std::string(70000, 's')},
                                                    {"etc/motd", 'f', "hi"}});
  std::vector<std::string> seen;
  std::string data;
  auto read = read_tar_file(
      tar, {.kind = "layer", .name = "t.tar.gz"},
      [&](const Entry& entry, const DataReader& read_data) -> Status {
        seen.push_back(entry.path + ":" + std::to_string(entry.size) + ":" + entry.link);
        if (entry.path == "skipped") {
          return {};  // data not read is skipped
        }
        return read_data([&](const void* block, std::size_t size) {
          data.append(static_cast<const char*>(block), size);
          return Status{};
        });
      });
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(seen, (std::vector<std::string>{"usr/bin/tool:10:", "usr/bin/twin:0:usr/bin/tool",
                                            "skipped:70000:", "etc/motd:2:"}));
  EXPECT_EQ(data, "#!/bin/sh\nhi");
  EXPECT_TRUE(fs::is_empty(f.root()));
}

TEST(ReadTar, RefusesEscapesAndCorruptDataAndStopsOnTheVisitorsError) {
  Fixture f;
  auto visit_all = [](const Entry&, const DataReader& read_data) {
    return read_data([](const void*, std::size_t) { return Status{}; });
  };
  for (const auto& [entries, expect] : std::vector<std::pair<std::vector<TarEntry>, std::string>>{
           {{{"../evil", 'f', "x"}}, "unsafe path ../evil in layer t.tar.gz"},
           {{{"/abs", 'f', "x"}}, "unsafe path /abs in layer t.tar.gz"},
           {{{"a", 'f', "x"}, {"b", 'h', "../a"}},
            "unsafe hard link b -> ../a in layer t.tar.gz"}}) {
    auto tar = write_tar(f.dir.path() + "/t.tar.gz", entries);
    auto read = read_tar_file(tar, {.kind = "layer", .name = "t.tar.gz"}, visit_all);
    ASSERT_FALSE(read) << expect;
    EXPECT_EQ(read.error().code, Errc::invalid_argument);
    EXPECT_NE(read.error().message.find(expect), std::string::npos) << read.error().message;
  }
  auto tar = write_tar(f.dir.path() + "/t.tar.gz", {{"big", 'f', std::string(100000, 'x')}});
  fs::resize_file(tar, fs::file_size(tar) / 2);
  auto truncated = read_tar_file(tar, {.kind = "layer", .name = "t.tar.gz"}, visit_all);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().message.rfind("corrupt layer t.tar.gz: ", 0), 0u)
      << truncated.error().message;
  tar = write_tar(f.dir.path() + "/t.tar.gz", {{"a", 'f', "x"}, {"b", 'f', "y"}});
  int visited = 0;
  auto stopped = read_tar_file(tar, {.kind = "layer", .name = "t.tar.gz"},
                               [&](const Entry&, const DataReader&) -> Status {
                                 ++visited;
                                 return fail(Errc::cancelled, "stop");
                               });
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, Errc::cancelled);
  EXPECT_EQ(visited, 1);
  EXPECT_EQ(read_tar_file(f.dir.path() + "/nope.tar", {.kind = "layer"}, visit_all).error().code,
            Errc::not_found);
}

}  // namespace
}  // namespace banger::unpack
