// Reads the node configuration (docs/reference/configuration.md).
#pragma once

#include <string>

#include "config/config.h"
#include "util/diagnostic.h"

namespace palisade {

// Parses YAML text over the built-in defaults. Unknown keys and wrong types are
// diagnostics with file:line:col; on any error the returned Config is the defaults.
Config parseConfigText(const std::string& text, const std::string& path, Diagnostics& errors);

// Reads a file; a missing file is an error here (the CLI decides when a missing
// default config falls back to built-in defaults).
Config loadConfigFile(const std::string& path, Diagnostics& errors);

}  // namespace palisade
