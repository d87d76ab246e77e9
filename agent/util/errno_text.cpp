#include "util/errno_text.h"

#include <system_error>

namespace palisade {

std::string errnoText(int err) { return std::generic_category().message(err < 0 ? -err : err); }

}  // namespace palisade
