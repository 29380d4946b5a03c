#include "banger/cli/completion.hpp"

#include <optional>

#include "banger/api/signal.hpp"

namespace banger::cli {
namespace {

// What a flag's value or a positional completes to.
enum class ValueKind {
  none,
  vms,
  images,
  kernels,
  kernel_catalog,
  vmm,
  signals,
  shells,
  files,
  dirs
};

struct ValueRule {
  std::string_view command;  // the command path ("image register"); "" for every command
  std::string_view name;     // "--kernel" for a flag, the bare name ("vm") for a positional
  ValueKind kind;
};

// The one place that says what values complete. Command-specific rules come first: the first
// match wins. New commands get VM names for a positional named `vm`/`vms`, image names for
// `--image` and so on without an entry here.
constexpr ValueRule kValueRules[] = {
    {"image register", "--kernel", ValueKind::files},  // a vmlinux file, not a stored kernel
    {"image register", "--rootfs", ValueKind::files},
    {"image register", "--initrd", ValueKind::files},
    {"kernel import", "--from", ValueKind::dirs},
    {"kernel import", "target", ValueKind::files},  // a bundle (or, with --from, a new name)
    {"image import", "bundle", ValueKind::files},
    {"kernel bundle", "kernel", ValueKind::kernels},
    {"kernel pull", "name", ValueKind::kernel_catalog},
    {"kernel build", "--from", ValueKind::files},
    {"kernel build", "--config", ValueKind::files},
    {"kernel show", "name", ValueKind::kernels},
    {"kernel rm", "name", ValueKind::kernels},
    {"completion", "shell", ValueKind::shells},
    {"", "--image", ValueKind::images},
    {"", "--kernel", ValueKind::kernels},
    {"", "--kernel-ref", ValueKind::kernels},
    {"", "--vmm", ValueKind::vmm},
    {"", "--signal", ValueKind::signals},
    {"", "--output", ValueKind::files},
    {"", "--catalog", ValueKind::files},
    {"", "vm", ValueKind::vms},
    {"", "vms", ValueKind::vms},
    {"", "image", ValueKind::images},
    {"", "path", ValueKind::dirs},
};

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// "--kernel" for a flag (its first long name, else its first short one), "vm" for a positional.
std::string rule_name(const CLI::Option& option) {
  if (!option.get_lnames().empty()) {
    return "--" + option.get_lnames().front();
  }
  if (!option.get_snames().empty()) {
    return "-" + option.get_snames().front();
  }
  return option.get_name(/*positional=*/true);
}

ValueKind value_kind(const std::string& command, const CLI::Option& option) {
  const std::string name = rule_name(option);
  for (const auto& rule : kValueRules) {
    if ((rule.command.empty() || rule.command == command) && rule.name == name) {
      return rule.kind;
    }
  }
  return ValueKind::none;
}

bool takes_value(const CLI::Option& option) { return option.get_type_size_max() > 0; }

bool visible(const CLI::App& app) { return !app.get_group().empty(); }

// The flag of app that word (without any "=value") names, or nullptr.
const CLI::Option* find_flag(const CLI::App& app, const std::string& word) {
  const std::string name = word.substr(0, word.find('='));
  for (const CLI::Option* option : app.get_options()) {
    if (option->nonpositional() && option->check_name(name)) {
      return option;
    }
  }
  return nullptr;
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& word) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->check_name(word)) {
      return sub;
    }
  }
  return nullptr;
}

// The positional that the index-th positional word (0-based) fills, or nullptr past the last.
const CLI::Option* positional_at(const CLI::App& app, std::size_t index) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->nonpositional()) {
      continue;
    }
    const int max = option->get_items_expected_max();
    if (max <= 0 || index < static_cast<std::size_t>(max)) {
      return option;
    }
    index -= static_cast<std::size_t>(max);
  }
  return nullptr;
}

// Where the walk over the words before the current one ended.
struct Position {
  const CLI::App* app = nullptr;
  std::string command;  // "vm workspace show"
  std::size_t positionals = 0;
  bool after_separator = false;
  const CLI::Option* pending = nullptr;  // the flag whose value the current word is
};

Position walk(const CLI::App& root, const std::vector<std::string>& words) {
  Position at{.app = &root};
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& word = words[i];
    if (at.after_separator) {
      break;
    }
    if (at.pending != nullptr) {
      at.pending = nullptr;
    } else if (word == "--") {
      at.after_separator = true;
    } else if (word.size() > 1 && word[0] == '-') {
      const CLI::Option* flag = find_flag(*at.app, word);
      if (flag != nullptr && takes_value(*flag) && word.find('=') == std::string::npos) {
        at.pending = flag;
      }
    } else if (const CLI::App* sub = at.positionals == 0 ? find_subcommand(*at.app, word) : nullptr;
               sub != nullptr) {
      at.app = sub;
      at.command += (at.command.empty() ? "" : " ") + sub->get_name();
      at.positionals = 0;
    } else {
      ++at.positionals;
    }
  }
  return at;
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\t' || c == '\r') {
      c = ' ';
    }
  }
  return text;
}

