// Reading user-written YAML (policies, node configuration) with diagnostics that
// point at the offending key or value. A YAML parser accepts duplicate keys and
// knows nothing of our schema or types, so every reader of user input goes
// through these helpers to get the same strictness and messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/diagnostic.h"
#include "util/yaml_document.h"

namespace palisade::yaml {

// A value in a document and the path that names it in messages, Kubernetes
// style: "spec.egress[0].ports[1].port".
struct Field {
    Node key;  // the key; for a list item, the item itself
    Node value;
    std::string path;
};

// "a map", "a list", "empty" or the quoted scalar: the "not ..." of a type error.
std::string describe(const Node& node);

// Collects the diagnostics of one source file. The typed accessors report a
// missing value or a wrong type themselves and then return std::nullopt/false.
class Reader {
  public:
    Reader(std::string file, Diagnostics& out);

    SourceLocation at(const Node& node) const;
    SourceLocation at(uint32_t line, uint32_t column) const;
    void error(const Node& node, std::string message);
    void error(SourceLocation where, std::string message);
    // True once anything was reported through this reader.
    bool failed() const { return out_.size() > firstError_; }
    size_t errorCount() const { return out_.size() - firstError_; }
    // Orders what this reader reported by position, so a file's problems read
    // top to bottom whatever order the checks ran in.
    void sortErrors();

    // Every document of `text`, valid as long as this reader; a syntax error is
    // one diagnostic and no document.
    std::vector<Node> loadAll(const std::string& text);

    bool isMap(const Field& f);
    bool isList(const Field& f);
    std::vector<Field> items(const Field& list) const;  // `list` must be a list
    // The same, one item at a time into `visit`, for long lists: one Field is
    // reused, so an item costs no allocation. `list` must be a list.
    template <typename Visit>
    void forEachItem(const Field& list, Visit&& visit) const {
        Field item;
        for (size_t i = 0; i < list.value.size(); i++) {
            item.key = item.value = list.value.item(i);
            item.path.assign(list.path).append("[").append(std::to_string(i)).append("]");
            visit(static_cast<const Field&>(item));
        }
    }
    std::optional<std::string> string(const Field& f);
    std::optional<int64_t> integer(const Field& f);  // saturates when out of int64 range
    std::optional<bool> boolean(const Field& f);

    // One of a fixed set of words, e.g. `mode: enforce | audit`.
    template <typename E>
    std::optional<E> oneOf(const Field& f,
                           std::initializer_list<std::pair<std::string_view, E>> choices,
                           bool ignoreCase = false);

  private:
    bool hasValue(const Field& f);
    void reportChoices(const Field& f, const std::vector<std::string_view>& words);

    std::string file_;
    Diagnostics& out_;
    size_t firstError_;
    std::vector<std::unique_ptr<Documents>> documents_;
};

// The keys of a map. Constructing one reports keys that are not strings and
// keys given twice; lookups return the first occurrence.
class MapView {
  public:
    MapView(Reader& reader, const Field& map);

    // Reports every key that is not in `known`, with a spelling suggestion.
    void allowOnly(std::initializer_list<std::string_view> known);
    std::optional<Field> get(std::string_view key) const;
    // Like get(), but reports "PATH is required" when the key is absent.
    std::optional<Field> require(std::string_view key);
    const std::vector<Field>& fields() const { return fields_; }

  private:
    Reader& reader_;
    Field map_;
    std::vector<Field> fields_;
};

// Reads a whole file; a file that cannot be read is one diagnostic.
std::optional<std::string> readSource(const std::string& path, Diagnostics& out);

bool equalsIgnoreCase(std::string_view a, std::string_view b);

template <typename E>
std::optional<E> Reader::oneOf(const Field& f,
                               std::initializer_list<std::pair<std::string_view, E>> choices,
                               bool ignoreCase) {
    auto text = string(f);
    if (!text) return std::nullopt;
    std::vector<std::string_view> words;
    for (const auto& [word, value] : choices) {
        if (ignoreCase ? equalsIgnoreCase(word, *text) : word == *text) return value;
        words.push_back(word);
    }
    reportChoices(f, words);
    return std::nullopt;
}

}  // namespace palisade::yaml
