#include "util/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <limits>
#include <map>

#include "util/errno_text.h"
#include "util/fd.h"

namespace palisade::yaml {

namespace {

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// "a", "a or b", "a, b or c".
std::string joinChoices(const std::vector<std::string_view>& words) {
    std::string out;
    for (size_t i = 0; i < words.size(); ++i) {
        if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
        out += words[i];
    }
    return out;
}

size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t above = row[j];
            bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// An abbreviation ("proto", "maxSize") is as likely a slip as a one-letter typo.
size_t misspelling(std::string_view key, std::string_view candidate) {
    if (key.size() >= 3 && key.size() < candidate.size() &&
        equalsIgnoreCase(key, candidate.substr(0, key.size()))) {
        return 1;
    }
    return editDistance(key, candidate);
}

// The known key a misspelt one most likely meant, if any is close enough.
std::optional<std::string_view> closest(std::string_view key,
                                        std::initializer_list<std::string_view> known) {
    std::optional<std::string_view> best;
    size_t bestDistance = 3;  // more than two edits away is a different word
    for (auto candidate : known) {
        size_t distance = misspelling(key, candidate);
        if (distance < bestDistance) {
            best = candidate;
            bestDistance = distance;
        }
    }
    return best;
}

std::string where(const std::string& path) {
    return path.empty() ? "at the top level" : "in " + path;
}

std::string childPath(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b, [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

std::string describe(const Node& node) {
    switch (node.type()) {
        case NodeType::Map:
            return "a map";
        case NodeType::Sequence:
            return "a list";
        case NodeType::Scalar:
            return quote(node.scalar());
        case NodeType::Null:
            break;
    }
    return "empty";
}

Reader::Reader(std::string file, Diagnostics& out)
    : file_(std::move(file)), out_(out), firstError_(out.size()) {}

SourceLocation Reader::at(const Node& node) const { return at(node.line(), node.column()); }

SourceLocation Reader::at(uint32_t line, uint32_t column) const {
    return {file_, static_cast<int>(line), static_cast<int>(column)};
}

void Reader::error(const Node& node, std::string message) { error(at(node), std::move(message)); }

void Reader::error(SourceLocation where, std::string message) {
    out_.push_back({std::move(where), std::move(message)});
}

void Reader::sortErrors() {
    std::stable_sort(out_.begin() + static_cast<std::ptrdiff_t>(firstError_), out_.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                         return std::pair(a.where.line, a.where.column) <
                                std::pair(b.where.line, b.where.column);
                     });
}

std::vector<Node> Reader::loadAll(const std::string& text) {
    const Documents& documents = *documents_.emplace_back(std::make_unique<Documents>(text));
    if (const auto& e = documents.error()) {
        error({file_, static_cast<int>(e->line), static_cast<int>(e->column)},
              "YAML syntax error: " + e->message);
    }
    return documents.roots();
}

// A key written with nothing after it is almost always a mistake (a value on
// the wrong line, a list left empty by an edit), so it is reported rather than
// read as "absent".
bool Reader::hasValue(const Field& f) {
    if (!f.value.isNull()) return true;
    error(f.key, f.path + " has no value");
    return false;
}

bool Reader::isMap(const Field& f) {
    if (!hasValue(f)) return false;
    if (f.value.isMap()) return true;
    error(f.value, f.path + " must be a map, not " + describe(f.value));
    return false;
}

bool Reader::isList(const Field& f) {
    if (!hasValue(f)) return false;
    if (f.value.isSequence()) return true;
    error(f.value, f.path + " must be a list, not " + describe(f.value));
    return false;
}

std::vector<Field> Reader::items(const Field& list) const {
    std::vector<Field> out;
    out.reserve(list.value.size());
    forEachItem(list, [&](const Field& item) { out.push_back(item); });
    return out;
}

std::optional<std::string> Reader::string(const Field& f) {
    if (!hasValue(f)) return std::nullopt;
    if (f.value.isScalar()) return f.value.scalar();
    error(f.value, f.path + " must be a string, not " + describe(f.value));
    return std::nullopt;
}

std::optional<int64_t> Reader::integer(const Field& f) {
    if (!hasValue(f)) return std::nullopt;
    if (f.value.isScalar() && f.value.quoted()) {
        error(f.value, f.path + " must be an integer, not the string " + describe(f.value) +
                           " (remove the quotes)");
        return std::nullopt;
    }
    const std::string& text = f.value.scalar();
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || end != text.data() + text.size()) {
        error(f.value, f.path + " must be an integer, not " + describe(f.value));
        return std::nullopt;
    }
    if (ec == std::errc::result_out_of_range) {
        return text.starts_with('-') ? std::numeric_limits<int64_t>::min()
                                     : std::numeric_limits<int64_t>::max();
    }
    return value;
}

std::optional<bool> Reader::boolean(const Field& f) {
    if (!hasValue(f)) return std::nullopt;
    // YAML 1.2 booleans only: "yes"/"on" are YAML 1.1 surprises (the Norway problem).
    if (f.value.isScalar() && !f.value.quoted()) {
        const std::string& text = f.value.scalar();
        if (text == "true" || text == "True" || text == "TRUE") return true;
        if (text == "false" || text == "False" || text == "FALSE") return false;
    }
    error(f.value, f.path + " must be true or false, not " + describe(f.value));
    return std::nullopt;
}

void Reader::reportChoices(const Field& f, const std::vector<std::string_view>& words) {
    error(f.value, f.path + " must be " + joinChoices(words) + ", not " + describe(f.value));
}

MapView::MapView(Reader& reader, const Field& map) : reader_(reader), map_(map) {
    std::map<std::string, Node> seen;
    for (size_t i = 0; i < map.value.size(); i++) {
        const Node key = map.value.key(i);
        if (!key.isScalar()) {
            reader_.error(key,
                          "a key " + where(map.path) + " must be a string, not " + describe(key));
            continue;
        }
        auto [first, inserted] = seen.emplace(key.scalar(), key);
        if (!inserted) {
            reader_.error(key, "duplicate key " + quote(key.scalar()) + " " + where(map.path) +
                                   " (first at line " +
                                   std::to_string(reader_.at(first->second).line) + ")");
            continue;
        }
        fields_.push_back({key, map.value.value(i), childPath(map.path, key.scalar())});
    }
}

void MapView::allowOnly(std::initializer_list<std::string_view> known) {
    for (const Field& f : fields_) {
        const std::string& key = f.key.scalar();
        if (std::ranges::find(known, key) != known.end()) continue;
        std::string message = "unknown key " + quote(key) + " " + where(map_.path);
        if (auto suggestion = closest(key, known)) {
            message += " (did you mean " + quote(*suggestion) + "?)";
        } else {
            message += " (expected " + joinChoices({known.begin(), known.end()}) + ")";
        }
        reader_.error(f.key, message);
    }
}

std::optional<Field> MapView::get(std::string_view key) const {
    auto found =
        std::ranges::find_if(fields_, [&](const Field& f) { return f.key.scalar() == key; });
    if (found == fields_.end()) return std::nullopt;
    return *found;
}

std::optional<Field> MapView::require(std::string_view key) {
    auto found = get(key);
    if (!found) reader_.error(map_.value, childPath(map_.path, std::string(key)) + " is required");
    return found;
}

std::optional<std::string> readSource(const std::string& path, Diagnostics& out) {
    const FilePtr file(std::fopen(path.c_str(), "rb"));
    if (!file) {
        const int err = errno;
        out.push_back({{path, 0, 0}, "cannot open: " + errnoText(err)});
        return std::nullopt;
    }
    std::string text;
    char buffer[65536];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, n);
    if (std::ferror(file.get())) {
        const int err = errno;
        out.push_back({{path, 0, 0}, "cannot read: " + errnoText(err)});
        return std::nullopt;
    }
    return text;
}

}  // namespace palisade::yaml