// Adds the values of kind that start with current, each prefixed with prefix ("--vmm=").
void add_values(Completion& out, ValueKind kind, const std::string& prefix,
                const std::string& current, const NameSource& names) {
  auto add = [&](std::string value, std::string description) {
    if (starts_with(value, current)) {
      out.candidates.push_back({prefix + value, one_line(std::move(description))});
    }
  };
  auto add_live = [&](NameKind name_kind) {
    if (names) {
      for (auto& candidate : names(name_kind)) {
        add(std::move(candidate.value), std::move(candidate.description));
      }
    }
  };
  switch (kind) {
    case ValueKind::none:
      return;
    case ValueKind::vms:
      return add_live(NameKind::vms);
    case ValueKind::images:
      return add_live(NameKind::images);
    case ValueKind::kernels:
      return add_live(NameKind::kernels);
    case ValueKind::kernel_catalog:
      return add_live(NameKind::kernel_catalog);
    case ValueKind::vmm:
      add("auto", "firecracker if found, else qemu");
      add("qemu", "QEMU microvm");
      add("firecracker", "Firecracker");
      return;
    case ValueKind::signals:
      for (const auto& signal : api::signal_names()) {
        add(std::string(signal.name), "signal " + std::to_string(signal.number));
      }
      // "TERM" is accepted too: offer the short spelling once the user started typing one.
      if (!current.empty() && !starts_with("SIG", current.substr(0, 3))) {
        for (const auto& signal : api::signal_names()) {
          add(std::string(signal.name.substr(3)), "signal " + std::to_string(signal.number));
        }
      }
      return;
    case ValueKind::shells:
      add("bash", "");
      add("zsh", "");
      add("fish", "");
      return;
    case ValueKind::files:
      out.fallback = Fallback::files;
      return;
    case ValueKind::dirs:
      out.fallback = Fallback::dirs;
      return;
  }
}

void add_flags(Completion& out, const CLI::App& app, const std::string& current) {
  for (const CLI::Option* option : app.get_options()) {
    if (!option->nonpositional() || option->get_group().empty()) {
      continue;
    }
    std::vector<std::string> spellings;
    for (const auto& name : option->get_lnames()) {
      spellings.push_back("--" + name);
    }
    if (spellings.empty()) {
      for (const auto& name : option->get_snames()) {
        spellings.push_back("-" + name);
      }
    }
    for (const auto& spelling : spellings) {
      if (starts_with(spelling, current)) {
        out.candidates.push_back({spelling, one_line(option->get_description())});
      }
    }
  }
}

void add_subcommands(Completion& out, const CLI::App& app, const std::string& current) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (!visible(*sub)) {
      continue;
    }
    std::vector<std::string> names{sub->get_name()};
    names.insert(names.end(), sub->get_aliases().begin(), sub->get_aliases().end());
    for (const auto& name : names) {
      if (starts_with(name, current)) {
        out.candidates.push_back({name, one_line(sub->get_description())});
      }
    }
  }
}

}  // namespace

Completion complete(const CLI::App& root, const std::vector<std::string>& words,
                    const NameSource& names) {
  Completion out;
  const std::string current = words.empty() ? "" : words.back();
  const Position at = walk(root, words);
  if (at.pending != nullptr) {
    add_values(out, value_kind(at.command, *at.pending), "", current, names);
    return out;
  }
  if (at.after_separator) {
    return out;  // the guest command of `vm run ... -- cmd` / `vm exec vm -- cmd`
  }
  if (starts_with(current, "-")) {
    if (auto eq = current.find('='); eq != std::string::npos && starts_with(current, "--")) {
      if (const CLI::Option* flag = find_flag(*at.app, current); flag != nullptr) {
        add_values(out, value_kind(at.command, *flag), current.substr(0, eq + 1),
                   current.substr(eq + 1), names);
      }
      return out;
    }
    add_flags(out, *at.app, current);
    return out;
  }
  if (at.positionals == 0) {
    add_subcommands(out, *at.app, current);
  }
  if (const CLI::Option* positional = positional_at(*at.app, at.positionals)) {
    add_values(out, value_kind(at.command, *positional), "", current, names);
  }
  return out;
}

std::string render_completion(const Completion& completion) {
  std::string text;
  for (const auto& candidate : completion.candidates) {
    text += one_line(candidate.value);
    if (!candidate.description.empty()) {
      text += "\t" + one_line(candidate.description);
    }
    text += "\n";
  }
  if (completion.fallback == Fallback::files) {
    text += ":files\n";
  } else if (completion.fallback == Fallback::dirs) {
    text += ":dirs\n";
  }
  return text;
}

}  // namespace banger::cli
