#include "banger/model/image.hpp"

#include "banger/model/name_rules.hpp"

namespace banger::model {

std::string_view to_string(InitFlavour flavour) {
  switch (flavour) {
    case InitFlavour::systemd:
      return "systemd";
    case InitFlavour::busybox:
      return "busybox";
  }
  return "unknown";
}

Expected<InitFlavour> parse_init_flavour(std::string_view text) {
  if (text == "systemd") {
    return InitFlavour::systemd;
  }
  if (text == "busybox") {
    return InitFlavour::busybox;
  }
  return fail(Errc::invalid_argument,
              "unknown init flavour \"" + std::string(text) + "\": use systemd or busybox");
}

Status validate_image_name(std::string_view name) {
  constexpr std::string_view kStaging = ".staging";
  if (!detail::is_safe_file_name(name, kMaxImageNameLength)) {
    return fail(Errc::invalid_argument,
                "invalid image name \"" + std::string(name) +
                    "\": use 1-64 characters: letters, digits, '.', '_' and '-', other than "
                    "\".\" and \"..\"");
  }
  if (name.size() >= kStaging.size() && name.substr(name.size() - kStaging.size()) == kStaging) {
    return fail(Errc::invalid_argument,
                "invalid image name \"" + std::string(name) +
                    "\": names ending in \".staging\" are reserved for images being published");
  }
  return {};
}

}  // namespace banger::model
