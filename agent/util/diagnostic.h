// Source locations and diagnostics: every problem with user input is reported
// as "FILE:LINE:COL: message" (1-based line and column).
#pragma once

#include <string>
#include <vector>

namespace palisade {

struct SourceLocation {
    std::string file;
    int line = 0;    // 1-based; 0 = unknown
    int column = 0;  // 1-based; 0 = unknown
};

struct Diagnostic {
    SourceLocation where;
    std::string message;

    // "FILE:LINE:COL: message" (or "FILE: message" when the position is unknown).
    std::string str() const;
};

using Diagnostics = std::vector<Diagnostic>;

}  // namespace palisade
