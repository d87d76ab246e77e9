// The YAML tree the readers of policies and configuration work on
// (agent/util/yaml_document.h): kinds, quoting, positions, aliases, errors.
#include "util/yaml_document.h"

#include <gtest/gtest.h>

#include <chrono>

namespace palisade::yaml {
namespace {

TEST(YamlDocument, MapsListsAndScalarsWithTheirPositions) {
    Documents d("kind: Policy\nspec:\n  toCIDR:\n    - 10.0.0.0/8\n    - \"192.0.2.1/32\"\n");
    ASSERT_FALSE(d.error());
    ASSERT_EQ(d.roots().size(), 1u);
    const Node root = d.roots()[0];
    ASSERT_TRUE(root.isMap());
    ASSERT_EQ(root.size(), 2u);
    EXPECT_EQ(root.key(0).scalar(), "kind");
    EXPECT_EQ(root.value(0).scalar(), "Policy");
    EXPECT_EQ(root.value(0).line(), 1u);
    EXPECT_EQ(root.value(0).column(), 7u);
    const Node list = root.value(1).value(0);
    ASSERT_TRUE(list.isSequence());
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list.item(0).scalar(), "10.0.0.0/8");
    EXPECT_FALSE(list.item(0).quoted());
    EXPECT_EQ(list.item(1).scalar(), "192.0.2.1/32");
    EXPECT_TRUE(list.item(1).quoted());
    EXPECT_EQ(list.item(1).line(), 5u);
    EXPECT_EQ(list.item(1).column(), 7u);
}

TEST(YamlDocument, NullIsEmptyTildeOrNullWrittenPlain) {
    Documents d("a:\nb: ~\nc: null\nd: NULL\ne: 'null'\nf: \"\"\n");
    ASSERT_FALSE(d.error());
    const Node root = d.roots()[0];
    ASSERT_EQ(root.size(), 6u);
    for (size_t i = 0; i < 4; i++) EXPECT_TRUE(root.value(i).isNull()) << root.key(i).scalar();
    EXPECT_TRUE(root.value(4).isScalar());
    EXPECT_EQ(root.value(4).scalar(), "null");
    EXPECT_TRUE(root.value(5).isScalar());
    EXPECT_EQ(root.value(5).scalar(), "");
}

TEST(YamlDocument, DuplicateKeysAreKeptForTheReaderToReport) {
    Documents d("a: 1\na: 2\n");
    ASSERT_FALSE(d.error());
    ASSERT_EQ(d.roots()[0].size(), 2u);
    EXPECT_EQ(d.roots()[0].value(1).scalar(), "2");
    EXPECT_EQ(d.roots()[0].key(1).line(), 2u);
}

TEST(YamlDocument, AliasesShareTheAnchoredNode) {
    Documents d("web: &web [{port: 443}]\nalso: *web\n");
    ASSERT_FALSE(d.error());
    const Node root = d.roots()[0];
    ASSERT_TRUE(root.value(1).isSequence());
    EXPECT_EQ(root.value(1).item(0).value(0).scalar(), "443");
    EXPECT_EQ(root.value(1).line(), 1u) << "the alias is the anchored node";
}

TEST(YamlDocument, SeveralDocumentsAndAnEmptyText) {
    Documents d("a: 1\n---\n---\nb: 2\n");
    ASSERT_FALSE(d.error());
    ASSERT_EQ(d.roots().size(), 3u);
    EXPECT_TRUE(d.roots()[1].isNull());
    EXPECT_EQ(d.roots()[2].key(0).scalar(), "b");
    Documents empty("");
    EXPECT_FALSE(empty.error());
    EXPECT_TRUE(empty.roots().empty());
}

TEST(YamlDocument, SyntaxErrorsSayWhereAndLeaveNoDocument) {
    Documents d("ok: 1\n---\nkind: [a\nb: c\n");
    ASSERT_TRUE(d.error());
    EXPECT_EQ(d.error()->line, 4u);
    EXPECT_NE(d.error()->message.find("flow sequence"), std::string::npos) << d.error()->message;
    EXPECT_TRUE(d.roots().empty());

    Documents alias("a: *nowhere\n");
    ASSERT_TRUE(alias.error());
    EXPECT_EQ(alias.error()->line, 1u);
    EXPECT_TRUE(alias.roots().empty());
}

// libyaml's time grows with the square of the flow nesting: 100,000 "[" took
// minutes, and stalled the agent's loop with it. 64 levels are refused at once.
TEST(YamlDocument, NestingIsBounded) {
    Documents ok(std::string(63, '[') + std::string(63, ']') + "\n");
    EXPECT_FALSE(ok.error()) << ok.error()->message;
    for (char open : {'[', '{'}) {
        const auto begin = std::chrono::steady_clock::now();
        Documents deep(std::string(100000, open) + "\n");
        ASSERT_TRUE(deep.error());
        EXPECT_EQ(deep.error()->message, "nested deeper than 64 levels");
        EXPECT_EQ(deep.error()->column, 65u);
        EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(5));
        EXPECT_TRUE(deep.roots().empty());
    }
}

TEST(YamlDocument, AbsentNodeIsNull) {
    const Node none;
    EXPECT_TRUE(none.isNull());
    EXPECT_EQ(none.scalar(), "");
    EXPECT_EQ(none.size(), 0u);
    EXPECT_EQ(none.line(), 0u);
}

}  // namespace
}  // namespace palisade::yaml
