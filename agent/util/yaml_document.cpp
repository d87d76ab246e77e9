#include "util/yaml_document.h"

#include <yaml.h>

#include <map>
#include <string_view>

namespace palisade::yaml {
namespace {

// No policy or configuration nests deeper than a dozen levels; libyaml keeps
// a simple key per open flow collection and checks them all at every token,
// so a file of 100,000 "[" took it minutes (found by tests/integration/
// robustness_test.cpp).
constexpr size_t kMaxDepth = 64;

const std::string kEmpty;

// YAML's null in the core schema: empty, ~ or null, written plain and untagged.
bool isPlainNull(const yaml_event_t& e) {
    if (e.data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !e.data.scalar.plain_implicit) {
        return false;
    }
    const std::string_view text(reinterpret_cast<const char*>(e.data.scalar.value),
                                e.data.scalar.length);
    return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

std::string anchorOf(const yaml_char_t* anchor) {
    return anchor ? reinterpret_cast<const char*>(anchor) : "";
}

struct Parser {
    yaml_parser_t parser;
    Parser() { yaml_parser_initialize(&parser); }
    ~Parser() { yaml_parser_delete(&parser); }
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;
};

struct Event {
    yaml_event_t event{};
    ~Event() { yaml_event_delete(&event); }
};

}  // namespace

const std::string& Node::scalar() const {
    return data_ && data_->type == NodeType::Scalar ? data_->scalar : kEmpty;
}

size_t Node::size() const {
    if (!data_) return 0;
    if (data_->type == NodeType::Map) return data_->children.size() / 2;
    if (data_->type == NodeType::Sequence) return data_->children.size();
    return 0;
}

Documents::Documents(const std::string& text) {
    Parser p;
    yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    std::vector<std::pair<NodeData*, std::string>> open;  // containers being read, with anchors
    std::map<std::string, const NodeData*> anchors;       // of the current document

    // A finished node goes into the container being read, or is the document.
    auto finish = [&](const NodeData* node, const std::string& anchor) {
        if (!anchor.empty()) anchors[anchor] = node;
        if (open.empty()) {
            roots_.emplace_back(node);
        } else {
            open.back().first->children.push_back(node);
        }
    };
    auto start = [&](NodeType type, const yaml_mark_t& mark) {
        NodeData& n = nodes_.emplace_back();
        n.type = type;
        n.line = static_cast<uint32_t>(mark.line + 1);
        n.column = static_cast<uint32_t>(mark.column + 1);
        return &n;
    };

    for (;;) {
        Event e;
        if (!yaml_parser_parse(&p.parser, &e.event)) {
            SyntaxError err;
            err.line = static_cast<uint32_t>(p.parser.problem_mark.line + 1);
            err.column = static_cast<uint32_t>(p.parser.problem_mark.column + 1);
            err.message = p.parser.problem ? p.parser.problem : "unreadable YAML";
            if (p.parser.context) err.message += std::string(" (") + p.parser.context + ")";
            error_ = err;
            roots_.clear();
            return;
        }
        const yaml_event_t& ev = e.event;
        switch (ev.type) {
            case YAML_STREAM_END_EVENT:
                return;
            case YAML_DOCUMENT_START_EVENT:
                anchors.clear();
                break;
            case YAML_SCALAR_EVENT: {
                NodeData* n = start(NodeType::Scalar, ev.start_mark);
                if (isPlainNull(ev)) {
                    n->type = NodeType::Null;
                } else {
                    n->scalar.assign(reinterpret_cast<const char*>(ev.data.scalar.value),
                                     ev.data.scalar.length);
                    n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
                }
                finish(n, anchorOf(ev.data.scalar.anchor));
                break;
            }
            case YAML_ALIAS_EVENT: {
                auto it = anchors.find(anchorOf(ev.data.alias.anchor));
                if (it == anchors.end()) {
                    error_ = SyntaxError{static_cast<uint32_t>(ev.start_mark.line + 1),
                                         static_cast<uint32_t>(ev.start_mark.column + 1),
                                         "unknown anchor *" + anchorOf(ev.data.alias.anchor)};
                    roots_.clear();
                    return;
                }
                finish(it->second, "");
                break;
            }
            case YAML_SEQUENCE_START_EVENT:
            case YAML_MAPPING_START_EVENT:
                if (open.size() >= kMaxDepth) {
                    error_ =
                        SyntaxError{static_cast<uint32_t>(ev.start_mark.line + 1),
                                    static_cast<uint32_t>(ev.start_mark.column + 1),
                                    "nested deeper than " + std::to_string(kMaxDepth) + " levels"};
                    roots_.clear();
                    return;
                }
                if (ev.type == YAML_MAPPING_START_EVENT) {
                    open.emplace_back(start(NodeType::Map, ev.start_mark),
                                      anchorOf(ev.data.mapping_start.anchor));
                    break;
                }
                open.emplace_back(start(NodeType::Sequence, ev.start_mark),
                                  anchorOf(ev.data.sequence_start.anchor));
                break;
            case YAML_SEQUENCE_END_EVENT:
            case YAML_MAPPING_END_EVENT: {
                auto [node, anchor] = std::move(open.back());
                open.pop_back();
                finish(node, anchor);
                break;
            }
            default:
                break;
        }
    }
}

}  // namespace palisade::yaml
