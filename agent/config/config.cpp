#include "config/config.h"

namespace palisade {

Config::Config() {
    std::string error;
    // RFC 6052's well-known prefix, the one DNS64 resolvers use unless told otherwise.
    defaults.nat64Prefix = *parseCidr("64:ff9b::/96", error);
}

}  // namespace palisade
