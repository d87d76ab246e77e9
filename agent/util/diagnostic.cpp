#include "util/diagnostic.h"

namespace palisade {

std::string Diagnostic::str() const {
    std::string out = where.file.empty() ? "<input>" : where.file;
    if (where.line > 0) {
        out += ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
    }
    return out + ": " + message;
}

}  // namespace palisade
